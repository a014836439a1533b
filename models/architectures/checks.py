"""The checks a config field gets, each with a message that names the field."""

from __future__ import annotations

from typing import Any


def check_is_int(name: str, value: Any) -> None:
    """ValueError unless ``value`` is an int (and not a bool)."""
    # bool is a subclass of int; `True` as a channel count is a bug, not a 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {type(value).__name__}")


def check_int(name: str, value: Any, low: int, high: int) -> None:
    """ValueError unless ``value`` is an int in ``low..high``."""
    check_is_int(name, value)
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")


def check_str(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    """ValueError unless ``value`` is one of ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def as_int_tuple(name: str, value: Any, max_layers: int, max_width: int) -> tuple[int, ...]:
    """``value`` (a list from JSON, or a tuple) as a tuple of 1..max_layers widths."""
    if not isinstance(value, list | tuple) or not 1 <= len(value) <= max_layers:
        raise ValueError(f"{name} must be a list of 1 to {max_layers} layer widths")
    for width in value:
        check_int(f"{name} entry", width, 1, max_width)
    return tuple(value)
