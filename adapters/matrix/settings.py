"""Matrix settings, read from the environment `incident-bot run` was started with.

Secrets (the access token, the password) are kept out of `repr` so a logged or
printed settings object never shows them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from adapters.config import ConfigError, parse_boolean, secret_from
from bot.reminders import DURATION_FORMS, parse_duration

DEFAULT_STORE = Path("matrix-store")
DEFAULT_BACKFILL_LIMIT = 10_000
# Renewed every third of it: a standby takes over within about 1⅓ of it after the
# syncing replica dies.
DEFAULT_LEASE = 15.0
MIN_LEASE = 3.0
_USER_ID = re.compile(r"^@[^:\s]+:[^\s]+$")


@dataclass(frozen=True)
class MatrixSettings:
    homeserver: str
    user_id: str
    access_token: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    device_id: str | None = None
    store: Path = DEFAULT_STORE
    encrypt_rooms: bool = True
    allowed_inviters: tuple[str, ...] = ()
    # After downtime, at most this many missed events per room are fetched with
    # /messages; older ones are skipped (and logged).
    backfill_limit: int = DEFAULT_BACKFILL_LIMIT
    # One replica syncs at a time; it holds a lease this long and renews it.
    lease_seconds: float = DEFAULT_LEASE

    @property
    def server_name(self) -> str:
        return server_of(self.user_id)

    def may_invite(self, user_id: str) -> bool:
        """An allow-list entry is a whole user id or a `:server` suffix."""
        for allowed in self.allowed_inviters:
            if allowed.startswith(":") and user_id.endswith(allowed):
                return True
            if allowed == user_id:
                return True
        return False


def server_of(user_id: str) -> str:
    return user_id.split(":", 1)[1] if ":" in user_id else user_id


def matrix_settings(environ: Mapping[str, str]) -> MatrixSettings | None:
    """The settings, or None when Matrix is not configured at all (no homeserver)."""
    homeserver = environ.get("MATRIX_HOMESERVER", "").strip()
    if not homeserver:
        return None
    user_id = environ.get("MATRIX_USER_ID", "").strip()
    if not _USER_ID.match(user_id):
        raise ConfigError(
            f"MATRIX_USER_ID must be the bot's full Matrix user id, like "
            f"@incident-bot:example.org; got `{user_id or '(not set)'}`"
        )
    if not homeserver.startswith(("http://", "https://")):
        raise ConfigError(
            f"MATRIX_HOMESERVER must be the homeserver's base URL, like "
            f"https://matrix.example.org; got `{homeserver}`"
        )
    token = secret_from(environ, "MATRIX_ACCESS_TOKEN")
    password = secret_from(environ, "MATRIX_PASSWORD")
    if not token and not password:
        raise ConfigError(
            "Matrix needs MATRIX_ACCESS_TOKEN or MATRIX_PASSWORD (or MATRIX_…_FILE naming "
            "a file that holds it) besides MATRIX_HOMESERVER and MATRIX_USER_ID"
        )
    inviters_text = environ.get("INCIDENT_BOT_MATRIX_ALLOWED_INVITERS", "").strip()
    if inviters_text:
        inviters = tuple(part for part in re.split(r"[\s,]+", inviters_text) if part)
        for entry in inviters:
            if not (entry.startswith(":") or _USER_ID.match(entry)):
                raise ConfigError(
                    f"INCIDENT_BOT_MATRIX_ALLOWED_INVITERS: `{entry}` is neither a user id "
                    "(@alice:example.org) nor a server suffix (:example.org)"
                )
    else:
        inviters = (f":{server_of(user_id)}",)
    backfill_text = environ.get("INCIDENT_BOT_MATRIX_BACKFILL_LIMIT", "").strip()
    try:
        backfill_limit = int(backfill_text) if backfill_text else DEFAULT_BACKFILL_LIMIT
        if backfill_limit < 0:
            raise ValueError
    except ValueError:
        raise ConfigError(
            f"INCIDENT_BOT_MATRIX_BACKFILL_LIMIT must be a whole number of events, 0 or more "
            f"(0 fetches nothing missed); got `{backfill_text}`. The default is "
            f"{DEFAULT_BACKFILL_LIMIT}."
        ) from None
    lease_text = environ.get("INCIDENT_BOT_MATRIX_LEASE", "").strip()
    lease = parse_duration(lease_text) if lease_text else None
    if lease_text and (lease is None or lease.total_seconds() < MIN_LEASE):
        raise ConfigError(
            f"INCIDENT_BOT_MATRIX_LEASE: `{lease_text}` is not a duration of at least "
            f"{MIN_LEASE:.0f}s; write {DURATION_FORMS}. The default is {DEFAULT_LEASE:.0f}s."
        )
    return MatrixSettings(
        homeserver=homeserver.rstrip("/"),
        user_id=user_id,
        access_token=token,
        password=password,
        device_id=environ.get("MATRIX_DEVICE_ID", "").strip() or None,
        store=Path(environ.get("INCIDENT_BOT_MATRIX_STORE", "").strip() or DEFAULT_STORE),
        encrypt_rooms=parse_boolean(
            "INCIDENT_BOT_MATRIX_ENCRYPT_ROOMS",
            environ.get("INCIDENT_BOT_MATRIX_ENCRYPT_ROOMS", "true"),
        ),
        allowed_inviters=inviters,
        backfill_limit=backfill_limit,
        lease_seconds=lease.total_seconds() if lease else DEFAULT_LEASE,
    )

