"""A patient's access log, each entry checked through ``client/audit.py``.

Every entry is checked on its own, so one bad entry shows as *not verified* (with the
reason) instead of hiding the rest: its RFC 9162 inclusion proof against the log head
at the latest height, that head proven by its sparse-Merkle proof against the app hash
of a header the trust anchor signed. With ``proofs`` (the auditor's view) the answer
also carries each inclusion proof and the consistency proofs between the heads at every
inclusion height and the latest one, each checked.

Entries are sealed on chain: each is opened with ``openers`` (the patient's wallet
keys; a regulator's key for its auditors) where it can be, and its plaintext checked
against its commitment (``client/audit.py`` ``open_leaf``); an entry none of them
opens shows as ``"sealed": True`` with only its public fields. A fitting key that does
not open an entry to its commitment marks that entry *not verified*.

A head that does not verify fails the whole log (:class:`ProofError`): without a
proven head, nothing can be marked verified.
"""

from __future__ import annotations

import itertools
from typing import Any

from phrchain.client.anchors import Anchor
from phrchain.client.audit import (
    PUBLIC_FIELDS,
    AuditReader,
    Openers,
    RecordOwners,
    check_consistency,
    check_entry,
    open_leaf,
)
from phrchain.core import encoding
from phrchain.core.errors import CryptoError, PhrError, ProofError


def verified_log(node: Any, patient: str, anchor: Anchor, proofs: bool = False,
                 openers: Openers | None = None) -> dict[str, Any]:
    reader = AuditReader(node, patient, anchor)
    owners = RecordOwners(node)
    latest = reader.head(None)
    entries = []
    for index, leaf in enumerate(reader.leaves(latest)):
        answer = node.query("audit/entry", {"patient": patient, "index": index},
                            height=latest.height)
        found = answer.get("value") or {}
        item: dict[str, Any]
        try:
            if found.get("leaf") != leaf:
                raise ProofError("its leaf differs from the one listed")
            leaf_value = check_entry(answer, latest, patient, index)
            item = {**open_leaf(leaf_value, openers or {}), "verified": True}
            owners.check(item)
        except (ProofError, CryptoError, PhrError, KeyError, TypeError, ValueError) as exc:
            item = {**_unproven(leaf), "index": index, "verified": False,
                    "why": f"entry {index}: {exc}"}
        if item["verified"]:
            item["time_ms"] = anchor.time_ms(int(item["height"]))
        if proofs:
            item["inclusion"] = list(found.get("inclusion") or ())
        entries.append(item)
    out: dict[str, Any] = {
        "patient": patient, "entries": entries,
        "head": {"height": latest.height, "size": latest.size, "root": latest.root.hex()}}
    if proofs:
        out["consistency"] = _consistency(reader, entries, latest)
    return out


def _unproven(leaf: str) -> dict[str, Any]:
    """What the listing says in the clear, to show next to its 'not verified' mark
    (never opened: an unproven leaf is not worth a key)."""
    try:
        value = encoding.decode(bytes.fromhex(leaf))
    except (PhrError, ValueError):
        return {"sealed": True}
    shown = {k: value[k] for k in PUBLIC_FIELDS if k in value} \
        if isinstance(value, dict) else {}
    return {**shown, "sealed": True}


def _consistency(reader: AuditReader, entries: list[dict[str, Any]], latest: Any
                 ) -> list[dict[str, Any]]:
    """The heads at each block that added entries, then the latest, and an RFC 9162
    consistency proof between each two: the log only ever grew."""
    heights = sorted({int(e["height"]) for e in entries if e["verified"]} | {latest.height})
    steps = []
    heads = [reader.head(h) for h in heights]
    for old, new in itertools.pairwise(heads):
        step: dict[str, Any] = {"from": {"height": old.height, "size": old.size},
                                "to": {"height": new.height, "size": new.size}, "proof": []}
        try:
            if 0 < old.size < new.size:
                step["proof"] = reader.node.query("audit/consistency", {
                    "patient": reader.patient, "size1": old.size, "size2": new.size},
                    height=new.height)["value"]["proof"]
            check_consistency(old, new, step["proof"])
            step["verified"] = True
        except (ProofError, CryptoError, PhrError, KeyError, TypeError, ValueError) as exc:
            step.update(verified=False, why=str(exc))
        steps.append(step)
    return steps
