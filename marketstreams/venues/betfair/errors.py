"""Betfair-specific exceptions, all inside the marketstreams tree::

MarketStreamsError
├── ConfigurationError
│   └── BetfairConfigurationError     a bad filter, field or range in a subscription
└── VenueError
    ├── BetfairStatusError            status FAILURE with a retryable errorCode
    ├── AuthenticationError
    │   ├── BetfairAuthenticationError  NO_APP_KEY, INVALID_APP_KEY, NOT_AUTHORIZED: fatal
    │   │   └── SessionExpiredError     NO_SESSION, INVALID_SESSION_INFORMATION: log in again
    │   └── LoginError                  the certificate login or keep-alive was refused
    └── SubscriptionError
        └── BetfairSubscriptionError    INVALID_INPUT, SUBSCRIPTION_LIMIT_EXCEEDED,
                                        INVALID_REQUEST: fatal
"""

from __future__ import annotations

from enum import StrEnum

from ...exceptions import AuthenticationError, ConfigurationError, SubscriptionError, VenueError

__all__ = [
    "BetfairAuthenticationError",
    "BetfairConfigurationError",
    "BetfairStatusError",
    "BetfairSubscriptionError",
    "ErrorAction",
    "LoginError",
    "SessionExpiredError",
    "classify_error",
    "status_error",
]


class ErrorAction(StrEnum):
    """What a client should do about a status error code."""

    FATAL = "fatal"  # retrying cannot help: fix the app key, the filter or the code
    RELOGIN = "relogin"  # the session token is missing or expired: log in, then reconnect
    RETRY = "retry"  # transient: reconnect with backoff
    RESET_CLOCK = "reset_clock"  # the stored clock is unusable: resubscribe for a full image


_ACTIONS = {
    "NO_APP_KEY": ErrorAction.FATAL,
    "INVALID_APP_KEY": ErrorAction.FATAL,
    "NOT_AUTHORIZED": ErrorAction.FATAL,
    "INVALID_INPUT": ErrorAction.FATAL,
    "INVALID_REQUEST": ErrorAction.FATAL,
    "SUBSCRIPTION_LIMIT_EXCEEDED": ErrorAction.FATAL,
    "NO_SESSION": ErrorAction.RELOGIN,
    "INVALID_SESSION_INFORMATION": ErrorAction.RELOGIN,
    "INVALID_CLOCK": ErrorAction.RESET_CLOCK,
    "UNEXPECTED_ERROR": ErrorAction.RETRY,
    "TIMEOUT": ErrorAction.RETRY,
    "CONNECTION_FAILED": ErrorAction.RETRY,
    "MAX_CONNECTION_LIMIT_EXCEEDED": ErrorAction.RETRY,
    "TOO_MANY_REQUESTS": ErrorAction.RETRY,
}


def classify_error(code: str | None) -> ErrorAction:
    """Sort a status ``errorCode`` into fatal / re-login / retry / reset-clock.

    Unknown codes are retried: Betfair may add codes, and a retry with backoff is the safe
    default for anything not known to be permanent.
    """
    return _ACTIONS.get(code or "", ErrorAction.RETRY)


class _StatusMixin:
    """A status error: ``code`` (Betfair's errorCode), ``message`` (its errorMessage),
    ``connection_closed`` and ``action`` (see :func:`classify_error`); never a credential."""

    action: ErrorAction
    connection_closed: bool


class BetfairStatusError(VenueError, _StatusMixin):
    """A status FAILURE the feed retries (TIMEOUT, UNEXPECTED_ERROR, TOO_MANY_REQUESTS, ...)."""

    def __init__(self, code: str, message: str = "", connection_closed: bool = False) -> None:
        super().__init__(code, message)
        self.action = classify_error(code)
        self.connection_closed = connection_closed


class BetfairAuthenticationError(AuthenticationError, _StatusMixin):
    """The stream refused the app key (NO_APP_KEY, INVALID_APP_KEY, NOT_AUTHORIZED)."""

    def __init__(self, code: str, message: str = "", connection_closed: bool = True) -> None:
        super().__init__(code, message)
        self.action = classify_error(code)
        self.connection_closed = connection_closed


class SessionExpiredError(BetfairAuthenticationError):
    """The session token is missing or no longer valid: log in again (``betfair.login``).

    Fatal for a feed given a plain token; a feed given a ``login`` refreshes it and reconnects.
    """


class BetfairSubscriptionError(SubscriptionError, _StatusMixin):
    """The stream refused a subscription (INVALID_INPUT, SUBSCRIPTION_LIMIT_EXCEEDED, ...)."""

    def __init__(self, code: str, message: str = "", connection_closed: bool = False) -> None:
        super().__init__(code, message)
        self.action = classify_error(code)
        self.connection_closed = connection_closed


class LoginError(AuthenticationError):
    """The certificate login or keep-alive endpoint refused (``loginStatus`` / ``error``)."""


class BetfairConfigurationError(ConfigurationError):
    """A subscription argument is out of Betfair's documented range or unknown."""


def status_error(
    code: str | None, message: str | None = None, connection_closed: bool = False
) -> VenueError:
    """The exception for a status FAILURE with ``errorCode`` ``code``."""
    code = code or "UNKNOWN"
    text = message or ""
    if code in ("NO_SESSION", "INVALID_SESSION_INFORMATION"):
        return SessionExpiredError(code, text, connection_closed)
    if code in ("NO_APP_KEY", "INVALID_APP_KEY", "NOT_AUTHORIZED"):
        return BetfairAuthenticationError(code, text, connection_closed)
    if classify_error(code) is ErrorAction.FATAL:
        return BetfairSubscriptionError(code, text, connection_closed)
    return BetfairStatusError(code, text, connection_closed)
