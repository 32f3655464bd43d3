"""The Luno mock's connections: one per websocket client, the frames waiting for it."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from typing import Final

from websockets.asyncio.server import ServerConnection

logger = logging.getLogger("marketstreams.mock.luno")


STREAM_PATH: Final = "/api/1/stream/"


_MAX_BACKLOG: Final = 100_000  # frames queued for one client before we drop it as too slow


ERROR_CLOSE_CODE: Final = 1008  # policy violation: after every Luno-style error frame


# --- connections and the server -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CloseRequest:
    code: int
    reason: str


class Client:
    """One websocket connection and the frames waiting for it."""

    __slots__ = ("closing", "done", "last_sent", "pair", "queue", "silent_until", "skip_next",
                 "wake", "ws")  # fmt: skip

    def __init__(self, ws: ServerConnection, pair: str, now: float) -> None:
        self.ws = ws
        self.pair = pair
        self.queue: deque[bytes | CloseRequest] = deque()
        self.wake = asyncio.Event()
        self.done = asyncio.Event()  # set when the handler has finished with the connection
        self.closing = False
        self.skip_next = False
        self.silent_until = 0.0
        self.last_sent = now

    def push(self, item: bytes | CloseRequest, *, front: bool = False) -> None:
        if self.closing:
            return
        if len(self.queue) >= _MAX_BACKLOG:
            logger.warning(
                "luno mock: dropping a %s client %d frames behind", self.pair, _MAX_BACKLOG
            )
            self.queue.clear()
            item = CloseRequest(ERROR_CLOSE_CODE, "client too slow")
        if front:
            self.queue.appendleft(item)
        else:
            self.queue.append(item)
        if isinstance(item, CloseRequest):
            self.closing = True
        self.wake.set()

    def push_update(self, data: bytes, now: float) -> None:
        if self.skip_next and not self.closing:
            self.skip_next = False
            return
        if now < self.silent_until:
            return  # lost to this client for good
        self.push(data)


def pair_from_path(path: str) -> str | None:
    path = path.partition("?")[0]
    if not path.startswith(STREAM_PATH):
        return None
    pair = path[len(STREAM_PATH) :]
    return pair if pair and "/" not in pair else None
