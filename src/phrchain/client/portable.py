"""The portable patient-held record (M7): the patient carries their encrypted health data
in one passphrase-protected file, and is treated with it at any institution.

::

    report = export_portable(session, "me.phr", passphrase)   # the patient's Session
    report = verify_portable("me.phr", passphrase, validator=DID)     # offline
    report = import_portable("me.phr", passphrase, node, validator=DID,
                             vault_org=HOSPITAL, directory={HOSPITAL: url})

Export gathers, at one height H, every record the patient owns that is not erased (its
descriptor's state proof, all ciphertext chunks, the patient's wrapped key), every
consent (state proof), the audit-log head (state proof), the patient's identity (state
proof) and the validator-signed header of H, plus the patient's keys; it verifies what
it gathered exactly as an importer will, then seals it (``portable_file``).

Import verifies everything against the trust anchor the *importer* names
(``portable_check``), then checks the target node, and only then writes: one
``records/add_holder`` per record the target institution does not hold yet, then a copy
of each record to its vault with the data key wrapped for the patient, the institution
and the institution's standing-consent readers. Format, checks and threat model:
``docs/portable.md``.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from phrchain.client.http import ApiError
from phrchain.client.portable_check import (
    PortableReport,
    Target,
    Verified,
    check_target,
    verify_payload,
)
from phrchain.client.portable_file import (
    DEFAULT_MAX_BYTES,
    HARD_MAX_BYTES,
    CarriedRecord,
    Payload,
    PortableError,
    read,
    seal,
    split_chunks,
    write,
)
from phrchain.client.records import MSGS_PER_TX
from phrchain.client.session import Session
from phrchain.client.wallet import DEFAULT_KDF, KdfParams, RandomBytes, Wallet
from phrchain.core import rfc9162
from phrchain.core.errors import PhrError
from phrchain.modules.records.messages import AddHolder
from phrchain.vault import crypto
from phrchain.vault.crypto import RecordMeta
from phrchain.vault.descriptor import Descriptor

__all__ = ["PortableError", "PortableReport", "export_portable", "import_portable",
           "verify_portable"]


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


# -- export ----------------------------------------------------------------------------------
def export_portable(session: Session, out: Path | str, passphrase: str | bytes, *,
                    validator: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
                    leave_out_larger_than: int | None = None, kdf: KdfParams = DEFAULT_KDF,
                    now_ms: Callable[[], int] = _wall_ms,
                    random_bytes: RandomBytes = secrets.token_bytes,
                    carry: Wallet | None = None) -> PortableReport:
    """Write the portable record of the session's wallet (a patient) to ``out`` (new,
    0600).

    ``carry``: the patient's wallet when the session is one of its pseudonyms: its
    pseudonym root and map travel in the file with the pseudonym's keys (encrypted like
    the rest), so the file restores every pseudonym, not only the exported one.

    ``validator``: the solo validator DID to check the gathered proofs against (default:
    the one the node reports). Size policy (``docs/portable.md``): records bigger than
    ``leave_out_larger_than`` are listed as left out (their proven descriptor travels,
    their ciphertext stays at its vaults); the carried ciphertext may total at most
    ``max_bytes`` (at most 1 GiB), else nothing is written."""
    if not 0 < max_bytes <= HARD_MAX_BYTES:
        raise PortableError(f"max_bytes must be 1..{HARD_MAX_BYTES}")
    if Path(out).exists():
        raise PortableError(f"{out} already exists; refusing to overwrite a file")
    payload, validator = build_payload(session, validator, max_bytes, leave_out_larger_than,
                                       now_ms())
    if carry is not None:
        payload = dataclasses.replace(payload, wallet=dataclasses.replace(
            payload.wallet, root=carry.root, pseudonym_map=dict(carry.pseudonym_map)))
    verified = verify_payload(payload, validator, payload.anchor["chain_id"])
    write(out, seal(payload, passphrase, kdf, random_bytes))
    return verified.report


def build_payload(session: Session, validator: str | None, max_bytes: int,
                  leave_out_larger_than: int | None, created_ms: int
                  ) -> tuple[Payload, str]:
    """Gather the payload at the node's latest height (nothing is verified here)."""
    node, did = session.node, session.wallet.did
    validator = validator or node.status().get("validator")
    if not isinstance(validator, str) or not validator.startswith("did:key:"):
        raise PortableError("the node names no solo validator DID (a CometBFT network?): "
                            "a portable record carries solo-engine proofs only "
                            "(docs/portable.md)")
    header = node.header(None)
    height = int(header["header"]["height"])

    def proved(path: str, **data: str) -> dict[str, Any]:
        return dict(node.query(path, data, height=height, prove=True))

    def listed(path: str, name: str, **data: str) -> Iterator[str]:
        after = None
        while True:
            page = node.query(path, {**data, **({} if after is None else {"after": after})},
                              height=height)["value"]
            yield from page[name]
            after = page["next"]
            if after is None:
                return

    carry, left_out, total = [], [], 0
    for record in list(listed("records/patient", "records", patient=did)):
        proof = proved("records/get", record=record)
        d = proof["value"]
        if d is None or d["status"] == "erased":
            continue
        if leave_out_larger_than is not None and d["size"] > leave_out_larger_than:
            left_out.append({"record": record, "proof": proof, "reason": (
                f"{d['size']} bytes, larger than the {leave_out_larger_than} bytes chosen "
                "at export")})
            continue
        total += d["size"]
        carry.append((record, proof))
    if total > max_bytes:
        raise PortableError(f"the records total {total} ciphertext bytes, over the "
                            f"{max_bytes}-byte limit of one file: raise the limit (at most "
                            f"{HARD_MAX_BYTES}) or leave large objects out")
    records = tuple(_fetch(session, record, proof, height) for record, proof in carry)
    consents = tuple({"consent": c, "proof": proved("consent/get", consent=c)}
                     for c in listed("consent/patient", "consents", patient=did))
    payload = Payload(
        session.wallet, {"engine": "solo", "chain_id": node.chain_id(), "validator": validator},
        height, header, proved("identity/did", did=did), records, tuple(left_out), consents,
        proved("audit/head", patient=did), created_ms)
    return payload, validator


