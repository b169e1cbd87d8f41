"""Whether a child object on the server still says what the operator wants.

The reconciler runs often (every event, every resync); applying every child
each time would write to the API server for nothing and flood the audit log.
`differs` lets it apply only when the object is missing or something it sets
has another value. The object on the server carries much more than was applied
(status, managedFields, fields the API server fills in by defaulting), so the
comparison asks only whether the desired object is contained in the actual one:
maps by key (extra keys on the server are ignored), lists element by element
with the same length, scalars by value.

Values the API server rewrites are compared by meaning where that is cheap:

* resource quantities under `requests`/`limits`, `sizeLimit` and a metric
  target's `value`/`averageValue` are compared as numbers ("1000m" is "1",
  "0.5" is "500m", "1024Mi" is "1Gi", 1 is "1");
* an integer and a string of the same digits are equal (int-or-string fields
  such as ports are stored as given, but a caller may build either);
* an empty list and an absent list are equal (the server drops empty lists);
* 1 and 1.0 are equal, but True is neither 1 nor "true".

Everything else errs towards "differs", because a needless apply is harmless
while a missed drift leaves an object wrong. Known cases:

* an empty map in `desired` (`emptyDir: {}`) differs from an absent one, since
  for some fields the empty map is the whole meaning;
* a list the server appends to (or reorders) always differs; nothing the
  builders emit is such a list;
* `actual` must be the wire form (camelCase keys), as `kubectl get -o json`, the
  dynamic client or `ApiClient.sanitize_for_serialization` give it, not the
  typed client's `to_dict()`. Its apiVersion/kind are compared only when present,
  because items of a list response lack them.

Pure: no I/O (held by an import contract).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final

_QUANTITY_RE: Final = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(?P<binary>Ki|Mi|Gi|Ti|Pi|Ei)|[eE](?P<exponent>[+-]?[0-9]+)|(?P<decimal>[numkMGTPE]?))$"
)
_BINARY: Final = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL: Final = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_QUANTITY_PARENTS: Final = frozenset({"requests", "limits"})
_QUANTITY_KEYS: Final = frozenset({"sizeLimit"})
_METRIC_TARGET_KEYS: Final = frozenset({"value", "averageValue"})
# Identify the object's type, not its content; absent from items of list responses.
_TYPE_KEYS: Final = frozenset({"apiVersion", "kind"})


def parse_quantity(text: str) -> Fraction | None:
    """The exact value of a Kubernetes quantity ("250m", "1Gi", "1e3"), or None if not one."""
    match = _QUANTITY_RE.match(text)
    if match is None:
        return None
    number = Fraction(Decimal(match["number"]))
    if match["binary"] is not None:
        return number * Fraction(1024) ** _BINARY[match["binary"]]
    if match["exponent"] is not None:
        return number * Fraction(10) ** int(match["exponent"])
    return number * Fraction(10) ** _DECIMAL[match["decimal"]]


def differs(desired: Mapping[str, Any], actual: Mapping[str, Any] | None) -> bool:
    """True when `actual` is missing or a field of `desired` has another value in it."""
    if actual is None:
        return True
    return any(
        _differs(value, actual.get(key), (key,))
        for key, value in desired.items()
        if not (key in _TYPE_KEYS and key not in actual)
    )


def _is_quantity(path: tuple[str | int, ...]) -> bool:
    key = path[-1]
    parent = path[-2] if len(path) > 1 else None
    return (
        parent in _QUANTITY_PARENTS
        or key in _QUANTITY_KEYS
        or (parent == "target" and key in _METRIC_TARGET_KEYS)
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _differs(want: Any, have: Any, path: tuple[str | int, ...]) -> bool:
    if isinstance(want, Mapping):
        if not isinstance(have, Mapping):
            return True
        return any(_differs(value, have.get(key), (*path, key)) for key, value in want.items())
    if isinstance(want, Sequence) and not isinstance(want, str):
        if have is None:
            return len(want) > 0
        if not isinstance(have, Sequence) or isinstance(have, str) or len(have) != len(want):
            return True
        return any(_differs(value, have[index], (*path, index)) for index, value in enumerate(want))
    return _scalar_differs(want, have, path)


def _scalar_differs(want: Any, have: Any, path: tuple[str | int, ...]) -> bool:
    if want is None or have is None:
        return want is not have
    if isinstance(want, bool) or isinstance(have, bool):
        return not (isinstance(want, bool) and isinstance(have, bool) and want == have)
    if (
        _is_quantity(path)
        and isinstance(want, str | int | float)
        and isinstance(have, str | int | float)
    ):
        want_quantity = parse_quantity(str(want))
        have_quantity = parse_quantity(str(have))
        if want_quantity is not None and have_quantity is not None:
            return want_quantity != have_quantity
    if _is_number(want) and _is_number(have):
        return bool(want != have)
    if isinstance(want, int) and isinstance(have, str):
        return str(want) != have
    if isinstance(want, str) and isinstance(have, int):
        return want != str(have)
    return bool(type(want) is not type(have) or want != have)
