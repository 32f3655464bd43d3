"""Every exception marketstreams raises on purpose derives from :class:`MarketStreamsError`::

MarketStreamsError
├── ConfigurationError            bad arguments, unknown market, bad filter
│   └── TLSVerificationError      a venue's certificate is not trusted (host attached)
├── ProtocolError                 a venue sent something we cannot apply (frame attached)
│   ├── MalformedFrameError       not JSON, or JSON of the wrong shape
│   ├── FrameTooLargeError        over the configured frame size limit
│   └── SequenceGapError          a sequenced venue skipped or repeated a number
├── VenueError                    the venue answered with an error status / error frame
│   ├── AuthenticationError       credentials refused: fatal, never retried
│   └── SubscriptionError         a subscription was refused
├── ConnectionLostError           (also ConnectionError) the connection dropped or went silent
├── ReplayError                   a replay source failed (path and line attached)
├── BrokenStream                  (sources) a source's compressed bytes are corrupt or cut
└── RequestError                  (proxy.protocol; also ValueError) a bad proxy client request
"""

from __future__ import annotations

FRAME_EXCERPT = 200


def excerpt(frame: object, limit: int = FRAME_EXCERPT) -> str:
    """A short, printable excerpt of a frame for error messages and logs."""
    if isinstance(frame, bytes | bytearray | memoryview):
        text = bytes(frame[: limit + 1]).decode("utf-8", "replace")
    else:
        text = str(frame)
    return text if len(text) <= limit else text[:limit] + "..."


class MarketStreamsError(Exception):
    """Root of every exception marketstreams raises on purpose."""


class ConfigurationError(MarketStreamsError, ValueError):
    """Bad arguments: an unknown market, a malformed filter, an impossible option."""


class TLSVerificationError(ConfigurationError):
    """A venue's TLS certificate could not be verified: a set-up error (a mock or private
    venue's CA not trusted), never retried. ``host`` is ``host:port``, ``reason`` the check that
    failed."""

    def __init__(self, host: str, reason: str) -> None:
        self.host = host
        self.reason = reason
        super().__init__(f"cannot verify the TLS certificate of {host}: {reason}")

    def __reduce__(self) -> tuple[type[TLSVerificationError], tuple[str, str]]:
        return (type(self), (self.host, self.reason))


class ProtocolError(MarketStreamsError):
    """A venue sent something that cannot be applied. ``frame`` holds an excerpt, truncated to
    :data:`FRAME_EXCERPT` characters and never holding a credential."""

    def __init__(self, message: str, frame: object = None) -> None:
        self.frame = None if frame is None else excerpt(frame)
        super().__init__(message if frame is None else f"{message}: {self.frame}")


class MalformedFrameError(ProtocolError):
    """The frame is not valid JSON, or not of the shape the venue documents."""


class FrameTooLargeError(ProtocolError):
    """The frame is larger than the configured limit."""


class SequenceGapError(ProtocolError):
    """A sequenced stream skipped (or repeated) a number: the book is out of sync."""

    def __init__(self, expected: int, received: int, frame: object = None) -> None:
        self.expected = expected
        self.received = received
        super().__init__(f"sequence gap: expected {expected}, received {received}", frame)


class VenueError(MarketStreamsError):
    """The venue answered with an error. ``code`` is the venue's own error code."""

    def __init__(self, code: str, message: str = "") -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}" if message else code)


class AuthenticationError(VenueError):
    """The venue refused the credentials. Fatal: retrying would not help."""


class SubscriptionError(VenueError):
    """The venue refused a subscription."""


class ConnectionLostError(MarketStreamsError, ConnectionError):
    """The connection closed, failed or went silent. Feeds retry these with backoff."""


class SilenceError(ConnectionLostError):
    """Nothing arrived for too long (no frame, no pong, no heartbeat). Counted as a silence."""


class ReplayError(MarketStreamsError):
    """A replay source failed. ``path`` and ``line`` (1-based, when known) say where."""

    def __init__(self, path: str, line: int | None, cause: str) -> None:
        self.path = path
        self.line = line
        self.cause = cause
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {cause}")

    def __reduce__(self) -> tuple[type[ReplayError], tuple[str, int | None, str]]:
        return (type(self), (self.path, self.line, self.cause))
