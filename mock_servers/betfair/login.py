"""The Betfair mock's certificate login and keep-alive endpoints (HTTPS, aiohttp)."""

from __future__ import annotations

import itertools
import ssl
from typing import Protocol

from aiohttp import web


class Accounts(Protocol):
    """What the endpoints check and change: the mock server's accounts and counters."""

    app_keys: set[str]
    users: dict[str, str]
    sessions: set[str]
    fail_logins: int  # the next N certificate logins answer HTTP 503
    login_attempts: int


class LoginEndpoints:
    """``POST /api/certlogin`` (a new session token per login) and ``/api/keepAlive``."""

    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._session_ids = itertools.count(1)

    async def start(self, host: str, ssl_context: ssl.SSLContext) -> int:
        """Listen on ``host``, a free port (returned)."""
        app = web.Application()
        app.router.add_post("/api/certlogin", self._certlogin)
        app.router.add_route("*", "/api/keepAlive", self._keepalive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, 0, ssl_context=ssl_context)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _certlogin(self, request: web.Request) -> web.Response:
        accounts = self.accounts
        accounts.login_attempts += 1
        if accounts.fail_logins > 0:
            accounts.fail_logins -= 1
            return web.json_response({"error": "mock outage"}, status=503)
        form = await request.post()
        app_key = request.headers.get("X-Application", "")
        username, password = form.get("username"), form.get("password")
        if app_key not in accounts.app_keys:
            return web.json_response({"loginStatus": "INVALID_APP_KEY"})
        if not isinstance(username, str) or accounts.users.get(username) != password:
            return web.json_response({"loginStatus": "INVALID_USERNAME_OR_PASSWORD"})
        token = f"mock-session-{next(self._session_ids)}"
        accounts.sessions.add(token)
        return web.json_response({"sessionToken": token, "loginStatus": "SUCCESS"})

    async def _keepalive(self, request: web.Request) -> web.Response:
        token = request.headers.get("X-Authentication", "")
        if token in self.accounts.sessions:
            return web.json_response(
                {
                    "token": token,
                    "product": request.headers.get("X-Application", ""),
                    "status": "SUCCESS",
                    "error": "",
                }
            )
        return web.json_response(
            {"token": "", "product": "", "status": "FAIL", "error": "NO_SESSION"}
        )
