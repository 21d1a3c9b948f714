"""Release gates: k-anonymity and l-diversity over the declared quasi-identifiers, and a
residual-identifier scan. Each returns what it found; :func:`require` raises the refusal.

A patient is one row: each quasi-identifier is the set of values its path reaches in the
patient's *output* resources (joined, sorted), the sensitive attribute likewise. ``k`` is
the size of the smallest class of rows with equal quasi-identifiers; ``l`` the smallest
number of distinct sensitive values within a class (distinct l-diversity).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from phrchain.deid.errors import BELOW_K, BELOW_L, RESIDUAL_IDENTIFIER

# Korean resident registration number (YYMMDD-GNNNNNN; G 1-8 incl. foreigners),
# phone numbers (KR and NANP shapes), e-mail addresses.
PATTERNS: Final = {
    "rrn": re.compile(r"(?<![0-9A-Za-z])\d{6}-?[1-8]\d{6}(?![0-9A-Za-z])"),
    "phone": re.compile(r"(?<![0-9A-Za-z-])(\+?\d{1,3}[ -])?\(?\d{1,4}\)?[ -]\d{3,4}-\d{4}"
                        r"(?![0-9A-Za-z-])"),
    "email": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+"),
}
# Every phone match ends in "-" and four digits, at most PHONE_REACH characters after
# its start: :func:`count` looks for that tail (a literal search, fast) and tries the
# pattern only at the starts that could reach it; same matches as ``findall``.
_PHONE_TAIL: Final = re.compile(r"-\d{4}")
PHONE_REACH: Final = 16      # (\+?\d{1,3}[ -])?  \(?\d{1,4}\)?[ -]\d{3,4}  before the tail
MIN_SCAN: Final = 4          # shorter source strings would match by chance
# JSON punctuation and white space end a token: what is left are the words of values.
_SPLIT: Final = str.maketrans({c: " " for c in '"{}[],:\n\r\t'})
_ONE_TOKEN: Final = re.compile(r"[^\s\"{}\[\],:]+")


def values(resources: Iterable[Mapping[str, Any]], path: str) -> str:
    """The sorted, distinct values ``Type.a.b`` reaches (codes of a coded element)."""
    rtype, *elements = path.split(".")
    found: set[str] = set()
    for resource in resources:
        if resource.get("resourceType") == rtype:
            _collect(resource, elements, found)
    return "|".join(sorted(found))


def _collect(node: Any, elements: Sequence[str], found: set[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _collect(item, elements, found)
    elif elements:
        if isinstance(node, dict) and elements[0] in node:
            _collect(node[elements[0]], elements[1:], found)
    elif isinstance(node, dict):
        for coding in node.get("coding", []):
            if isinstance(coding, dict) and "code" in coding:
                found.add(f"{coding.get('system', '')}|{coding['code']}")
    elif node is not None:
        found.add(str(node))


def rows(patients: Sequence[Sequence[Mapping[str, Any]]], quasi: Sequence[str],
         sensitive: str) -> list[tuple[tuple[str, ...], str]]:
    return [(tuple(values(p, q) for q in quasi), values(p, sensitive)) for p in patients]


def k_and_l(table: Sequence[tuple[tuple[str, ...], str]]) -> tuple[int, int]:
    """``(k, l)`` of the rows (``(0, 0)`` for no rows)."""
    classes: dict[tuple[str, ...], set[str]] = defaultdict(set)
    sizes: dict[tuple[str, ...], int] = defaultdict(int)
    for quasi, secret in table:
        classes[quasi].add(secret)
        sizes[quasi] += 1
    if not sizes:
        return 0, 0
    return min(sizes.values()), min(len(s) for s in classes.values())


def source_strings(resources: Iterable[Mapping[str, Any]]) -> set[str]:
    """Names, identifier and telecom values, address parts and exact birth dates of the
    source Patients and RelatedPersons: what must not reach the output."""
    found: set[str] = set()
    for r in resources:
        if r.get("resourceType") not in ("Patient", "RelatedPerson", "Person"):
            continue
        for name in r.get("name", []):
            parts = [*name.get("given", []), name.get("family", ""), name.get("text", "")]
            found.update(p for p in parts if p)
            if name.get("given") and name.get("family"):
                found.add(f"{name['given'][0]} {name['family']}")
        for key in ("identifier", "telecom"):
            found.update(str(i["value"]) for i in r.get(key, []) if i.get("value"))
        for address in r.get("address", []):
            found.update(address.get("line", []))
            found.update(str(address[k]) for k in ("city", "district", "text", "postalCode")
                         if address.get(k))
        if r.get("birthDate"):
            found.add(str(r["birthDate"]))
    return {s for s in found if len(s) >= MIN_SCAN}


def scan(lines_by_patient: Sequence[Sequence[str]],
         strings_by_patient: Sequence[set[str]]) -> dict[str, int]:
    """Counts of findings by kind, never the values: ``source`` (a source string in its
    own patient's lines), ``source_token`` (a one-token source string anywhere in the
    dataset), or a pattern's name."""
    found: dict[str, int] = defaultdict(int)
    every_token: set[str] = set()
    for lines, strings in zip(lines_by_patient, strings_by_patient, strict=True):
        text = "\n".join(lines)
        words = set(text.translate(_SPLIT).split())
        every_token |= words
        found["source"] += sum(1 for s in strings if s in text)
        for kind, pattern in PATTERNS.items():
            found[kind] += _found(kind, pattern, text, words)
    tokens = {s for strings in strings_by_patient for s in strings
              if _ONE_TOKEN.fullmatch(s)}
    found["source_token"] = len(tokens & every_token)
    return {kind: n for kind, n in found.items() if n}


