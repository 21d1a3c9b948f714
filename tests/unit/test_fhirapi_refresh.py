"""The refresh token store alone: kept as a SHA-256, spent once (of two spends of one
token, one wins, even from threads), a spent token presented again revokes its family,
a token never outlives the consent's period, and the store survives a reopen."""

from __future__ import annotations

import hashlib
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from phrchain.fhirapi.refresh import DB_NAME, RefreshStore, new_token, wants_refresh
from phrchain.fhirapi.smart import PatientApproval
from phrchain.gateway.service import wall_clock_ms

USER = PatientApproval("did:key:z6MkPatient", "c" * 64)
FAR = 1 << 50


def test_hashed_single_use_and_a_replay_revokes_the_family(tmp_path: Path) -> None:
    store = RefreshStore(tmp_path)
    first = new_token()
    store.keep(first, None, "app", USER, "patient/*.rs offline_access", FAR)
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        rows = db.execute("SELECT hash FROM refresh").fetchall()
    assert rows == [(hashlib.sha256(first.encode()).hexdigest(),)]
    found, replayed = store.find(first)
    assert found is not None and not replayed and found.get_scope().endswith("access")
    with ThreadPoolExecutor(4) as pool:
        wins = list(pool.map(lambda _: store.spend(found), range(8)))
    assert wins.count(True) == 1
    second = new_token()
    store.keep(second, found.family, "app", USER, found.scope, FAR)
    assert store.live(found.family) == 1
    assert store.find(first) == (None, True)          # replayed: the family is revoked
    assert store.find(second) == (None, False) and store.live(found.family) == 0
    store.close()


def test_lifetime_is_bounded_by_the_consent_and_survives_a_reopen(tmp_path: Path) -> None:
    store = RefreshStore(tmp_path)
    ended, kept = new_token(), new_token()
    store.keep(ended, None, "app", USER, "patient/*.rs offline_access", wall_clock_ms() - 1)
    store.keep(kept, None, "app", USER, "patient/*.rs online_access", FAR)
    store.close()
    again = RefreshStore(tmp_path)
    assert again.find(ended) == (None, False)
    assert again.find(kept)[0] is not None
    assert again.find("not-a-token") == (None, False)
    assert wants_refresh("patient/*.rs online_access") and not wants_refresh("patient/*.rs")
    again.close()
