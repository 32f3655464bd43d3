"""Betfair's certificate login and session keep-alive over aiohttp (no second library needed).

::

    session = await betfair.login("user", "password", "APPKEY", cert_file="client.crt",
                                  key_file="client.key")
    feed = betfair.Feed("APPKEY", session, [betfair.MarketSubscription(...)])

:func:`login` returns a :class:`BetfairSession`: its ``token`` is the session token, and a feed
given the session (instead of a plain token) logs in again by itself when the stream reports the
session expired. :meth:`BetfairSession.keep_alive` extends the session (Betfair sessions expire
after hours of inactivity); :meth:`BetfairSession.run_keep_alive` does it periodically.
The password, app key and token never appear in reprs, logs or exceptions.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

import aiohttp

from ...exceptions import ConfigurationError
from ...secret import Secret
from .errors import LoginError

__all__ = ["DEFAULT_IDENTITY_URL", "BetfairSession", "login", "session_for"]

logger = logging.getLogger("marketstreams.betfair.login")

DEFAULT_IDENTITY_URL = "https://identitysso-cert.betfair.com"


class BetfairSession:
    """A logged-in Betfair session (see the module docstring)."""

    def __init__(
        self,
        username: str,
        password: str | Secret,
        app_key: str | Secret,
        *,
        cert_file: str | None = None,
        key_file: str | None = None,
        url: str = DEFAULT_IDENTITY_URL,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.username = username
        self._password = password if isinstance(password, Secret) else Secret(password)
        self.app_key = app_key if isinstance(app_key, Secret) else Secret(app_key)
        self.url = url.rstrip("/")
        context = ssl_context or ssl.create_default_context()
        if cert_file is not None:
            context.load_cert_chain(cert_file, key_file)
        self._ssl = context
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._token: Secret | None = None
        self.logins = 0
        self.keep_alives = 0

    def __repr__(self) -> str:
        state = "logged in" if self._token else "logged out"
        return f"<BetfairSession {self.username} {state} {self.url}>"

    @property
    def logged_in(self) -> bool:
        """True once :meth:`login` has succeeded (the token may have expired since)."""
        return self._token is not None

    @property
    def token(self) -> Secret:
        """The session token (a :class:`~marketstreams.secret.Secret`); LoginError before login."""
        if self._token is None:
            raise LoginError("NOT_LOGGED_IN", "call login() first")
        return self._token

    async def _post(self, path: str, headers: dict[str, str], data: Any = None) -> dict[str, Any]:
        headers = {"Accept": "application/json", **headers}
        async with aiohttp.ClientSession(timeout=self._timeout) as http:
            try:
                async with http.post(
                    self.url + path, data=data, headers=headers, ssl=self._ssl
                ) as response:
                    if response.status >= 400:
                        raise LoginError("HTTP_ERROR", f"{path} answered HTTP {response.status}")
                    body = await response.json(content_type=None)
            except aiohttp.ClientError as exc:
                raise LoginError("CONNECTION_FAILED", f"{path}: {exc.__class__.__name__}") from None
            except (ValueError, TimeoutError):  # not JSON, or no answer in time
                raise LoginError("CONNECTION_FAILED", f"{path}: no usable answer") from None
        if not isinstance(body, dict):
            raise LoginError("UNEXPECTED_RESPONSE", f"{path} answered {type(body).__name__}")
        return body

    async def login(self) -> Secret:
        """Log in with the client certificate; returns (and keeps) the new session token."""
        body = await self._post(
            "/api/certlogin",
            {"X-Application": self.app_key.value},
            {"username": self.username, "password": self._password.value},
        )
        status = body.get("loginStatus")
        token = body.get("sessionToken")
        if status != "SUCCESS" or not isinstance(token, str):
            raise LoginError(str(status or "LOGIN_FAILED"), "certificate login refused")
        self._token = Secret(token)
        self.logins += 1
        logger.info("logged in as %s", self.username)
        return self._token

    async def keep_alive(self) -> None:
        """Extend the session; LoginError when Betfair no longer knows it."""
        body = await self._post(
            "/api/keepAlive",
            {"X-Application": self.app_key.value, "X-Authentication": self.token.value},
        )
        if body.get("status") != "SUCCESS":
            raise LoginError(str(body.get("error") or "KEEP_ALIVE_FAILED"), "keep-alive refused")
        self.keep_alives += 1

    async def run_keep_alive(self, interval: float = 15 * 60) -> None:
        """Call :meth:`keep_alive` every ``interval`` seconds (logging in again if it fails)
        until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.keep_alive()
            except LoginError as exc:
                logger.warning("keep-alive failed (%s); logging in again", exc.code)
                try:
                    await self.login()
                except LoginError as again:
                    if again.code not in TRANSIENT_LOGIN_CODES:
                        raise  # refused credentials: no retry fixes them
                    # A passing failure: the next round tries again.
                    logger.warning(
                        "login failed (%s); trying again in %.0f s", again.code, interval
                    )


TRANSIENT_LOGIN_CODES = frozenset({"CONNECTION_FAILED", "HTTP_ERROR", "UNEXPECTED_RESPONSE"})
"""Login failures worth retrying; any other code means Betfair refused the credentials."""


async def login(
    username: str,
    password: str | Secret,
    app_key: str | Secret,
    *,
    cert_file: str | None = None,
    key_file: str | None = None,
    url: str = DEFAULT_IDENTITY_URL,
    ssl_context: ssl.SSLContext | None = None,
) -> BetfairSession:
    """Certificate login (``identitysso-cert.betfair.com/api/certlogin``); returns the session.

    Raises :class:`~.errors.LoginError` (an AuthenticationError) when Betfair refuses.
    """
    session = BetfairSession(
        username,
        password,
        app_key,
        cert_file=cert_file,
        key_file=key_file,
        url=url,
        ssl_context=ssl_context,
    )
    await session.login()
    return session


def session_for(
    app_key: str | Secret,
    *,
    session_token: str | Secret | None = None,
    username: str | Secret | None = None,
    password: str | Secret | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
    identity_url: str = DEFAULT_IDENTITY_URL,
    ssl_context: ssl.SSLContext | None = None,
) -> Secret | BetfairSession:
    """What a :class:`~.feed.Feed` connects with, from the credentials a user configured: the
    session token when there is one, else a :class:`BetfairSession` that logs in (certificate
    login) when the feed first connects and again when the session expires. Raises
    :class:`~marketstreams.exceptions.ConfigurationError` naming what is missing or unreadable.
    ``ssl_context`` is the login's own (the client certificate is loaded into it): do not
    share it with the stream connection."""
    if session_token:
        return session_token if isinstance(session_token, Secret) else Secret(session_token)
    if username and password:
        user = username.value if isinstance(username, Secret) else username
        try:
            return BetfairSession(
                user,
                password,
                app_key,
                cert_file=cert_file,
                key_file=key_file,
                url=identity_url,
                ssl_context=ssl_context,
            )
        except (OSError, ssl.SSLError) as exc:  # (the paths are the user's; no secret in them)
            raise ConfigurationError(
                f"cannot load the client certificate {cert_file!r} / key {key_file!r}: "
                f"{getattr(exc, 'strerror', None) or exc}"
            ) from None
    raise ConfigurationError(
        "betfair needs a session token (BETFAIR_SESSION_TOKEN) or a certificate login "
        "(BETFAIR_USERNAME, BETFAIR_PASSWORD, and the client certificate and key files)"
    )
