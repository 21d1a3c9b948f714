"""Writes: ``POST [base]`` with a ``transaction`` or ``batch`` Bundle of new resources.

The import path, reused: every resource is validated (``phrchain.fhir.validate``; a
refusal names the FHIRPath of each invalid element), sealed and wrapped by the SDK's
``RecordsClient.prepare`` for the institution (its readers from ``consent/readers``,
its sealed descriptor, its ``records/register`` message), then handed to the vault's
custody upload (``Vault.upload_many``: the institution's own register txs, journaled)
and waited for until the chain committed them. Only the institution itself (a backend
token whose client is the vault's organization, with a ``c`` scope for the type)
writes. A transaction is all or nothing: one invalid entry and nothing is written; a batch
writes its valid entries and answers each invalid one with its OperationOutcome.

Each entry names its patient by a reference ``Patient/<id>`` (``subject``, ``patient``
…) to a patient identity on chain, by this endpoint's Patient ids (``index.py``).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

from phrchain.client.records import RecordsClient, resource_bytes
from phrchain.client.session import Session
from phrchain.core.errors import CodedError
from phrchain.fhir import category_of, validate
from phrchain.fhir.bundle import COMPARTMENT_FIELDS
from phrchain.fhir.errors import FhirError
from phrchain.fhir.jsonio import loads
from phrchain.fhirapi.errors import (
    BAD_BUNDLE,
    BUNDLE_TOO_LARGE,
    FORBIDDEN,
    INSUFFICIENT_SCOPE,
    INVALID_RESOURCE,
    WRITE_FAILED,
)
from phrchain.fhirapi.index import RecordIndex, instant, patient_did
from phrchain.fhirapi.outcome import outcome_body, status_of
from phrchain.fhirapi.service import Call
from phrchain.gateway.service import Vault, wall_clock_ms
from phrchain.vault.requests import Verified
from phrchain.vault.wire import Upload

MAX_ENTRIES: Final = 500
MAX_BYTES: Final = 8 << 20
REGISTER_TIMEOUT_S: Final = 30.0


@dataclass(frozen=True, slots=True)
class _Me:
    did: str


class _GatewaySession:
    """What ``RecordsClient.prepare`` reads of a Session, answered by the vault's own
    chain port for the institution."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self.wallet = _Me(vault.org)

    def q(self, path: str, **data: Any) -> Any:
        return self.vault.query(path, data)

    def identity(self, did: str) -> dict[str, Any]:
        found = self.q("identity/did", did=did)
        if found is None:
            raise FORBIDDEN(f"{did} is not an identity on chain")
        return dict(found)

    def custodian_of_me(self) -> str:
        return self.vault.org


