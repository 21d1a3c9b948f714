"""The records command line for every role, as real ``phrchain`` subprocesses against a
solo node, its API and three vaults (``tests/consortium.py``), plus a fourth vault run
by ``phrchain vault serve`` itself."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from phrchain.cli.main import main
from phrchain.client.http import ApiError
from phrchain.client.wallet import KdfParams, Wallet
from tests.consortium import (
    A1,
    AE,
    B1,
    HOSPITAL_A,
    HOSPITAL_B,
    REGULATOR,
    RESEARCH,
    RR,
    VALIDATOR,
    Consortium,
    P,
    Q,
    genesis,
    running,
)

PASSPHRASE = "records cli passphrase"
FAST = KdfParams(memory_kib=64, iterations=1, lanes=1)  # tests only: cheap to derive
OBSERVATION = {"resourceType": "Observation", "status": "final",
               "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0",
                                    "display": "Glucose"}]},
               "valueQuantity": {"value": 5, "unit": "mmol/L"}}
WHO = {"p": P, "q": Q, "a1": A1, "ae": AE, "b1": B1, "rr": RR, "hospital_a": HOSPITAL_A,
       "research": RESEARCH, "regulator": REGULATOR}


@dataclass
class Env:
    c: Consortium
    tmp: Path
    wallets: dict[str, Path]
    vaults: Path
    base_env: dict[str, str]


class Cli:
    """Runs ``phrchain ARGV`` as ``who``, with the node, the vault directory and the
    passphrase in the environment as an operator would set them: in-process through
    ``main`` (fast), or as a real subprocess with ``sub=True``."""

    def __init__(self, env: Env, capsys: pytest.CaptureFixture[str],
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self.env, self.capsys, self.monkeypatch = env, capsys, monkeypatch
        for name in [k for k in os.environ if k.startswith("PHRCHAIN_")]:
            monkeypatch.delenv(name)

    def run(self, who: str | None, *argv: str, vaults: Path | None = None,
            sub: bool = False, no_vaults: bool = False) -> tuple[int, str, str]:
        environ = dict(self.env.base_env, PHRCHAIN_VAULTS=str(vaults or self.env.vaults))
        if no_vaults:
            del environ["PHRCHAIN_VAULTS"]
        wallet = ["--wallet", str(self.env.wallets[who])] if who else []
        if sub:
            done = subprocess.run([sys.executable, "-m", "phrchain", *argv, *wallet],
                                  capture_output=True, text=True, timeout=60, env=environ,
                                  check=False)
            return done.returncode, done.stdout, done.stderr
        for name in ("PHRCHAIN_NODE", "PHRCHAIN_PASSPHRASE", "PHRCHAIN_VAULTS"):
            if name in environ:
                self.monkeypatch.setenv(name, environ[name])
            else:
                self.monkeypatch.delenv(name, raising=False)
        self.capsys.readouterr()
        code = main([*argv, *wallet])
        out, err = self.capsys.readouterr()
        return code, out, err

    def ok(self, who: str | None, *argv: str, **kw: Any) -> str:
        code, out, err = self.run(who, *argv, **kw)
        assert code == 0, f"{argv}: {err}"
        assert "Traceback" not in err
        return out

    def refused(self, who: str | None, *argv: str, **kw: Any) -> str:
        """The command fails as a user error: exit 2, one ``error: …`` line."""
        code, out, err = self.run(who, *argv, **kw)
        assert code == 2, f"{argv}: {code} {out} {err}"
        assert err.startswith("error: ") and "Traceback" not in err, err
        return err


@contextlib.contextmanager
def cli_env(tmp: Path, who: dict[str, Wallet]) -> Iterator[Env]:
    """A running consortium with ``who``'s wallets saved as files, the vault directory
    written, and the node and passphrase in an environment as an operator sets them."""
    with running(tmp / "consortium") as c:
        wallets = {}
        for name, wallet in who.items():
            wallets[name] = tmp / f"{name}.json"
            wallet.save(wallets[name], PASSPHRASE, FAST)
        vaults = tmp / "vaults.json"
        vaults.write_text(json.dumps(c.directory))
        base = {k: v for k, v in os.environ.items() if not k.startswith("PHRCHAIN_")}
        base.update(PHRCHAIN_NODE=c.api_url, PHRCHAIN_PASSPHRASE=PASSPHRASE)
        yield Env(c, tmp, wallets, vaults, base)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with cli_env(tmp_path_factory.mktemp("cli-records"), WHO) as e:
        yield e


@pytest.fixture
def cli(env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(env, capsys, monkeypatch)


def add_observation(cli: Cli, author: str = "a1", patient: Wallet = P, sub: bool = False
                    ) -> str:
    path = cli.env.tmp / "observation.json"
    path.write_text(json.dumps(OBSERVATION))
    out = cli.ok(author, "records", "add", "--patient", patient.did, "--file", str(path),
                 sub=sub)
    record = out.strip()
    assert len(record) == 32
    return record


def test_author_adds_and_the_patient_reads(cli: Cli) -> None:
    record = add_observation(cli, sub=True)  # a real process, options from the environment
    assert json.loads(cli.ok("p", "records", "read", record, sub=True)) == OBSERVATION
    shown = json.loads(cli.ok(None, "records", "show", record))
    assert shown["custodian"] == HOSPITAL_A.did and shown["size"] == 4096
    assert shown["holders"] == [HOSPITAL_A.did]
    assert not {"author", "resource", "category", "chunks"} & set(shown)  # sealed (v2)
    listed = json.loads(cli.ok("p", "records", "list"))  # the wallet's own DID
    assert record in [d["record"] for d in listed]
    assert "resource" not in next(d for d in listed if d["record"] == record)
    described = json.loads(cli.ok("p", "records", "list", "--describe"))
    mine = next(d for d in described if d["record"] == record)
    assert (mine["resource"], mine["category"], mine["author"]) == \
        ("Observation", "observation", A1.did)
    # the patient views it in place; a view keeps nothing
    assert json.loads(cli.ok("p", "records", "read", record, "--view")) == OBSERVATION
    assert "keeps nothing" in cli.refused("p", "records", "read", record, "--view", "--out",
                                          str(cli.env.tmp / "view.json"))
    bad = cli.env.tmp / "bad.json"
    bad.write_text(json.dumps({**OBSERVATION, "status": "maybe"}))
    err = cli.refused("a1", "records", "add", "--patient", P.did, "--file", str(bad))
    assert "status" in err  # the validator's message
    # a patient's self-reported record, kept in a vault the patient names
    path = cli.env.tmp / "self-reported.json"
    path.write_text(json.dumps({**OBSERVATION, "status": "preliminary"}))
    mine = cli.ok("p", "records", "add", "--patient", P.did, "--file", str(path),
                  "--custodian", HOSPITAL_A.did).strip()
    assert json.loads(cli.ok(None, "records", "show", mine))["self_reported"] is True
    nowhere = cli.env.tmp / "novaults.json"
    nowhere.write_text("{}")
    assert "no vault address known" in cli.refused("p", "records", "read", record,
                                                   vaults=nowhere)


def test_grant_read_revoke(cli: Cli) -> None:
    record = add_observation(cli)
    assert "no_consent" in cli.refused("b1", "records", "read", record)
    consent = cli.ok("p", "consent", "grant", "--to", B1.did, "--actions", "read",
                     "--purposes", "TREAT", "--scope", f"records:{record}",
                     "--days", "1").strip()
    assert json.loads(cli.ok("b1", "records", "read", record)) == OBSERVATION
    out = cli.env.tmp / "b1-copy.json"
    cli.ok("b1", "records", "read", record, "--out", str(out))
    assert json.loads(out.read_bytes()) == OBSERVATION and out.stat().st_mode & 0o077 == 0
    listed = json.loads(cli.ok("p", "consent", "list"))
    assert consent in [c["consent"] for c in listed]
    fhir = json.loads(cli.ok(None, "consent", "show", consent, "--fhir"))
    assert fhir["resourceType"] == "Consent" and fhir["status"] == "active"
    cli.ok("p", "consent", "revoke", consent)
    err = cli.refused("b1", "records", "read", record)
    assert "access_denied" in err and "consent_revoked" in err
    assert json.loads(cli.ok(None, "consent", "show", consent))["status"] == "revoked"
    # a record the choice below does not match
    cli.env.c.client(A1).records.add(b'{"resourceType":"Immunization"}', P.did,
                                     resource="Immunization", category="immunization")
    code, out, err = cli.run("p", "consent", "grant", "--role", "emergency", "--role-org",
                             HOSPITAL_A.did, "--actions", "read", "--purposes", "ETREAT",
                             "--scope", "categories:laboratory", "--scope",
                             "resources:Observation", "--days", "7", "--no-share")
    assert code == 0, err
    by_role = out.strip()
    shown = json.loads(cli.ok(None, "consent", "show", by_role))
    assert shown["grantee"] == {"kind": "role", "id": "emergency",
                                "organization": HOSPITAL_A.did}
    # the wallet's choice became the ids of P's records that match it now, nothing else
    mine = cli.env.c.client(P).records.my_records()
    expected = sorted(d["record"] for d in mine
                      if d["category"] == "laboratory" or d["resource"] == "Observation")
    assert record in expected and len(expected) < len(mine)
    assert shown["scope"] == {"records": expected}
    assert f"names {len(expected)} record id(s)" in err
    assert "role-org goes with --role" in cli.refused(
        "p", "consent", "grant", "--to", B1.did, "--role-org", HOSPITAL_A.did, "--actions",
        "read", "--purposes", "TREAT", "--scope", "all", "--days", "1")


def test_pull_request_approve_pull_and_deny(cli: Cli) -> None:
    record = add_observation(cli)
    request = cli.ok("b1", "exchange", "request", "--patient", P.did, "--scope",
                     f"records:{record}", "--purpose", "TREAT").strip()
    inbox = json.loads(cli.ok("p", "exchange", "inbox"))
    assert [r["request"] for r in inbox if r["request"] == request] == [request]
    cli.refused("b1", "exchange", "pull", request, record)  # not approved yet
    cli.ok("p", "exchange", "approve", request, "--days", "1")
    copy = cli.env.tmp / "pulled.json"
    cli.ok("b1", "exchange", "pull", request, record, "--out", str(copy))
    assert json.loads(copy.read_bytes()) == OBSERVATION
    cli.env.c.flush()
    assert HOSPITAL_B.did in json.loads(cli.ok(None, "records", "show", record))["holders"]
    assert json.loads(cli.ok("b1", "records", "read", record, "--from-vault",
                             HOSPITAL_B.did)) == OBSERVATION
    # chain-only actions need no vault directory; reading does
    assert "never categories" in cli.refused(
        "b1", "exchange", "request", "--patient", P.did, "--scope", "categories:laboratory",
        "--purpose", "TREAT", no_vaults=True)
    other = cli.ok("b1", "exchange", "request", "--patient", P.did, "--scope", "all",
                   "--purpose", "TREAT", no_vaults=True).strip()
    cli.ok("p", "exchange", "deny", other, no_vaults=True)
    assert "--vaults" in cli.refused("b1", "records", "read", record, no_vaults=True)
    assert json.loads(cli.ok(None, "exchange", "show", other))["status"] == "denied"


def test_push_needs_the_recipients_consent(cli: Cli) -> None:
    record = add_observation(cli)
    # v2: the chain knows the custodian, not the author: the institution pushes
    assert "exchange" in cli.refused("hospital_a", "exchange", "push", record, "--to", B1.did)
    cli.ok("p", "consent", "grant", "--to", B1.did, "--actions", "push,read", "--purposes",
           "TREAT", "--scope", f"records:{record}", "--days", "1", "--no-share")
    cli.ok("hospital_a", "exchange", "push", record, "--to", B1.did)
    assert json.loads(cli.ok("b1", "records", "read", record, "--from-vault",
                             HOSPITAL_B.did)) == OBSERVATION


def test_break_glass_needs_a_reason_that_goes_nowhere(cli: Cli) -> None:
    record = add_observation(cli, author="b1")  # at hospital B; AE works at hospital A
    assert "--reason" in cli.refused("ae", "records", "read", record, "--break-glass")
    reason = "unconscious patient in bay 4, suspected hypoglycaemia"
    code, out, err = cli.run("ae", "records", "read", record, "--break-glass", "--reason",
                             reason, sub=True)
    assert code == 0, err
    assert json.loads(out) == OBSERVATION
    assert "BREAK-GLASS" in err and reason in err and "receipt (keep it" in err
    receipt = cli.env.tmp / "break-glass-receipt.json"
    assert "--receipt" in cli.refused("ae", "records", "read", record, "--receipt",
                                      str(receipt))
    cli.ok("ae", "records", "read", record, "--break-glass", "--reason", reason,
           "--receipt", str(receipt))
    cli.env.c.flush()
    needle = reason.encode()
    for path in cli.env.tmp.rglob("*"):  # block store, state store, vault journals, blobs
        if path.is_file():                # and the receipt: the reason is in none of them
            assert needle not in path.read_bytes(), path
    genesis = str(cli.env.c.home / "config" / "genesis.json")
    out = cli.ok(None, "audit", "justify", "--receipt", str(receipt), "--reason", reason,
                 "--genesis", genesis)
    assert out.startswith("justified") and "break_glass" in out
    assert "does not match" in cli.refused(None, "audit", "justify", "--receipt",
                                           str(receipt), "--reason",
                                           "a better reason found afterwards",
                                           "--genesis", genesis)


def test_large_object_range(cli: Cli) -> None:
    blob = bytes(range(256)) * (8 * 1024)  # 2 MiB: two chunks
    source = cli.env.tmp / "genome.bin"
    source.write_bytes(blob)
    record = cli.ok("a1", "records", "add", "--patient", P.did, "--file", str(source),
                    "--raw", "--resource", "MolecularSequence",
                    "--category", "genomic").strip()
    out = cli.env.tmp / "range.bin"
    start = (1 << 20) - 10
    cli.ok("p", "records", "range", record, "--start", str(start), "--length", "100",
           "--out", str(out))
    assert out.read_bytes() == blob[start:start + 100]


def test_erase(cli: Cli) -> None:
    record = add_observation(cli)
    cli.refused("a1", "records", "erase", record)  # only the patient or a regulator
    assert "erased on chain" in cli.ok("p", "records", "erase", record)
    assert f"record {record} was erased" in cli.refused("p", "records", "read", record)
    cli.env.c.sync()  # every vault destroys it; the attempt is still decided and audited
    assert f"record {record} was erased" in cli.refused("p", "records", "read", record)
    assert json.loads(cli.ok(None, "records", "show", record))["status"] == "erased"


def test_import_then_export_validates_as_fhir(cli: Cli) -> None:
    from phrchain.fhir import validate
    from phrchain.fhir.synthetic import generate_bundle

    bundle = generate_bundle(11, 0, resources=12)
    patient_id = next(e["resource"]["id"] for e in bundle["entry"]
                      if e["resource"]["resourceType"] == "Patient")
    bundle_file, mapping = cli.env.tmp / "bundle.json", cli.env.tmp / "patients.json"
    bundle_file.write_text(json.dumps(bundle))
    mapping.write_text(json.dumps({"someone-else": P.did}))
    assert patient_id in cli.refused("hospital_a", "records", "import", "--file",
                                     str(bundle_file), "--patients", str(mapping))
    mapping.write_text(json.dumps({patient_id: Q.did}))
    code, out, err = cli.run("hospital_a", "records", "import", "--file", str(bundle_file),
                             "--patients", str(mapping))
    assert code == 0, err
    summary = json.loads(out)
    shared = {"Organization", "Practitioner"}
    theirs = sorted(e["resource"]["resourceType"] for e in bundle["entry"]
                    if e["resource"]["resourceType"] not in shared)
    assert summary["imported"] == {Q.did: len(theirs)} == {Q.did: summary["total"]}
    assert f"{len(theirs)}/{len(theirs)} resources" in err  # the progress bar
    # What was left out, and why, is said (issue 13, defect 10): not silently dropped.
    left_out: dict[str, int] = {}
    for e in bundle["entry"]:
        if e["resource"]["resourceType"] in shared:
            left_out[e["resource"]["resourceType"]] = left_out.get(
                e["resource"]["resourceType"], 0) + 1
    assert summary["set_aside"] == left_out and set(left_out) == shared
    assert summary["set_aside_total"] == sum(left_out.values()) == len(bundle["entry"]) - \
        len(theirs)
    assert "no Patient's compartment" in summary["set_aside_reason"]
    assert f"setting aside {summary['set_aside_total']} shared resource(s) (" \
           f"Organization {left_out['Organization']}, " \
           f"Practitioner {left_out['Practitioner']})" in err
    out = cli.env.tmp / "export.json"
    cli.ok("q", "records", "export", "--out", str(out))
    exported = json.loads(out.read_text())
    validate(exported)
    assert sorted(e["resource"]["resourceType"] for e in exported["entry"]) == theirs
    assert "already exists" in cli.refused("q", "records", "export", "--out", str(out))


def test_import_of_several_bundles_in_one_run_validates_them_all_first(cli: Cli) -> None:
    from phrchain.fhir.synthetic import generate_bundle

    bundles = [generate_bundle(21 + i, 0, resources=6) for i in range(2)]
    ids = [next(e["resource"]["id"] for e in b["entry"]
                if e["resource"]["resourceType"] == "Patient") for b in bundles]
    files = [cli.env.tmp / f"several{i}.json" for i in range(2)]
    mapping = cli.env.tmp / "several-patients.json"
    mapping.write_text(json.dumps({ids[0]: P.did, ids[1]: Q.did}))
    before = {w.did: len(cli.env.c.query("records/patient", patient=w.did)["records"])
              for w in (P, Q)}
    bad = json.loads(json.dumps(bundles[1]))
    bad["entry"][-1]["resource"]["resourceType"] = "NotAType"
    files[0].write_text(json.dumps(bundles[0]))
    files[1].write_text(json.dumps(bad))
    argv = ["records", "import", "--file", str(files[0]), "--file", str(files[1]),
            "--patients", str(mapping)]
    assert "resourceType" in cli.refused("hospital_a", *argv)
    assert before == {w.did: len(cli.env.c.query("records/patient", patient=w.did)["records"])
                      for w in (P, Q)}  # nothing of the first Bundle went in either
    files[1].write_text(json.dumps(bundles[1]))
    summary = json.loads(cli.ok("hospital_a", *argv))
    own = [sum(e["resource"]["resourceType"] not in {"Organization", "Practitioner"}
               for e in b["entry"]) for b in bundles]
    assert summary["imported"] == {P.did: own[0], Q.did: own[1]}
    assert summary["total"] == sum(own)
    for who, n in zip((P, Q), own, strict=True):
        listed = cli.env.c.query("records/patient", patient=who.did)["records"]
        assert len(listed) == before[who.did] + n
        assert set(summary["records"][who.did]) <= set(listed)


# -- audit ------------------------------------------------------------------------------------
def test_audit_log_and_verify(cli: Cli) -> None:
    record = add_observation(cli)
    cli.ok("p", "records", "read", record)
    cli.env.c.flush()
    cli.refused("b1", "records", "read", record)  # a denial is logged too, in a later block
    cli.env.c.flush()
    sealed = json.loads(cli.ok("p", "audit", "log", "--validator", VALIDATOR.did))
    assert sealed and all(e["sealed"] and e["verified"] and "accessor" not in e
                          for e in sealed)  # without --open: proven, not opened
    entries = json.loads(cli.ok("p", "audit", "log", "--open", "--validator", VALIDATOR.did))
    assert [e["request"] for e in entries] == [e["request"] for e in sealed]
    mine = [(e["accessor"], e["decision"]) for e in entries if e.get("record") == record]
    assert mine == [(P.did, "permit"), (B1.did, "deny")]
    assert all(e["verified"] and not e["sealed"] for e in entries)
    key_file = cli.env.tmp / "regulator.audit-key.json"
    cli.ok("regulator", "audit", "key", "--out", str(key_file))
    by_regulator = json.loads(cli.ok(None, "audit", "log", "--patient", P.did, "--audit-key",
                                     str(key_file), "--validator", VALIDATOR.did))
    assert [{**e, "opened_by": REGULATOR.did} for e in entries] == by_regulator
    events = json.loads(cli.ok(None, "audit", "log", "--patient", P.did, "--fhir",
                               "--audit-key", str(key_file), "--validator", VALIDATOR.did))
    from phrchain.fhir import validate

    validate(events)
    assert {e["resource"]["resourceType"] for e in events["entry"]} == {"AuditEvent"}
    genesis_file = cli.env.tmp / "genesis.json"
    genesis_file.write_text(json.dumps(genesis()))
    out = cli.ok(None, "audit", "verify", "--patient", P.did, "--genesis", str(genesis_file))
    assert f"{len(entries)} entries verified" in out
    heads = int(out.split(" head(s) at heights")[0].rsplit("\n", 1)[1].strip())
    assert heads >= 2  # the two entries were added in two blocks
    assert f"{heads - 1} consistency proof(s)" in out
    assert "older than --min-height" in cli.refused(
        None, "audit", "verify", "--patient", P.did, "--validator", VALIDATOR.did,
        "--min-height", "1000000")


def _flip(hex_text: str) -> str:
    return ("1" if hex_text[0] == "0" else "0") + hex_text[1:]


def tampering_proxy(upstream: str, mode: dict[str, str]) -> Any:
    """The node's API, with one kind of answer altered (``mode["what"]``)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    def tamper(query: dict[str, Any], answer: dict[str, Any]) -> None:
        what, found = mode["what"], answer.get("value")
        if what == "entry" and query["path"] in ("audit/entry", "audit/entries"):
            for e in [found] if query["path"] == "audit/entry" else found["entries"]:
                if e is not None and e["index"] == 1:  # a sealed entry swapped for another
                    leaf = json.loads(bytes.fromhex(e["leaf"]))
                    leaf["commitment"] = _flip(leaf["commitment"])
                    e["entry"] = leaf
                    e["leaf"] = json.dumps(leaf, sort_keys=True,
                                           separators=(",", ":")).encode().hex()
        elif what == "inclusion" and query["path"] == "audit/entry" and found["index"] == 2:
            found["inclusion"][0] = _flip(found["inclusion"][0])
        elif what == "head" and query["path"] == "audit/head" and answer.get("raw_value"):
            answer["raw_value"] = answer["raw_value"][:-2] + "00"
        elif what == "consistency" and query["path"] == "audit/consistency" \
                and found["proof"]:
            found["proof"][-1] = _flip(found["proof"][-1])

    async def forward(request: Request) -> Response:
        body = await request.body()
        async with httpx.AsyncClient(base_url=upstream) as http:
            r = await http.request(request.method, request.url.path,
                                   params=request.query_params, content=body,
                                   headers={"content-type": "application/json"})
        content = r.content
        if r.is_success and request.url.path == "/v1/query":
            answer = r.json()
            tamper(json.loads(body), answer)
            content = json.dumps(answer).encode()
        elif r.is_success and request.url.path.startswith("/v1/headers/") \
                and mode["what"] == "header":
            answer = r.json()
            answer["signature"] = _flip(answer["signature"])
            content = json.dumps(answer).encode()
        return Response(content, status_code=r.status_code, media_type="application/json")

    return Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST"])])


