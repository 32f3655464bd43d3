"""The Prometheus text exposition (format 0.0.4): the one renderer of both metrics modules."""

from __future__ import annotations

from typing import Any

__all__ = ["Exposition", "escape", "labels", "number"]


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


class Exposition:
    """Metric families in the text format: each family's HELP and TYPE once, then its samples
    together, in the order the families were first added. ``prefix`` starts every name."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.families: dict[str, list[str]] = {}

    def _family(self, name: str, kind: str, help_text: str) -> list[str]:
        lines = self.families.get(name)
        if lines is None:
            lines = self.families[name] = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        return lines

    def add(
        self,
        name: str,
        kind: str,
        help_text: str,
        value: Any,
        labels_: dict[str, str] | None = None,
    ) -> None:
        """One sample of a counter or gauge."""
        name = self.prefix + name
        lines = self._family(name, kind, help_text)
        lines.append(f"{name}{labels(labels_ or {})} {number(value)}")

    def histogram(
        self, name: str, help_text: str, hist: dict[str, Any], labels_: dict[str, str] | None = None
    ) -> None:
        """A histogram from ``{"buckets": [(upper bound, cumulative count)...], "sum", "count"}``
        (an infinite bound may be given as ``float("inf")`` or ``"+Inf"``)."""
        name = self.prefix + name
        lab = labels_ or {}
        lines = self._family(name, "histogram", help_text)
        for bound, count in hist["buckets"]:
            if isinstance(bound, str):
                le = bound
            else:
                le = "+Inf" if bound == float("inf") else repr(float(bound))
            lines.append(f"{name}_bucket{labels({**lab, 'le': le})} {count}")
        lines.append(f"{name}_sum{labels(lab)} {number(float(hist['sum']))}")
        lines.append(f"{name}_count{labels(lab)} {hist['count']}")

    def text(self) -> str:
        return "\n".join(line for lines in self.families.values() for line in lines) + "\n"
