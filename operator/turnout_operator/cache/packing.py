"""Compressed JSON for what the operator keeps of every Router and reads rarely.

The operator holds a few documents per Router for its whole life (the last seen
body of each child object, the child objects last built, the version row in
use): with 1,000 Routers, tens of MB as Python dicts. Kept as compact JSON
compressed with zlib at its fastest level, against a preset dictionary per
family of documents (one per kind of object), they take a few hundred bytes
each: the documents of one family are built by the same code and differ in
names, numbers and hashes, so the family's first document (of some size), used
as the dictionary, already holds most of every later one. Packing or unpacking one
takes tens of microseconds, about what parsing its JSON takes.

A family's dictionary is fixed by its first document of `MIN_DICTIONARY` bytes or
more and never changes, so whatever was packed unpacks with the dictionary it was
packed with. A first document unlike the ones that follow only makes the later
ones compress less.

Pure: no I/O.
"""

from __future__ import annotations

import json
import zlib
from typing import Any, Final

LEVEL: Final = 1
"""zlib's fastest level: within a few percent of the best size for these documents."""

WINDOW: Final = 32 * 1024
"""zlib reads at most this many bytes of a preset dictionary (its window), the last ones."""

MIN_DICTIONARY: Final = 256
"""Bytes of compact JSON a document needs to become its family's dictionary: a first
document that is nearly empty (a new Router's status) would help no later one."""

_PLAIN: Final = b"\x00"
_WITH_DICTIONARY: Final = b"\x01"


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class Packer:
    """Packs JSON values; each family of documents is compressed against its own dictionary.

    A packed value starts with one byte saying whether it was compressed against the
    family's dictionary (set by the first document of at least `MIN_DICTIONARY` bytes)
    or, before the family had one, without.
    """

    def __init__(self) -> None:
        self._dictionaries: dict[str, bytes] = {}

    def pack(self, family: str, value: Any) -> bytes:
        raw = dumps(value)
        dictionary = self._dictionaries.get(family)
        if dictionary is None and len(raw) >= MIN_DICTIONARY:
            dictionary = self._dictionaries.setdefault(family, raw[-WINDOW:])
        if dictionary is None:
            return _PLAIN + zlib.compress(raw, LEVEL)
        packer = zlib.compressobj(LEVEL, zdict=dictionary)
        return _WITH_DICTIONARY + packer.compress(raw) + packer.flush()

    def unpack(self, family: str, packed: bytes) -> Any:
        """The value packed (fresh objects on every call: a caller may change them)."""
        body = memoryview(packed)[1:]
        if packed[:1] == _PLAIN:
            return json.loads(zlib.decompress(body))
        unpacker = zlib.decompressobj(zdict=self._dictionaries[family])
        return json.loads(unpacker.decompress(body) + unpacker.flush())

    def __len__(self) -> int:
        """The number of families with a dictionary (each at most `WINDOW` bytes)."""
        return len(self._dictionaries)
