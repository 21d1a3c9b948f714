"""``phrchain vault verify`` on a real vault's directory (defect 9): a clean vault
verifies; a flipped blob byte, a truncated blob, a corrupt wrapped key and a deleted
chunk are each named exactly (record, chunk or reader, stable code); ``--node`` adds the
chain's view (an erased record still held); and a read of a record whose key row is
damaged says so instead of "the patient must share the key"."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from phrchain.cli.main import main
from phrchain.client.http import ApiError
from phrchain.vault import errors
from tests.consortium import A1, HOSPITAL_A, Consortium, P, running


@dataclass
class Held:
    c: Consortium
    records: list[str]  # four records of P held by hospital A's vault
    home: Path


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Held]:
    tmp = tmp_path_factory.mktemp("verify")
    with running(tmp) as c:
        author = c.client(A1)
        records = [author.records.add(b'{"resourceType":"Basic","n":%d}' % n, P.did,
                                      resource="Basic", category="other")
                   for n in range(4)]
        yield Held(c, records, c.vaults[HOSPITAL_A.did].config.directory)


def copy_of(held: Held, into: Path) -> Path:
    """A consistent copy of the live vault's directory (SQLite's backup: WAL included)."""
    for name in ("blobs/blobs.sqlite3", "gateway.sqlite3"):
        (into / name).parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(held.home / name) as src, sqlite3.connect(into / name) as dst:
            src.backup(dst)
    return into


def verify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = main(["vault", "verify", *argv])
    return code, capsys.readouterr().out.splitlines()


def edit(home: Path, sql: str, *args: object) -> None:
    with sqlite3.connect(home / "blobs" / "blobs.sqlite3") as db:
        assert db.execute(sql, args).rowcount == 1


def chunk_of(home: Path, record: str) -> tuple[bytes, bytes]:
    with sqlite3.connect(home / "blobs" / "blobs.sqlite3") as db:
        leaf, data = db.execute("SELECT c.leaf, c.data FROM record_chunks rc JOIN chunks c "
                                "ON c.leaf = rc.leaf WHERE rc.record = ? AND rc.idx = 0",
                                (bytes.fromhex(record),)).fetchone()
    return leaf, data


def test_a_clean_vault_verifies_offline_and_against_the_chain(
        held: Held, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = copy_of(held, tmp_path)
    code, out = verify(capsys, "--home", str(home))
    assert code == 0 and out[-1] == "clean"
    assert out[0].startswith("checked 4 record(s), 4 chunk(s), ")
    code, out = verify(capsys, "--home", str(home), "--node", held.c.api_url)
    assert code == 0 and out[-1] == "clean" and "against the chain" in out[0]


def _flip(home: Path, record: str) -> None:
    leaf, data = chunk_of(home, record)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x01
    edit(home, "UPDATE chunks SET data = ? WHERE leaf = ?", bytes(flipped), leaf)


def _truncate(home: Path, record: str) -> None:
    leaf, data = chunk_of(home, record)
    edit(home, "UPDATE chunks SET data = ? WHERE leaf = ?", data[:-3], leaf)


def _corrupt_key(home: Path, record: str) -> None:
    edit(home, "UPDATE wrapped_keys SET wrapped = ? WHERE record = ? AND reader = ?",
         bytes(79), bytes.fromhex(record), P.did)


def _delete_chunk(home: Path, record: str) -> None:
    edit(home, "DELETE FROM chunks WHERE leaf = ?", chunk_of(home, record)[0])


DAMAGE: dict[str, tuple[Callable[[Path, str], None], str]] = {
    "flipped byte": (_flip, "vault/2 hash_mismatch: chunk 0: the stored ciphertext does not "
                            "match its leaf hash (altered bytes)"),
    "truncated": (_truncate, "vault/5 bad_layout: chunk 0: chunk 0 of 1 is "),
    "corrupt key": (_corrupt_key, f"vault/9 malformed_wrapped_key: reader {P.did}: 79 "
                                  "bytes, not 80"),
    "deleted chunk": (_delete_chunk, "vault/5 bad_layout: chunk 0 of 1 is missing (no "
                                     "stored chunk has its leaf hash)"),
}


@pytest.mark.parametrize("kind", DAMAGE)
def test_each_damage_is_named_exactly(held: Held, tmp_path: Path, kind: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    home = copy_of(held, tmp_path)
    damage, expected = DAMAGE[kind]
    record = held.records[1]
    damage(home, record)
    code, out = verify(capsys, "--home", str(home))
    assert code == 1 and out[-1] == "1 problem(s) found"
    assert out[-2].startswith(f"record {record}: {expected}"), out
    assert not any(other in "\n".join(out) for other in held.records if other != record)


def test_all_damage_at_once_is_listed_record_by_record(
        held: Held, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = copy_of(held, tmp_path)
    for (damage, _), record in zip(DAMAGE.values(), held.records, strict=True):
        damage(home, record)
    code, out = verify(capsys, "--home", str(home), "--json")
    report = json.loads("\n".join(out))
    assert code == 1 and report["ok"] is False
    found = {(f["subject"], f["name"]) for f in report["findings"]}
    assert found == {(f"record {held.records[0]}", "hash_mismatch"),
                     (f"record {held.records[1]}", "bad_layout"),
                     (f"record {held.records[2]}", "malformed_wrapped_key"),
                     (f"record {held.records[3]}", "bad_layout")}


def test_the_chain_view_names_an_erased_record_still_held(
        held: Held, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = copy_of(held, tmp_path)
    erased = held.records[3]
    held.c.client(P).records.erase(erased)  # the vault's erasure sync has not run yet
    code, out = verify(capsys, "--home", str(home))
    assert code == 0  # offline, the bytes are whole
    code, out = verify(capsys, "--home", str(home), "--node", held.c.api_url)
    assert code == 1
    assert out[-2] == (f"record {erased}: vault/27 erased: erased on chain but still held "
                       "here (the vault shreds it at its next erasure sync)")


def test_not_a_vault_directory_is_a_user_error(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vault", "verify", "--home", str(tmp_path)]) == 2
    assert "is not a vault directory" in capsys.readouterr().err
    assert not (tmp_path / "blobs").exists()  # nothing created


def test_a_read_through_a_damaged_key_row_says_the_store_is_damaged(held: Held) -> None:
    """The misleading answer of defect 9: a flipped byte in the reader column of the
    caller's wrapped-key row made the lookup miss, and the vault answered 409
    no_key_for_caller ("the patient must share it"). The vault now sees the altered row
    and answers 500 store_damaged (vault/16), and ``vault verify`` names the row."""
    record = held.records[0]
    broken = P.did[:-1] + ("!" if P.did[-1] != "!" else "?")
    edit(held.home, "UPDATE wrapped_keys SET reader = ? WHERE record = ? AND reader = ?",
         broken, bytes.fromhex(record), P.did)
    with pytest.raises(ApiError) as caught:
        held.c.client(P).records.open(record)
    assert (caught.value.codespace, caught.value.code, caught.value.status) == (
        "vault", errors.STORE_DAMAGED.code, 500)
