"""Reading the router config file: YAML text in, a validated RouterConfig or one clear error out.

A router pod with a bad file must fail at start, with a message that names
the field, rather than serve with half a config. Pure: it takes the text, so
the unit tests need no files.
"""

from __future__ import annotations

import yaml
from pydantic import ValidationError

from turnout_router.config import RouterConfig, load_router_config


class ConfigFileError(Exception):
    """The router config file cannot be used; the message says where and why."""


def parse_router_config(text: str, source: str) -> RouterConfig:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigFileError(f"{source}: not YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigFileError(f"{source}: expected a mapping of router config fields")
    try:
        return load_router_config(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(file)'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigFileError(f"{source}: invalid router config: {problems}") from None
