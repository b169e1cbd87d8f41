"""Every worker's readiness, in one small shared file each worker can read.

The kubelet's readiness probe reaches whichever worker the kernel hands the
connection to, but the pod may only be ready when every worker is: a worker
whose plugin is down would send its share of traffic to the fallback route.
So each worker writes its own readiness into its slot of a file the parent
created (`mmap`, no system call per read), and answers the probe from all
slots. The parent marks the slot of a worker that died.

A slot is `SLOT_BYTES` long: one flag byte (1 ready, 0 not), a two-byte
length, then the detail text (UTF-8, cut to fit). The flag is written last,
so a reader may see a detail one update old but never a ready flag for a
worker that has not said so.
"""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import Final

SLOT_BYTES: Final = 256
_TEXT_MAX: Final = SLOT_BYTES - 3


class PodState:
    """The readiness slots of `workers` workers, backed by the file at `path`."""

    def __init__(self, path: Path, workers: int) -> None:
        self.workers = workers
        with path.open("r+b") as file:
            self._map = mmap.mmap(file.fileno(), workers * SLOT_BYTES)

    @staticmethod
    def create(path: Path, workers: int) -> PodState:
        """A new file, every worker not ready ("starting")."""
        path.write_bytes(b"\0" * (workers * SLOT_BYTES))
        state = PodState(path, workers)
        for index in range(workers):
            state.set(index, False, "starting")
        return state

    def set(self, index: int, ready: bool, detail: str) -> None:
        base = index * SLOT_BYTES
        text = detail.encode()[:_TEXT_MAX]
        self._map[base] = 0
        self._map[base + 1 : base + 3] = len(text).to_bytes(2, "big")
        self._map[base + 3 : base + 3 + len(text)] = text
        self._map[base] = 1 if ready else 0

    def get(self, index: int) -> tuple[bool, str]:
        base = index * SLOT_BYTES
        ready = self._map[base] == 1
        length = int.from_bytes(self._map[base + 1 : base + 3], "big")
        detail = self._map[base + 3 : base + 3 + min(length, _TEXT_MAX)].decode(errors="replace")
        return ready, detail

    def first_unready(self) -> tuple[int, str] | None:
        """The lowest-numbered worker that is not ready and why, or None when all are."""
        for index in range(self.workers):
            ready, detail = self.get(index)
            if not ready:
                return index, detail
        return None

    def close(self) -> None:
        self._map.close()
