"""Every command that reads a JSON file answers bad bytes with one line, ``error: …``, and
exit code 2, before it signs or sends anything (issue 13, defect 5: deeply nested JSON and
an integer past Python's digit limit ended in a traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phrchain.cli.common import MAX_JSON_DEPTH, CliError, parse_json_object
from phrchain.cli.main import main
from phrchain.client.wallet import Wallet

DID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
REC = "ab" * 16
NODE = "http://127.0.0.1:9"  # nothing listens: a command that got that far would fail

# The bad inputs: (name, file bytes, what the one-line error says).
BAD_FILES = [
    ("nested", b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
    ("nested_object", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nested deeper"),
    ("nested_under_limit_of_parser", b'{"a":' + b"[" * 200 + b"]" * 200 + b"}",
     "nested deeper"),
    ("long_integer", b'{"resourceType": ' + b"7" * 5000 + b"}", "more than 64 digits"),
    ("not_utf8", b'{"name": "\xff\xfe"}', "not UTF-8"),
    ("list", b"[1, 2]", "a list, not an object"),
    ("string", b'"Bundle"', "a string, not an object"),
    ("nan", b'{"value": NaN}', "NaN"),
    ("infinite", b'{"value": 1e999}', "too large"),
    ("surrogate", b'{"name": "\\ud800"}', "surrogate"),
    ("empty", b"", "Expecting value"),
    ("truncated", b'{"resourceType": "Bundle"', "line 1"),
]


def _commands(f: str, good: str, wallet: str) -> list[list[str]]:
    """Each command with the bad file where it reads JSON (``good``: a valid object)."""
    return [
        ["records", "add", "--wallet", wallet, "--patient", DID, "--file", f, "--node", NODE],
        ["records", "import", "--wallet", wallet, "--file", f, "--patients", good,
         "--node", NODE],
        ["records", "import", "--wallet", wallet, "--file", good, "--patients", f,
         "--node", NODE],
        ["records", "read", REC, "--wallet", wallet, "--vaults", f, "--node", NODE],
        ["identity", "show", DID, "--genesis", f, "--node", NODE],
        ["identity", "admit-org", "--wallet", wallet, "--request", f, "--org-type",
         "hospital", "--name", "H", "--node", NODE],
        ["audit", "verify", "--patient", DID, "--genesis", f, "--node", NODE],
        ["audit", "justify", "--patient", DID, "--genesis", good, "--receipt", f,
         "--reason-file", good, "--node", NODE],
        ["claims", "publish", "--wallet", wallet, "--slug", "gold", "--rules", f, "--key",
         good, "--node", NODE],
        ["wallet", "verify", good, "--genesis", f],
    ]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from phrchain.client.wallet import KdfParams

    root = tmp_path_factory.mktemp("json")
    good = root / "good.json"
    good.write_text("{}")
    wallet = root / "wallet.json"
    Wallet.from_secrets(bytes([7]) * 32, bytes([8]) * 32, "w").save(
        wallet, "pass phrase", KdfParams(memory_kib=64, iterations=1, lanes=1))
    out = {"good": str(good), "wallet": str(wallet)}
    for name, data, _ in BAD_FILES:
        (root / f"{name}.json").write_bytes(data)
        out[name] = str(root / f"{name}.json")
    return out


@pytest.mark.parametrize(("name", "data", "says"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_every_json_reading_command_refuses_bad_bytes_in_one_line(
        files: dict[str, str], name: str, data: bytes, says: str,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHRCHAIN_PASSPHRASE", "pass phrase")
    for argv in _commands(files[name], files["good"], files["wallet"]):
        assert main(argv) == 2, argv
        out, err = capsys.readouterr()
        assert out == "", argv
        assert err.startswith("error: ") and err.count("\n") == 1, (argv, err[:300])
        assert says in err and files[name] in err, (argv, err[:300])
        assert "Traceback" not in err and "set_int_max_str_digits" not in err


def test_a_wallet_file_of_brackets_is_refused_in_one_line(
        files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("nested", "nested_object"):
        path = Path(files[name]).with_suffix(".wallet")
        path.write_bytes(Path(files[name]).read_bytes()[:60_000])  # under the size cap
        assert main(["wallet", "show", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and "too deep" in err


def test_depth_and_integers_just_inside_the_limits_are_read() -> None:
    deep = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    value = parse_json_object(f'{{"a": {deep}, "n": {"9" * 64}, "d": 1.50}}'.encode(),
                              "f", "file")
    assert value["n"] == int("9" * 64) and value["d"] == 1.5
    with pytest.raises(CliError, match="nested deeper than 64"):
        parse_json_object(f'{{"a": [{deep}]}}'.encode(), "f", "file")
    text = json.dumps({"name": "Zoë 名前", "n": -12})
    assert parse_json_object(text.encode(), "f", "file") == {"name": "Zoë 名前", "n": -12}
