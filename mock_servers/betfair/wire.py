"""The Betfair mock's wire helpers: line ends, clocks, status messages, a corrupted change."""

from __future__ import annotations

import base64
import logging
import time
from typing import Any, Final

import orjson

logger = logging.getLogger("marketstreams.mock.betfair")


CRLF: Final = b"\r\n"


def now_ms() -> int:
    return int(time.time() * 1000)


def clock(seq: int) -> str:
    return base64.b64encode(seq.to_bytes(8, "big")).decode()


def parse_clock(token: object) -> int | None:
    if not isinstance(token, str):
        return None
    try:
        raw = base64.b64decode(token, validate=True)
    except ValueError:
        return None
    return int.from_bytes(raw, "big") if len(raw) == 8 else None


def corrupted(op: str, change: dict[str, Any]) -> dict[str, Any] | None:
    """``change`` with an entry no cache can apply put first (None when it has no runners)."""
    if op == "mcm":
        rcs = change.get("rc")
        if not rcs:
            return None
        return dict(change, rc=[{"id": rcs[0]["id"], "spn": "abc"}, *rcs])
    orcs = change.get("orc")
    if not orcs:
        return None
    return dict(change, orc=[{"id": orcs[0]["id"], "mb": [[1.5]]}, *orcs])


def status_line(
    rid: Any,
    code: str,
    error: str | None = None,
    message: str | None = None,
    closed: bool = False,
) -> bytes:
    status: dict[str, Any] = {"op": "status", "statusCode": code, "connectionClosed": closed}
    if rid is not None:
        status["id"] = rid
    if error is not None:
        status["errorCode"] = error
        status["errorMessage"] = message or error
    return orjson.dumps(status) + CRLF
