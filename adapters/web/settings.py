"""The web face's own settings: where the one HTTP server listens and who may read it."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from adapters.config import ConfigError, secret_from

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


@dataclass(frozen=True)
class WebSettings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    # Set by the operator (not the default): a busy port is then an error, not a shrug.
    port_chosen: bool = False
    token: str | None = field(default=None, repr=False)
    trusted_proxy_header: str | None = None
    # /metrics on a port of its own (for a scraper on another network), else None.
    metrics_port: int | None = None
    enabled: bool = True

    @property
    def loopback_only(self) -> bool:
        return is_loopback(self.host)

    @property
    def needs_login(self) -> bool:
        """Beyond loopback, every page asks who is reading (token or proxy header)."""
        return not self.loopback_only


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def web_settings(environ: Mapping[str, str]) -> WebSettings:
    """The web settings; raises ConfigError with the fix for anything unusable."""
    enabled = environ.get("INCIDENT_BOT_HTTP_PORT", "").strip().lower() not in ("off", "none")
    host = environ.get("INCIDENT_BOT_HTTP_HOST", DEFAULT_HOST).strip() or DEFAULT_HOST
    port_text = environ.get("INCIDENT_BOT_HTTP_PORT", "").strip()
    port = (
        DEFAULT_PORT if not port_text or not enabled else _port("INCIDENT_BOT_HTTP_PORT", port_text)
    )
    metrics_text = environ.get("INCIDENT_BOT_METRICS_PORT", "").strip()
    metrics_port = _port("INCIDENT_BOT_METRICS_PORT", metrics_text) if metrics_text else None
    token = secret_from(environ, "INCIDENT_BOT_WEB_TOKEN")
    if token is not None and len(token) < 16:
        raise ConfigError(
            "INCIDENT_BOT_WEB_TOKEN is shorter than 16 characters; use a long random one, "
            "e.g. the output of `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`."
        )
    proxy_header = environ.get("INCIDENT_BOT_WEB_TRUSTED_PROXY_HEADER", "").strip() or None
    settings = WebSettings(
        host=host,
        port=port,
        port_chosen=bool(port_text),
        token=token,
        trusted_proxy_header=proxy_header,
        metrics_port=metrics_port,
        enabled=enabled,
    )
    if enabled and settings.needs_login and token is None and proxy_header is None:
        raise ConfigError(
            f"INCIDENT_BOT_HTTP_HOST is {host}, beyond loopback, so the incident pages need "
            "a login: set INCIDENT_BOT_WEB_TOKEN (or INCIDENT_BOT_WEB_TOKEN_FILE), or "
            "INCIDENT_BOT_WEB_TRUSTED_PROXY_HEADER naming the header your authenticating "
            "proxy sets (e.g. X-Forwarded-User). Or keep the default 127.0.0.1."
        )
    return settings


def _port(name: str, text: str) -> int:
    try:
        port = int(text)
        if not 0 <= port < 65536:
            raise ValueError
    except ValueError:
        switch_off = ", or `off` to serve no web pages" if name == "INCIDENT_BOT_HTTP_PORT" else ""
        raise ConfigError(
            f"{name}: `{text}` is not a port number; use 1 to 65535 (0: any free port)"
            f"{switch_off}."
        ) from None
    return port