def _fetch(session: Session, record: str, proof: dict[str, Any], height: int
           ) -> CarriedRecord:
    """The record's ciphertext and the patient's wrapped key, from its custodian's vault,
    else from another holder's (an audited access, purpose PATRQT)."""
    d = proof["value"]
    holders = session.node.query("records/holders", {"record": record},
                            height=height)["value"]["holders"]
    failures = []
    for org in [d["custodian"], *(h for h in holders if h != d["custodian"])]:
        if org not in session.directory:
            failures.append(f"{org}: no vault address known")
            continue
        try:
            vault = session.vault(org)
            answer = vault.access(record, "read", "PATRQT")
            parts = answer["parts"] or [vault.chunk(record, i, answer["ticket"])
                                        for i in range(int(answer["meta"]["chunks"]))]
            chunks = [p.data for p in sorted(parts, key=lambda p: p.index)]
            sealed = answer.get("descriptor")
            return CarriedRecord(record, proof, tuple(rfc9162.leaf_hash(c) for c in chunks),
                                 bytes.fromhex(answer["wrapped_key"]), b"".join(chunks),
                                 bytes.fromhex(sealed) if sealed else None)
        except (ApiError, PhrError, ValueError, KeyError) as exc:
            failures.append(f"{org}: {exc}")
    raise PortableError(f"record {record}: no vault holding it could be read "
                        f"({'; '.join(failures)})")


# -- verify and import -----------------------------------------------------------------------
def verify_portable(path: Path | str, passphrase: str | bytes, *, validator: str,
                    chain_id: str | None = None) -> PortableReport:
    """Decrypt and verify a portable file offline against ``validator``."""
    return verify_payload(read(path, passphrase), validator, chain_id).report


def import_portable(path: Path | str, passphrase: str | bytes, node: Any, *, validator: str,
                    vault_org: str, directory: Mapping[str, str], chain_id: str | None = None,
                    dry_run: bool = False) -> PortableReport:
    """Verify the file and the target node completely, then (unless ``dry_run``) make
    every carried record servable by ``vault_org``'s vault. Raises
    :class:`PortableError` naming the first failing item, before anything is written."""
    if vault_org not in directory:
        raise PortableError(f"target vault: no address known for {vault_org}")
    verified = verify_payload(read(path, passphrase), validator, chain_id)
    target = check_target(verified, node, validator, vault_org)
    if not dry_run:
        _write(verified, target, node, directory[vault_org])
    return verified.report


def _write(verified: Verified, target: Target, node: Any, url: str) -> None:
    payload, report, org = verified.payload, verified.report, target.org
    wallet = payload.wallet
    session = Session(node, wallet, {org: url})
    try:
        to_add = [r for r in verified.descriptors if org not in target.holders[r]]
        session.sender.send_many([[AddHolder(r, org).to_msg() for r in to_add[i:i + MSGS_PER_TX]]
                             for i in range(0, len(to_add), MSGS_PER_TX)])
        report.holders_added = to_add
        for carried in payload.records:
            d = verified.descriptors[carried.record]
            record_id, data_key = bytes.fromhex(carried.record), \
                verified.data_keys[carried.record]
            # The proven keys last: consent/readers is an unproven node answer.
            opened = verified.opened[carried.record]
            readers = {**_org_readers(session, d, opened, org), wallet.did: wallet.enc_key,
                       org: target.org_enc_key}
            wrapped = {did: crypto.wrap_key(data_key, enc, record_id, did)
                       for did, enc in readers.items()}
            meta = RecordMeta(record_id, d["patient"], bytes.fromhex(d["hash"]), opened.size,
                              opened.chunks, bytes.fromhex(d["commitment"]))
            session.vault(org).copy(meta, wrapped,
                                    split_chunks(carried.ciphertext, opened.size,
                                                 opened.chunks),
                                    descriptor=carried.descriptor)
            report.uploaded.append(carried.record)
        report.written = True
    finally:
        session.close()


def _org_readers(session: Session, d: Mapping[str, Any], opened: Descriptor,
                 org: str) -> dict[str, bytes]:
    """Grantees of the patient's standing consents covering this record who act for
    ``org`` (``consent/readers``, as the SDK's writers use it)."""
    readers = session.q("consent/readers", patient=d["patient"],
                        record=d["record"])["readers"]
    return {r["did"]: bytes.fromhex(r["enc_key"]) for r in readers
            if r["did"] != d["patient"] and (r["did"] == org or session.identity(
                r["did"]).get("organization") == org)}

