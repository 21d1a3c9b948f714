"""Money typed by a person is ``[0-9]+`` and nothing else, in the CLI and the web UI alike
(issue 13, defect 6: ``--amount '١٢٣'`` moved 123 KRW, because ``int()`` reads any
Unicode decimal digit, underscores, signs and surrounding spaces)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from phrchain.cli.main import main
from phrchain.client.claims import parse_amount
from phrchain.client.session import RecordsError
from phrchain.modules.settlement.messages import MAX_AMOUNT
from phrchain.web.claims import ReviewBody

DID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
# Each of these is a number to int() (or to float()), and must not be one to us.
REFUSED = [
    "\u0661\u0662\u0663",          # Arabic-Indic 123
    "\u06f1\u06f2\u06f3",          # Extended Arabic-Indic (Persian) 123
    "\uff11\uff12\uff13",          # fullwidth 123
    "\u0967\u0968\u0969",          # Devanagari 123
    "1\u0662",                     # mixed
    "1_000", "+5", "-5", " 12", "12 ", "\t12", "12\n", "1e3", "12.0", "12,000", "0x10",
    "", "1" + "0" * 16, str(MAX_AMOUNT + 1),
]


@pytest.mark.parametrize("text", REFUSED)
def test_the_one_parser_refuses_everything_but_ascii_digits(text: str) -> None:
    with pytest.raises(RecordsError, match="--amount"):
        parse_amount(text, "--amount", low=0)


def test_the_one_parser_reads_ascii_digits_within_the_chain_bounds() -> None:
    assert parse_amount("123") == 123 and parse_amount("007") == 7
    assert parse_amount(str(MAX_AMOUNT)) == MAX_AMOUNT
    assert parse_amount("0", low=0) == 0
    with pytest.raises(RecordsError, match="from 1"):
        parse_amount("0")


@pytest.mark.parametrize("text", REFUSED)
def test_every_cli_amount_is_refused_before_anything_is_signed(
        text: str, capsys: pytest.CaptureFixture[str]) -> None:
    node = ["--node", "http://127.0.0.1:9", "--wallet", "/nonexistent/wallet.json"]
    for argv in (["money", "mint", "--to", DID, "--amount", text, "--currency", "KRW"],
                 ["money", "transfer", "--to", DID, "--amount", text, "--currency", "KRW"],
                 ["money", "bill", "--patient", DID, "--amount", text, "--currency", "KRW",
                  "--encounter", "e-1"],
                 ["claims", "review", "ab" * 16, "--approve", text],
                 ["claims", "file", "--insurer", DID, "--product", "ab" * 16, "--bill",
                  "ab" * 16, "--records", "ab" * 16, "--key", "/nonexistent/key.json",
                  "--line", f"http://snomed.info/sct|73761001={text}"]):
        assert main(argv + node) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
        assert "digits 0-9 only" in err or " from " in err, err
        assert "wallet" not in err, err  # refused before the wallet was even opened


@pytest.mark.parametrize("value", [*REFUSED, 12.0, 12.5, True, -1, MAX_AMOUNT + 1, None, [12]])
def test_the_web_review_form_takes_the_same_amounts(value: object) -> None:
    if value is None:  # a deny has no amount: allowed by the model, refused by the route
        assert ReviewBody(decision="deny", reason="x", amount=None).amount is None
        return
    with pytest.raises(ValidationError):
        ReviewBody(decision="approve", amount=value)


def test_the_web_review_form_reads_typed_and_json_amounts() -> None:
    assert ReviewBody(decision="approve", amount="1000").amount == 1000
    assert ReviewBody(decision="approve", amount=1000).amount == 1000
    assert ReviewBody(decision="approve", amount="0").amount == 0


@pytest.mark.parametrize("text", ["\u0663\u0660", "\uff13\uff10", "3_0", "+30", " 30", "30 ",
                                  "-1", "3e1", str(1 << 63), ""])
def test_whole_number_options_take_ascii_digits_only(
        text: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The same rule for every other number a command takes (days, heights, sizes)."""
    for argv in (["consent", "grant", "--to", DID, "--actions", "read", "--purposes", "TREAT",
                  "--scope", "all", "--days", text],
                 ["records", "range", "ab" * 16, "--start", text, "--length", "1", "--out", "x"],
                 ["identity", "show", DID, "--min-height", text]):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2
        assert "is not a whole number written with the digits 0-9" in capsys.readouterr().err


def test_whole_number_options_read_ascii_digits() -> None:
    from phrchain.cli.common import count

    assert count("30") == 30 and count("0") == 0 and count(str((1 << 63) - 1)) == (1 << 63) - 1
