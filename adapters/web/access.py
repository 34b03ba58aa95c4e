"""Who may read the pages, and the headers every response carries.

On loopback (the default bind) the pages are open: whoever can reach 127.0.0.1 already
has the machine. Beyond it, a reader proves themselves with the operator's token (a login
form that sets a signed cookie, or `Authorization: Bearer TOKEN`), or an authenticating
reverse proxy vouches for them with a header the operator names.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable
from http.cookies import SimpleCookie

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.web.settings import WebSettings

COOKIE = "incident_bot_session"
SESSION_LIFETIME = 12 * 3600  # a working day and a bit; then the form again
# Paths that prove themselves another way, or must answer probes without a login.
OPEN_PATHS = ("/healthz", "/readyz", "/login", "/static/", "/slack/", "/hooks/")

PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
# A draft's HTML page is the document a team publishes: its CSS is inline, it runs
# nothing, and only our own incident page may frame it (the preview).
DRAFT_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox"
)


class SessionSigner:
    """Cookies that say "logged in until T", signed with a key derived from the token,
    so changing the token logs everyone out and the cookie never holds the token."""

    def __init__(self, token: str) -> None:
        self._key = hashlib.sha256(b"incident-bot web session\0" + token.encode()).digest()
        self._token = token.encode()

    def token_matches(self, offered: str) -> bool:
        return hmac.compare_digest(offered.encode(), self._token)

    def issue(self, now: float | None = None) -> str:
        until = str(int((now or time.time()) + SESSION_LIFETIME))
        return f"{until}.{self._sign(until)}"

    def valid(self, cookie: str, now: float | None = None) -> bool:
        until, _, signature = cookie.partition(".")
        if not until.isdigit() or not hmac.compare_digest(signature, self._sign(until)):
            return False
        return int(until) > (now or time.time())

    def _sign(self, text: str) -> str:
        digest = hmac.new(self._key, text.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _headers(scope: Scope) -> dict[str, str]:
    return {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in scope.get("headers", [])
    }


def reader_of(scope: Scope, settings: WebSettings, signer: SessionSigner | None) -> str | None:
    """Who is reading: a name, "token" or "local"; None when they must log in first."""
    if not settings.needs_login:
        return "local"
    headers = _headers(scope)
    if settings.trusted_proxy_header:
        user = headers.get(settings.trusted_proxy_header.lower(), "").strip()
        if user:
            return user
    if signer is not None:
        scheme, _, offered = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and offered and signer.token_matches(offered.strip()):
            return "token"
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header is no login, not a crash
            return None
        if COOKIE in cookie and signer.valid(cookie[COOKIE].value):
            return "token"
    return None


class AccessMiddleware:
    """Security headers on every response; a login in front of every page that needs one."""

    def __init__(
        self, app: ASGIApp, *, settings: WebSettings, open_paths: Iterable[str] = OPEN_PATHS
    ) -> None:
        self._app = app
        self._settings = settings
        self._signer = SessionSigner(settings.token) if settings.token else None
        self._open = tuple(open_paths)

    @property
    def signer(self) -> SessionSigner | None:
        return self._signer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        path: str = scope["path"]
        is_draft = path.endswith("/draft")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                policy = DRAFT_POLICY if is_draft else PAGE_POLICY
                for name, value in (
                    (b"content-security-policy", policy.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"SAMEORIGIN" if is_draft else b"DENY"),
                ):
                    if name not in present:
                        headers.append((name, value))
                message["headers"] = headers
            await send(message)

        if path.startswith(self._open) or scope.get("state", {}).get("open_listener"):
            await self._app(scope, receive, with_headers)
            return
        reader = reader_of(scope, self._settings, self._signer)
        if reader is None:
            await _refuse(scope, with_headers, login=self._signer is not None)
            return
        scope.setdefault("state", {})["reader"] = reader
        await self._app(scope, receive, with_headers)


async def _refuse(scope: Scope, send: Send, *, login: bool) -> None:
    accepts_html = "text/html" in _headers(scope).get("accept", "")
    if login and accepts_html and scope.get("method") == "GET":
        from urllib.parse import quote

        target = scope["path"] + (
            ("?" + scope["query_string"].decode()) if scope.get("query_string") else ""
        )
        location = f"/login?next={quote(target, safe='')}"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [(b"location", location.encode()), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})
        return
    body = b"Log in first: /login with the token, or send Authorization: Bearer TOKEN.\n"
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"www-authenticate", b'Bearer realm="incident-bot"'),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
