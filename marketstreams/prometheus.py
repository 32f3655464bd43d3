"""Prometheus text exposition helpers shared by the metrics modules (format 0.0.4)."""

from __future__ import annotations

from typing import Any

__all__ = ["escape", "labels", "number"]


def escape(value: str) -> str:
    """A label value with backslashes, newlines and quotes escaped."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def labels(values: dict[str, str]) -> str:
    """``{k="v",...}``, or nothing for no labels."""
    if not values:
        return ""
    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in values.items()) + "}"


def number(value: Any) -> str:
    """A sample value: None is NaN, booleans are 0/1, infinities are +Inf/-Inf."""
    if value is None:
        return "NaN"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if value == float("inf"):
            return "+Inf"
        if value == float("-inf"):
            return "-Inf"
        return repr(value)
    return str(value)