class Writer:
    max_bytes = MAX_BYTES

    def __init__(self, vault: Vault, index: RecordIndex) -> None:
        self.vault, self.index = vault, index

    def transaction(self, call: Call, body: bytes, too_big: bool) -> dict[str, Any]:
        if too_big or len(body) > MAX_BYTES:
            raise BUNDLE_TOO_LARGE(f"at most {MAX_BYTES} bytes")
        if call.grant.client_id != self.vault.org:
            raise FORBIDDEN("only the institution itself writes records here")
        try:
            bundle = loads(body)
        except (ValueError, UnicodeDecodeError):
            raise BAD_BUNDLE("the body is not JSON") from None
        if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle" \
                or bundle.get("type") not in ("transaction", "batch"):
            raise BAD_BUNDLE("the body is a Bundle of type transaction or batch")
        entries = bundle.get("entry") or []
        if not isinstance(entries, list):
            raise BAD_BUNDLE("Bundle.entry is a list")
        if len(entries) > MAX_ENTRIES:
            raise BUNDLE_TOO_LARGE(f"at most {MAX_ENTRIES} entries")
        batch = bundle["type"] == "batch"
        results: list[tuple[dict[str, Any], str] | CodedError] = []
        for i, e in enumerate(entries):
            try:
                results.append(self._check(call, i, e))
            except CodedError as exc:
                if not batch:  # a transaction is all or nothing
                    raise
                results.append(exc)
        checked = [r for r in results if not isinstance(r, CodedError)]
        records = RecordsClient(cast(Session, _GatewaySession(self.vault)))
        done = [records.prepare(resource_bytes(res), did, resource=str(res["resourceType"]),
                                category=category_of(res)) for res, did in checked]
        if done:
            self._store(call, done)
        answers, made = [], iter(done)
        for r in results:
            if isinstance(r, CodedError):
                refusal = outcome_body(r, getattr(r, "paths", None))
                answers.append({"response": {"status": str(status_of(r)),
                                             "outcome": refusal}})
            else:
                answers.append({"response": {"status": "201 Created", "location":
                                             f"{r[0]['resourceType']}/{next(made).record}"
                                             "/_history/1"}})
        kind = "batch-response" if batch else "transaction-response"
        return {"resourceType": "Bundle", "type": kind, "timestamp": instant(wall_clock_ms()),
                "entry": answers}

    def _check(self, call: Call, index: int, entry: Any) -> tuple[dict[str, Any], str]:
        where = f"Bundle.entry[{index}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("resource"), Mapping):
            raise _invalid(f"{where}: no resource", [f"{where}.resource"])
        request = entry.get("request") or {"method": "POST"}
        if not isinstance(request, Mapping) or request.get("method") != "POST":
            raise BAD_BUNDLE(f"{where}: only POST (create) entries are written")
        resource = dict(entry["resource"])
        try:
            validate(resource)
        except FhirError as exc:
            path = exc.path or str(resource.get("resourceType", "Resource"))
            raise _invalid(f"{where}: {exc.detail}", [path]) from None
        kind = str(resource["resourceType"])
        if not call.grant.scopes.may_write(kind):
            raise INSUFFICIENT_SCOPE(f"no create scope for {kind}")
        did = _patient_of(resource)
        if did is None:
            raise _invalid(f"{where}: names no Patient/<id> of this endpoint",
                           [f"{kind}.subject"])
        identity = self.vault.query("identity/did", {"did": did})
        if identity is None or identity["kind"] != "patient" or identity["status"] != "active":
            raise _invalid(f"{where}: its Patient is not an active patient identity",
                           [f"{kind}.subject"])
        resource.pop("id", None)
        return resource, did

    def _store(self, call: Call, prepared: list[Any]) -> None:
        req = Verified(self.vault.org, secrets.token_hex(16), wall_clock_ms(),
                       call.request_hash)
        uploads = [Upload(p.sealed.meta, p.wrapped, p.sealed.chunks, p.sealed_descriptor,
                          p.msg) for p in prepared]
        self.vault.upload_many(req, uploads)
        pending = [p.record for p in prepared]
        deadline = time.monotonic() + REGISTER_TIMEOUT_S
        while pending:
            found = self.vault.journal.registrations(pending)
            refused = [r for r in pending if found.get(r, ("",))[0] == "refused"]
            if refused:
                raise WRITE_FAILED(f"the chain refused {len(refused)} register message(s)")
            pending = [r for r in pending if found.get(r, ("",))[0] != "committed"]
            if pending and time.monotonic() > deadline:
                raise WRITE_FAILED(f"{len(pending)} record(s) not registered within "
                                   f"{REGISTER_TIMEOUT_S:g} s; they stay journaled")
            if pending:
                self.vault.sender.poke()
                time.sleep(0.02)


def _patient_of(resource: Mapping[str, Any]) -> str | None:
    for name in COMPARTMENT_FIELDS:
        ref = resource.get(name)
        if isinstance(ref, Mapping) and isinstance(ref.get("reference"), str) \
                and ref["reference"].startswith("Patient/"):
            return patient_did(ref["reference"].removeprefix("Patient/"))
    return None


def _invalid(detail: str, paths: list[str]) -> CodedError:
    exc = INVALID_RESOURCE(detail)
    exc.paths = paths  # type: ignore[attr-defined]
    return exc


__all__ = ["Writer"]
