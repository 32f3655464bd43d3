"""Read cryptofeed raw captures (``BITMEX.ws.1.0``) so recorded frames replay through the live path.

Format, one line per frame: ``<endpoint> <-> <ts>`` (connect), ``<endpoint> <- <ts>: <json sent>``,
``<ts>: <json received>``. Only received frames are yielded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

__all__ = ["iter_received"]


def iter_received(path: str | Path) -> Iterator[tuple[float, str]]:
    """``(receive time, frame text)`` of every received frame, in file order."""
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            head, sep, body = line.partition(": ")
            if not sep or " " in head:  # connect and sent lines name their endpoint
                continue
            try:
                received = float(head)
            except ValueError:
                continue
            yield received, body.rstrip("\r\n")
