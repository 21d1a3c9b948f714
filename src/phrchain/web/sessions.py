"""Unlocked wallets, one per browser session, held in this process's memory only.

A session is created by a correct passphrase, found by a random 256-bit token (the
``HttpOnly; SameSite=Strict; Path=/ui`` cookie), expires after ``idle_timeout_s``
without a request (and after ``max_session_s`` in any case), and is wiped on logout:
its SDK client is closed and every reference to the wallet, the decrypted records and
the caches is dropped. (CPython cannot promise to overwrite freed memory; what is
dropped is unreachable, which is what the threat model in docs/web.md assumes.)
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from phrchain.client.anchors import SoloAnchor
from phrchain.client.patient import PatientWallet
from phrchain.client.phr import Phr

TOKEN_BYTES = 32  # 256 bits


@dataclass
class Session:
    token: str
    csrf: str
    wallet_name: str
    client: Phr
    identity: dict[str, Any]
    capabilities: frozenset[str]
    anchor: SoloAnchor
    anchored: bool  # False: the validator DID came from the node itself
    created: float
    last_seen: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Records the patient decrypted this session, by id: listing them again is not
    # another audited access.
    opened: dict[str, dict[str, Any]] = field(default_factory=dict)
    # What the patient chose consents by (categories, resource types), by consent id:
    # the chain has only the record ids it became, so this stays here, never sent.
    chosen: dict[str, dict[str, Any]] = field(default_factory=dict)
    # A patient's pseudonyms (web/pseudonyms.py), made on first use.
    pseudonyms: PatientWallet | None = None

    @property
    def did(self) -> str:
        return self.client.wallet.did

    def wipe(self) -> None:
        self.opened.clear()
        self.chosen.clear()
        if self.pseudonyms is not None:
            self.pseudonyms.close()
            self.pseudonyms = None
        self.client.close()
        self.client.node.close()
        self.client.session.directory.clear()


class SessionStore:
    def __init__(self, idle_timeout_s: float, max_session_s: float,
                 clock: Callable[[], float]) -> None:
        self.idle_timeout_s, self.max_session_s, self.clock = \
            idle_timeout_s, max_session_s, clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, wallet_name: str, client: Phr, identity: dict[str, Any],
               capabilities: frozenset[str], anchor: SoloAnchor, anchored: bool) -> Session:
        now = self.clock()
        session = Session(secrets.token_urlsafe(TOKEN_BYTES), secrets.token_urlsafe(TOKEN_BYTES),
                          wallet_name, client, identity, capabilities, anchor, anchored,
                          now, now)
        with self._lock:
            self._sessions[session.token] = session
        self.sweep()
        return session

    def _expired(self, session: Session, now: float) -> bool:
        return now - session.last_seen > self.idle_timeout_s \
            or now - session.created > self.max_session_s

    def get(self, token: str | None) -> Session | None:
        """The live session for ``token`` (its idle clock restarted), or None."""
        self.sweep()
        if not token:
            return None
        with self._lock:
            session = self._sessions.get(token)
            if session is not None:
                session.last_seen = self.clock()
            return session

    def end(self, token: str) -> None:
        with self._lock:
            session = self._sessions.pop(token, None)
        if session is not None:
            with session.lock:
                session.wipe()

    def sweep(self) -> None:
        now = self.clock()
        with self._lock:
            gone = [t for t, s in self._sessions.items() if self._expired(s, now)]
            ended = [self._sessions.pop(t) for t in gone]
        for session in ended:
            with session.lock:
                session.wipe()

    def close(self) -> None:
        with self._lock:
            ended, self._sessions = list(self._sessions.values()), {}
        for session in ended:
            session.wipe()

    def __len__(self) -> int:
        return len(self._sessions)