@pytest.fixture(scope="module")
def q_log(env: Env) -> None:
    """Patient Q's access log: entries added in three blocks."""
    record = env.c.client(A1).records.add(json.dumps(OBSERVATION).encode(), Q.did,
                                          resource="Observation", category="laboratory")
    for who in (Q, B1, Q):
        with contextlib.suppress(ApiError):
            env.c.client(who).records.open(record)
        env.c.flush()


@pytest.mark.parametrize("what, named", [
    ("entry", "entry 1"), ("inclusion", "entry 2"), ("head", "log head at"),
    ("consistency", "consistency from the head at height"), ("header", "header ")])
def test_audit_verify_fails_on_a_tampered_answer(cli: Cli, q_log: None, what: str,
                                                 named: str) -> None:
    from phrchain.api.server import BackgroundServer

    with BackgroundServer(tampering_proxy(cli.env.c.api_url, {"what": what})) as liar:
        err = cli.refused(None, "audit", "verify", "--patient", Q.did, "--node", liar,
                          "--validator", VALIDATOR.did, sub=what == "entry")
    assert named in err.splitlines()[0], err


# -- a vault run by the CLI -------------------------------------------------------------------
@contextlib.contextmanager
def served_vault(env: Env) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "phrchain", "vault", "serve", "--home",
         str(env.tmp / "research-vault"), "--wallet", str(env.wallets["research"]),
         "--port", "0"], env=env.base_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert " on http://127.0.0.1:" in first, first + (proc.stderr.read()
                                                          if proc.stderr else "")
        assert RESEARCH.did in proc.stdout.readline()
        yield first.rsplit(" on ", 1)[1].strip(), proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)  # reaps it and closes the pipes