def count(pattern: re.Pattern[str], tail: re.Pattern[str], reach: int, text: str) -> int:
    """``len(pattern.findall(text))`` for a pattern each of whose matches, starting at
    ``s``, holds a match of ``tail`` (a pattern without look-arounds) starting within
    ``s .. s + reach``: only the starts up to ``reach`` before each ``tail`` are tried,
    leftmost first and never overlapping, as ``findall`` does."""
    found, pos = 0, 0
    while (hint := tail.search(text, pos)) is not None:
        at = hint.start()
        for start in range(max(pos, at - reach), at + 1):
            m = pattern.match(text, start)
            if m is not None:
                found, pos = found + 1, max(m.end(), start + 1)
                break
        else:
            pos = at + 1
    return found


def _found(kind: str, pattern: re.Pattern[str], text: str, words: set[str]) -> int:
    """``len(pattern.findall(text))``, found sooner. ``words``: the text's distinct
    words (split at white space and JSON punctuation). An RRN match holds neither, and
    to its look-arounds those characters are what a string's ends are: a match lies
    within one word and is found in it alone, so a text none of whose distinct words
    holds one holds none (its distinct words are about a fifth of its length)."""
    if kind == "phone":
        return count(pattern, _PHONE_TAIL, PHONE_REACH, text)
    if kind == "email" and "@" not in text:      # (the pattern needs an @)
        return 0
    if kind == "rrn" and pattern.search("\n".join(words)) is None:
        return 0
    return len(pattern.findall(text))


def require(k: int, l: int, need_k: int, need_l: int,  # noqa: E741
            findings: Mapping[str, int]) -> None:
    """Raise the refusal of the first gate that fails."""
    if k < need_k:
        raise BELOW_K(f"k = {k}, the release needs k >= {need_k}")
    if l < need_l:
        raise BELOW_L(f"l = {l}, the release needs l >= {need_l}")
    if findings:
        raise RESIDUAL_IDENTIFIER(", ".join(f"{n} {kind}" for kind, n in sorted(
            findings.items())))
