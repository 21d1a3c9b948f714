"""``phrchain claims …`` and ``phrchain money …`` for every role, in-process through
``main`` against a running consortium (node, API, vaults): the insurer's key and product,
a bill paid, a claim filed by choosing records, referred to and decided by a reviewer,
the FHIR views with and without the key, and refusals as one-line errors."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.consortium import A1, AUTHORITY, GA, INSURER, IR, P
from tests.integration.test_cli_records import Cli, Env, cli_env

WHO = {"p": P, "a1": A1, "insurer": INSURER, "ir": IR, "authority": AUTHORITY, "ga": GA}
SNOMED = "http://snomed.info/sct"
RULES = {"name": "Hospital cover", "currency": "USD",
         "covered": [{"system": SNOMED, "code": "73761001", "display": "Colonoscopy"}],
         "excluded": [{"system": SNOMED, "code": "243136001"}],
         "deductible": 0, "copay_bps": 1000, "per_claim_limit": 100_000,
         "yearly_limit": 500_000, "refer_above": 20_000, "review_window_days": 7}
OBSERVATION = {"resourceType": "Procedure", "status": "completed",
               "subject": {"reference": "Patient/p"},
               "code": {"coding": [{"system": SNOMED, "code": "73761001"}]}}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with cli_env(tmp_path_factory.mktemp("cli-claims"), WHO) as e:
        yield e


@pytest.fixture
def cli(env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(env, capsys, monkeypatch)


def test_a_claim_through_the_cli_for_every_role(cli: Cli, env: Env) -> None:
    tmp = env.tmp
    key, rules = tmp / "product.key", tmp / "rules.json"
    cli.ok(None, "claims", "new-key", "--out", str(key))
    assert os.stat(key).st_mode & 0o077 == 0          # a secret: owner-only
    rules.write_text(json.dumps(RULES))
    product = cli.ok("insurer", "claims", "publish", "--slug", "hospital-cover",
                     "--rules", str(rules), "--key", str(key)).strip()
    shown = json.loads(cli.ok(None, "claims", "product", "--insurer", INSURER.did,
                              "--product", product))
    assert shown["version"] == 1 and "73761001" not in json.dumps(shown)
    cli.ok("authority", "money", "mint", "--to", INSURER.did, "--amount", "1000000",
           "--currency", "USD")
    cli.ok("authority", "money", "mint", "--to", P.did, "--amount", "50000",
           "--currency", "USD")
    cli.ok("p", "claims", "enrol", "--insurer", INSURER.did, "--product", product)
    procedure = tmp / "procedure.json"
    procedure.write_text(json.dumps(OBSERVATION))
    record = cli.ok("a1", "records", "add", "--patient", P.did,
                    "--file", str(procedure)).strip()
    bill = cli.ok("a1", "money", "bill", "--patient", P.did, "--amount", "30000",
                  "--currency", "USD", "--encounter", "ENC-77").strip()
    cli.ok("p", "money", "pay", bill)
    time.sleep(2.5)  # coverage starts two seconds after enrolment; the visit is after it
    filed = json.loads(cli.ok("p", "claims", "file", "--insurer", INSURER.did,
                              "--product", product, "--bill", bill, "--records", record,
                              "--line", f"{SNOMED}|73761001=30000", "--key", str(key)))
    # 30,000 covered, 10 % co-pay: the rules give 27,000, above the 20,000 review bar.
    assert (filed["status"], filed["rules_payout"], filed["payout"]) == ("referred", 27000, 0)
    decided = json.loads(cli.ok("ir", "claims", "review", filed["claim"],
                                "--approve", "25000", "--note", "checked the procedure"))
    assert (decided["status"], decided["paid_amount"]) == ("partial", 25000)  # < the rules
    assert decided["review"]["note_hash"] and "checked" not in json.dumps(decided)
    read = json.loads(cli.ok("ir", "claims", "read", filed["claim"]))
    assert read == [OBSERVATION]
    balances = json.loads(cli.ok(None, "money", "balance", P.did))
    assert balances["balances"] == {"USD": 50000 - 30000 + 25000}
    eob = json.loads(cli.ok("p", "claims", "show", filed["claim"], "--fhir",
                            "ExplanationOfBenefit", "--key", str(key), no_vaults=True))
    coding = eob["item"][0]["productOrService"]["coding"][0]
    assert (coding["system"], coding["code"]) == (SNOMED, "73761001")
    assert eob["payment"]["amount"] == {"value": 250, "currency": "USD"}  # 25,000 cents
    listed = json.loads(cli.ok("ga", "claims", "list", "--insurer", INSURER.did))
    assert [c["claim"] for c in listed] == [filed["claim"]]


def test_refusals_are_one_line_errors(cli: Cli, env: Env) -> None:
    err = cli.refused("p", "claims", "file", "--insurer", INSURER.did, "--product", "0" * 32,
                      "--bill", "0" * 32, "--records", "0" * 32, "--line", "nonsense",
                      "--key", str(env.tmp / "product.key"))
    assert "SYSTEM|CODE=AMOUNT" in err
    err = cli.refused("p", "money", "mint", "--to", P.did, "--amount", "5",
                      "--currency", "USD")
    assert "settlement/" in err                                  # only an authority mints
    assert "between" not in cli.refused("p", "money", "bill", "--patient", P.did,
                                         "--amount", "-3", "--currency", "USD",
                                         "--encounter", "x")
    broken = env.tmp / "broken.key"
    broken.write_text("{}")
    assert "not a product key file" in cli.refused(
        "p", "claims", "show", "0" * 32, "--fhir", "Claim", "--key", str(broken),
        no_vaults=True)
    assert Path(env.tmp / "product.key").exists()


def test_korean_human_lines_and_unchanged_json(cli: Cli, env: Env,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``LANG=ko_KR.UTF-8`` the summaries and ``error:`` sentences are Korean, with
    ``--lang en`` English again; the JSON a command prints is the same byte for byte."""
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "ko_KR.UTF-8")
    key, rules = env.tmp / "ko.key", env.tmp / "ko-rules.json"
    code, _, err = cli.run(None, "claims", "new-key", "--out", str(key))
    assert (code, err) == (0, f"새 상품 키를 {key} 에 저장했습니다 (비밀: 가입자에게만 주세요)\n")
    rules.write_text(json.dumps(RULES))
    code, out, err = cli.run("insurer", "--lang", "en", "claims", "publish", "--slug",
                             "ko-cover", "--rules", str(rules), "--key", str(key))
    product = out.strip()
    assert code == 0 and err.startswith(f"published product {product} version 1")
    code, _, err = cli.run("p", "claims", "enrol", "--insurer", INSURER.did,
                           "--product", product, "--days", "30")
    assert (code, err) == (0, f"{INSURER.did} 의 상품 {product} 에 30일 동안 가입했습니다\n")
    err = cli.refused("p", "claims", "file", "--insurer", INSURER.did, "--product", product,
                      "--bill", "0" * 32, "--records", "0" * 32, "--line", "nonsense",
                      "--key", str(key))
    assert err == "error: --line 'nonsense': SYSTEM|CODE=AMOUNT 형식으로 쓰세요\n"
    korean = cli.ok(None, "claims", "product", "--insurer", INSURER.did, "--product", product)
    monkeypatch.setenv("LANG", "C.UTF-8")
    assert cli.ok(None, "claims", "product", "--insurer", INSURER.did,
                  "--product", product) == korean
    assert json.loads(korean)["name"] == RULES["name"]