def test_vault_serve_takes_a_pulled_copy_and_stops_cleanly(cli: Cli) -> None:
    record = add_observation(cli)
    with served_vault(cli.env) as (url, proc):
        info = json.loads(cli.ok(None, "vault", "info", url))
        assert info["vault"] == RESEARCH.did
        vaults = cli.env.tmp / "vaults-with-research.json"
        vaults.write_text(json.dumps({**cli.env.c.directory, RESEARCH.did: url}))
        request = cli.ok("rr", "exchange", "request", "--patient", P.did, "--scope",
                         f"records:{record}", "--purpose", "HRESCH", vaults=vaults).strip()
        cli.ok("p", "exchange", "approve", request, "--days", "1", vaults=vaults)
        cli.ok("rr", "exchange", "pull", request, record, "--out",
               str(cli.env.tmp / "research-copy.json"), vaults=vaults)
        deadline = time.monotonic() + 10
        while RESEARCH.did not in cli.env.c.query("records/holders", record=record)["holders"]:
            assert time.monotonic() < deadline, "the served vault never sent its receipt"
            time.sleep(0.05)
        # the copy is served from the CLI's vault, after a decision it audits
        assert json.loads(cli.ok("rr", "records", "read", record, "--purpose", "HRESCH",
                                 "--from-vault", RESEARCH.did, vaults=vaults)) == OBSERVATION
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "vault stopped; 0 outbox message(s) left" in err
    entries = cli.env.c.client(P).audit.log(P.did)  # opened with P's key
    assert any(e["vault"] == RESEARCH.did and e["accessor"] == RR.did for e in entries)
