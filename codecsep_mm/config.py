"""Strict construction of frozen config dataclasses from JSON/YAML dictionaries."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

from codecsep_mm.errors import ConfigError

T = TypeVar("T")


def from_dict(cls: type[T], data: dict[str, Any], what: str) -> T:
    """``cls(**data)``, but an unknown key is a :class:`ConfigError` that lists the valid ones."""
    valid = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ConfigError(f"unknown {what} keys {unknown}; valid keys: {valid}")
    return cls(**data)
