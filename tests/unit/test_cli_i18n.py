"""The CLI's catalogue of human sentences (``cli/i18n.py``): both languages have every
key the commands use, with the same placeholders; the language follows ``--lang``, else
``LC_ALL``, ``LC_MESSAGES``, ``LANG``; an ``error:`` line is said in it."""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from pathlib import Path

import pytest

from phrchain.cli.i18n import LANGS, MESSAGES, current, say, set_lang
from phrchain.cli.main import main

CLI = Path(__file__).resolve().parents[2] / "src" / "phrchain" / "cli"
HANGUL = re.compile("[\uac00-\ud7a3]")
LOCALE_VARS = ("LC_ALL", "LC_MESSAGES", "LANG")


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.fixture(autouse=True)
def no_locale(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in LOCALE_VARS:
        monkeypatch.delenv(name, raising=False)
    set_lang(None)
    yield
    set_lang(None)  # --lang is per process: leave none behind for other tests


def test_both_languages_have_the_same_keys_and_placeholders() -> None:
    assert set(LANGS) == set(MESSAGES)
    assert set(MESSAGES["en"]) == set(MESSAGES["ko"])
    for key, english in MESSAGES["en"].items():
        assert placeholders(english) == placeholders(MESSAGES["ko"][key]), key


def test_every_key_the_commands_use_is_in_both_languages() -> None:
    used = set()
    for source in CLI.glob("*.py"):
        used |= set(re.findall(r'\bsay\(\s*"([^"]+)"', source.read_text(encoding="utf-8")))
        used |= set(re.findall(r'\bsay\(\s*"[^"]+"\s+if\s+[^)]*?\belse\s+"([^"]+)"',
                               source.read_text(encoding="utf-8")))
    assert len(used) > 50
    for lang in LANGS:
        assert sorted(used - set(MESSAGES[lang])) == [], lang


def test_nothing_in_korean_is_left_in_english() -> None:
    for key, text in MESSAGES["ko"].items():
        assert HANGUL.search(text), key
        assert text != MESSAGES["en"][key], key


@pytest.mark.parametrize(("env", "lang"), [
    ({}, "en"),
    ({"LANG": "ko_KR.UTF-8"}, "ko"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({"LANG": "en_US.UTF-8", "LC_ALL": "ko_KR.UTF-8"}, "ko"),
    ({"LANG": "ko_KR.UTF-8", "LC_ALL": "C"}, "en"),
    ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "ko_KR.UTF-8"}, "ko"),
    ({"LANG": "ko", "LC_ALL": ""}, "ko"),  # an empty variable is not set
])
def test_the_language_follows_the_environment(monkeypatch: pytest.MonkeyPatch,
                                              env: dict[str, str], lang: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert current() == lang


def test_lang_option_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "ko_KR.UTF-8")
    set_lang("en")
    assert say("consent.revoked", consent="c1") == \
        "revoked consent c1: every later access decision refuses it"
    set_lang("ko")
    monkeypatch.setenv("LANG", "C")
    assert say("consent.revoked", consent="c1") == \
        "동의 c1 를 철회했습니다: 이후의 모든 열람 요청이 거절됩니다"
    with pytest.raises(ValueError, match="one of"):
        set_lang("fr")


@pytest.mark.parametrize(("argv", "env", "expected"), [
    ([], {"LANG": "C.UTF-8"}, "error: --reason goes with --break-glass only\n"),
    ([], {"LANG": "ko_KR.UTF-8"}, "error: --reason 은 --break-glass 와 함께만 씁니다\n"),
    (["--lang", "ko"], {}, "error: --reason 은 --break-glass 와 함께만 씁니다\n"),
    (["--lang", "en"], {"LC_ALL": "ko_KR.UTF-8"},
     "error: --reason goes with --break-glass only\n"),
])
def test_an_error_line_in_the_language(monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str], argv: list[str],
                                       env: dict[str, str], expected: str) -> None:
    """Refused before any wallet, node or vault is touched: exit 2, one line, ``error:``
    kept as the prefix in both languages."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = main([*argv, "records", "read", "0" * 32, "--reason", "not an emergency"])
    out, err = capsys.readouterr()
    assert (code, out, err) == (2, "", expected)
