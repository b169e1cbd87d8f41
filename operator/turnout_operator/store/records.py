"""The values the versions store takes and gives, free of any database type.

Callers (reconcile, the RouterVersion views) code against these frozen dataclasses
rather than ORM rows, so a row can never be changed by accident outside the store's
own transactions, and code that only reads versions needs no database to be tested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class RouterRef:
    """A Router custom resource as the store knows it.

    The Kubernetes ``uid`` is the identity: a Router deleted and created again under
    the same name is a new router with its own version numbers.
    """

    namespace: str
    name: str
    uid: str


class VersionStatus(StrEnum):
    """Where a router version stands; the values are what the ``status`` column holds."""

    PENDING = "pending"
    """Recorded; not (yet) rolled out."""
    DEPLOYED = "deployed"
    """Serving. At most one version of a router is deployed at a time."""
    FAILED = "failed"
    """Its rollout failed; ``error`` says why."""
    UNDEPLOYED = "undeployed"
    """Was deployed or pending, then replaced, suspended or its Router deleted."""


@dataclass(frozen=True)
class VersionDraft:
    """What a new version is made of, before it has a number."""

    config_hash: str
    """Hash of the effective router config; equal hashes mean the same version."""
    spec: dict[str, Any]
    """The Router spec the version was made from (routes, rules, resources, ...)."""
    experiment_engine: dict[str, Any]
    """Engine type, plugin image, liveness period, the experiment config as given and
    the runner config the manager returned: enough to redeploy without the plugin."""
    router_image: str


@dataclass(frozen=True)
class VersionRecord:
    """One stored router version."""

    number: int
    """1, 2, 3, ... per router, without gaps."""
    status: VersionStatus
    error: str | None
    """Why the rollout failed; set only while ``status`` is failed."""
    config_hash: str
    spec: dict[str, Any]
    experiment_engine: dict[str, Any]
    router_image: str
    created_at: datetime
    updated_at: datetime


def check_storable(value: Any, path: str = "$") -> None:
    """Raise ``ValueError`` if ``value`` cannot round-trip through a JSONB column unchanged.

    JSONB rejects the NUL character and lone surrogates in strings and keys, JSON has
    no NaN or infinity, and some whole floats past 2**53 would come back as a
    different int.
    Failing here names the offending path instead of a driver error deep inside a
    transaction, or a version that reads back different from what was recorded.
    """
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{path}: JSON strings stored in Postgres cannot contain NUL")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate, which no UTF-8 text can carry
            raise ValueError(f"{path}: the string is not valid Unicode text") from None
    elif isinstance(value, bool) or value is None or isinstance(value, int):
        return
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: {value} is not a JSON number")
        # JSONB keeps numbers as decimals and prints whole ones without a fraction, so
        # a whole float comes back as an int: equal, unless the float is beyond 2**53
        # and its shortest decimal spelling is not its exact value (4.180459390389019e16).
        if value.is_integer() and int(Decimal(repr(value))) != value:
            raise ValueError(
                f"{path}: {value!r} would come back as {int(Decimal(repr(value)))}; "
                "store it as an integer or a string"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{path}: JSON object keys must be strings, got {key!r}")
            check_storable(key, f"{path}.<key>")
            check_storable(item, f"{path}.{key}")
    elif isinstance(value, list):  # a tuple would come back as a list, unequal
        for index, item in enumerate(value):
            check_storable(item, f"{path}[{index}]")
    else:
        raise ValueError(f"{path}: {type(value).__name__} is not a JSON value")
