"""SMART refresh tokens for the standalone patient launch (Authlib's ``refresh_token``
grant, RFC 6749 section 6; SMART App Launch 2.x ``offline_access`` / ``online_access``).

A patient app whose approved scopes include ``offline_access`` or ``online_access`` gets
a refresh token with its access token. The token is 256 random bits; the gateway keeps
only its SHA-256 (``smart.sqlite3`` in the vault directory, ``synchronous=FULL``: a
refresh token survives a restart of the gateway, the short-lived access tokens do not),
with the app, the patient, the consent the patient signed and the scopes.

- **Single use, rotated**: a refresh spends the token (atomically: of two concurrent
  refreshes with one token, one wins) and the answer carries a new one of the same
  family. Presenting a spent token again revokes its whole family (RFC 9700 section
  4.14.2: a replayed refresh token means it leaked).
- **Revoked with the consent**: every refresh reads the consent behind the family on
  chain (:func:`phrchain.fhirapi.access.not_in_force`: active, this patient's, naming
  this institution, ``read``, the purpose, in its period); if it no longer stands, the
  family is deleted and the answer is the OAuth error ``invalid_grant``.
- **Lifetime**: ``offline_access``: until the consent's period ends, at most
  :data:`OFFLINE_TTL_MS` from the last refresh; ``online_access``: :data:`ONLINE_TTL_MS`.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from authlib.oauth2.rfc6749 import InvalidGrantError, grants

from phrchain.fhirapi.access import not_in_force
from phrchain.fhirapi.scopes import parse_scopes
from phrchain.fhirapi.smart import Grant, PatientApproval
from phrchain.gateway.service import wall_clock_ms

DB_NAME: Final = "smart.sqlite3"
OFFLINE_TTL_MS: Final = 30 * 86_400_000
ONLINE_TTL_MS: Final = 3_600_000
REFRESH_SCOPES: Final = frozenset({"offline_access", "online_access"})
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS refresh (hash TEXT PRIMARY KEY, family TEXT NOT NULL,
  client_id TEXT NOT NULL, patient TEXT NOT NULL, consent TEXT NOT NULL,
  scope TEXT NOT NULL, expires_ms INTEGER NOT NULL, spent INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS refresh_family ON refresh (family);
CREATE INDEX IF NOT EXISTS refresh_expiry ON refresh (expires_ms);
"""


def wants_refresh(scope: str | None) -> bool:
    return bool(REFRESH_SCOPES & set((scope or "").split()))


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Refresh:
    """A stored refresh token (Authlib's token object for the grant)."""

    hash: str
    family: str
    client_id: str
    patient: str
    consent: str
    scope: str

    def check_client(self, client: Any) -> bool:
        return bool(client.get_client_id() == self.client_id)

    def get_scope(self) -> str:
        return self.scope


class RefreshStore:
    """The hashed refresh tokens of one gateway."""

    def __init__(self, directory: Path) -> None:
        self._db = sqlite3.connect(directory / DB_NAME, check_same_thread=False,
                                   isolation_level=None, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def keep(self, token: str, family: str | None, client_id: str, user: PatientApproval,
             scope: str, consent_end_ms: int) -> None:
        """Store a new refresh token's hash (of ``family``, or a new family)."""
        now = wall_clock_ms()
        life = OFFLINE_TTL_MS if "offline_access" in scope.split() else ONLINE_TTL_MS
        with self._lock:
            self._db.execute("DELETE FROM refresh WHERE expires_ms < ?", (now,))
            self._db.execute(
                "INSERT INTO refresh (hash, family, client_id, patient, consent, scope, "
                "expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (_digest(token), family or secrets.token_hex(16), client_id, user.patient,
                 user.consent, scope, min(now + life, consent_end_ms)))

    def find(self, token: str) -> tuple[Refresh | None, bool]:
        """The live token, or ``(None, replayed)``: a spent one revokes its family."""
        with self._lock:
            row = self._db.execute(
                "SELECT hash, family, client_id, patient, consent, scope, expires_ms, spent "
                "FROM refresh WHERE hash = ?", (_digest(token),)).fetchone()
            if row is None or row[6] < wall_clock_ms():
                return None, False
            if row[7]:
                self._db.execute("DELETE FROM refresh WHERE family = ?", (row[1],))
                return None, True
        return Refresh(*row[:6]), False

    def spend(self, found: Refresh) -> bool:
        """Mark the token used; False if another request spent it first."""
        with self._lock:
            cur = self._db.execute("UPDATE refresh SET spent = 1 WHERE hash = ? AND spent = 0",
                                   (found.hash,))
        return cur.rowcount == 1

    def revoke_family(self, family: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM refresh WHERE family = ?", (family,))

    def live(self, family: str) -> int:
        """How many unspent tokens a family has (tests)."""
        with self._lock:
            row = self._db.execute("SELECT count(*) FROM refresh WHERE family = ? AND "
                                   "spent = 0", (family,)).fetchone()
        return int(row[0])


class PatientRefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    """``grant_type=refresh_token`` for public patient apps: single use, rotated,
    refused ``invalid_grant`` once the consent behind it no longer stands."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Refresh | None:
        store: RefreshStore = self.server.refresh
        found, replayed = store.find(refresh_token)
        if replayed:
            raise InvalidGrantError("the refresh token was already used: its family is "
                                    "revoked")
        if found is None:
            return None
        vault = self.server.vault
        consent = vault.query("consent/get", {"consent": found.consent})
        probe = Grant(found.client_id, found.patient, parse_scopes(found.scope), 0,
                      found.patient, found.consent)
        why = not_in_force(consent, probe, vault.org, wall_clock_ms())
        if why:
            store.revoke_family(found.family)
            raise InvalidGrantError(f"the consent behind this token no longer stands: {why}")
        return found

    def authenticate_user(self, refresh_token: Refresh) -> PatientApproval:
        return PatientApproval(refresh_token.patient, refresh_token.consent)

    def issue_token(self, user: PatientApproval, refresh_token: Refresh) -> Any:
        if not self.server.refresh.spend(refresh_token):
            raise InvalidGrantError("the refresh token was already used")
        self.request.refresh_family = refresh_token.family
        return super().issue_token(user, refresh_token)

    def revoke_old_credential(self, refresh_token: Refresh) -> None:
        """Spent already (:meth:`issue_token`), kept to detect a replay until it expires."""
