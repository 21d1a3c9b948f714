"""A custodian vault's research release (issue 17), as HTTP routes added to the vault
app by :func:`include_research_routes` (one line in ``gateway/http.py``). Every route
takes a signed request (``vault/requests.py``); errors have the vault's error body.

- ``POST /v1/vault/research/releases`` (a release officer): prepare: match, open,
  de-identify, gate;
- ``POST /v1/vault/research/releases/{dataset}/approve`` (the same officer): sign,
  send the manifest;
- ``GET /v1/vault/research/releases/{dataset}?part=`` (the study's institute or its
  researcher): the dataset (or one continuation part) sealed for it.

- ``DELETE /v1/vault/research/releases/{dataset}/key`` (a release officer): the study
  is over: the key file is overwritten and removed, ``research/destroy_key`` sent.

A ``part`` > 1 in the prepare body makes a continuation (``research/release_part``)
of the dataset under the same key.

A release officer is an active practitioner of this vault's own institution with a
release role (``auditor`` or ``researcher``: the roles the chain accepts as a dataset's
approver). Preparing runs :func:`phrchain.research.vault.prepare` over the records this
vault holds of the request's included donors, with a pseudonymisation key the vault
creates per dataset and keeps (``research/keys/``, never sent anywhere); the answer
holds the manifest and the bytes to sign, never a record. Approving checks the
officer's signature of those bytes, sends ``research/release`` signed by the
institution, and serves the dataset sealed for the study's institute (its registered
X25519 key), which fetches it with the third route.

Durable (``gateway/research_store.py``): preparing seals the dataset for the study at
once and keeps the package and the unsigned manifest in the vault's release store, so a
restart between prepare and approve loses nothing. A preparation not approved within
``VaultConfig.research_release_ttl_s`` (24 h) expires: approve refuses it
(``research/21``) and :meth:`ResearchReleases.sweep` (at open, on every prepare and
approve) deletes it
with its package, and its key file when no other release of the dataset uses it. A
manifest the chain committed just before a crash (the row still ``prepared``) is found
on chain and served. ``vault verify`` reports orphans (``gateway/research_verify.py``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from typing import Annotated, Any, Final

from fastapi import FastAPI, Query, Request
from starlette.concurrency import run_in_threadpool

from phrchain.core import keys
from phrchain.core.errors import CodedError, CryptoError
from phrchain.deid import Config, default_config
from phrchain.deid.config import parse as parse_config
from phrchain.gateway.intake import SMALL_BODY, Intake
from phrchain.gateway.research_store import LEGACY_DIR, RELEASED, ReleaseStore, Row
from phrchain.gateway.service import Vault, wall_clock_ms
from phrchain.modules.research.messages import (
    MAX_PARTS,
    DestroyKey,
    Leaf,
    Release,
    ReleasePart,
)
from phrchain.modules.research.roles import APPROVER_ROLES, RESEARCHER
from phrchain.research import errors as r
from phrchain.research import vault as release_lib
from phrchain.vault.gateway_errors import MALFORMED_REQUEST

log = logging.getLogger(__name__)
CONFIG_BODY: Final = 256 << 10
_HEX32: Final = frozenset("0123456789abcdef")


def _id(value: Any, name: str) -> str:
    if not isinstance(value, str) or len(value) != 32 or not set(value) <= _HEX32:
        raise MALFORMED_REQUEST(f"{name} must be 32 lowercase hex")
    return value


class ResearchReleases:
    def __init__(self, vault: Vault, *, ttl_s: float | None = None) -> None:
        self.vault = vault
        self.directory = vault.config.directory / "research"
        self.store = ReleaseStore(self.directory)
        ttl = vault.config.research_release_ttl_s if ttl_s is None else ttl_s
        self.ttl_ms = int(ttl * 1000)
        self._busy: dict[str, int] = {}   # datasets being prepared: their key is in use
        self._lock = threading.Lock()
        try:
            self.sweep()          # what expired while the vault was stopped
        except CodedError:
            log.warning("research releases: sweep deferred, the chain did not answer")

    def _q(self, path: str, **data: Any) -> Any:
        return self.vault.query(path, data)

    def _officer(self, caller: str) -> dict[str, Any]:
        who = self.vault.acting(caller)
        if who is None or who["kind"] != "practitioner" \
                or who.get("organization") != self.vault.org \
                or not APPROVER_ROLES & set(who.get("roles", ())):
            raise r.NOT_RELEASE_OFFICER(f"{caller} in {self.vault.org}")
        return who

    def _candidates(self, request: str) -> list[str]:
        """Held records whose owner the chain matched ``included`` (opened only then)."""
        included, after = set(), None
        while True:
            page = self._q("research/outcomes", request=request,
                           **({} if after is None else {"after": after}))
            included |= {d for d in page["donors"] if self._q(
                "research/outcome", request=request, donor=d)["outcome"] == "included"}
            after = page["next"]
            if after is None:
                break
        held = [rid.hex() for rid in self.vault.store.record_ids()]
        found = release_lib.descriptors(self._q, held)     # in batches, not one by one
        return [r for r in held if found[r] is not None and found[r]["patient"] in included]

    def prepare(self, caller: str, body: bytes) -> dict[str, Any]:
        self._officer(caller)
        try:
            data = json.loads(body)
            request, dataset = _id(data["request"], "request"), _id(data["dataset"], "dataset")
            year, recorded = int(data["reference_year"]), str(data["recorded"])
            part = int(data.get("part", 1))
            if not 1 <= part <= MAX_PARTS:
                raise ValueError(part)
            config = parse_config(data["config"]) if data.get("config") else default_config()
        except (KeyError, TypeError, ValueError, AttributeError):
            raise MALFORMED_REQUEST("request, dataset, reference_year and recorded are "
                                    "required; config and part are optional") from None
        self.sweep()
        on_chain = self._q("research/dataset", dataset=dataset)
        if on_chain is not None and on_chain["key_destroyed_height"] is not None:
            raise r.RELEASE_REFUSED(f"{dataset}: its key was destroyed (study over)")
        with self._lock:
            self._busy[dataset] = self._busy.get(dataset, 0) + 1
        try:
            prepared = self._prepare(caller, request, dataset, part, config, year, recorded)
        finally:
            with self._lock:
                self._busy[dataset] -= 1
                if not self._busy[dataset]:
                    del self._busy[dataset]
            self._drop_key_if_unused(dataset)   # a failed first preparation leaves none
        manifest = prepared.manifest.to_msg()
        for name in ("type", "approver", "approval"):
            manifest.pop(name, None)
        return {"dataset": dataset, "part": part, "study": prepared.study,
                "manifest": manifest,
                "sign": release_lib.to_sign(prepared).hex(),
                "report": prepared.dataset.report}

    def _prepare(self, caller: str, request: str, dataset: str, part: int,
                 config: Config, year: int, recorded: str) -> release_lib.Released:
        """De-identify and gate, seal for the study, keep it durably (``ReleaseStore``:
        key file, package, row; a crash in between leaves no release)."""
        held = release_lib.open_held(self.vault, self._candidates(request))
        now = wall_clock_ms()
        prepared = release_lib.prepare(
            self._q, request, held, config=config, key=self.store.key(dataset),
            dataset=dataset, reference_year=year, recorded=recorded, now_ms=now, part=part)
        manifest = prepared.manifest.to_msg()
        for name in ("approver", "approval"):
            manifest.pop(name)
        self.store.put(dataset, part, caller, manifest, prepared.study, prepared.config,
                       prepared.key, self._seal(prepared, dataset), now, self.ttl_ms)
        return prepared

    def approve(self, caller: str, dataset: str, body: bytes) -> dict[str, Any]:
        who = self._officer(caller)
        self.sweep()
        row = self.store.prepared(caller, dataset)
        if row is None:
            raise r.NOT_PREPARED(dataset)
        if row.expires_ms <= wall_clock_ms():
            raise r.NOT_PREPARED(f"{dataset}: its preparation expired")
        manifest = _unsigned(row)
        try:
            approval = bytes.fromhex(json.loads(body)["approval"])
            keys.verify(bytes.fromhex(who["signing_key"]), approval,
                        release_lib.manifest_to_sign(manifest, row.study, row.config, row.key))
        except (KeyError, TypeError, ValueError, CryptoError):
            raise r.BAD_RELEASE_SIGNATURE(dataset) from None
        approved = dataclasses.replace(manifest, approver=caller, approval=approval)
        result = self.vault.sender.send_now([approved.to_msg()])
        if result.get("code", 0) != 0:
            raise r.RELEASE_REFUSED(f"{result.get('codespace')}/{result.get('code')}: "
                                    f"{result.get('log', '')}")
        self.store.mark_released(row.blob)   # a crash before this: _committed() finds it
        return {"dataset": dataset, "manifest": self._q("research/dataset", dataset=dataset)}

    def _seal(self, released: release_lib.Released, dataset: str) -> dict[str, Any]:
        institute = self._q("research/study", study=released.study)["institute"]
        org = self._q("identity/did", did=institute)
        return release_lib.seal_for_study(released.dataset, dataset, institute,
                                          bytes.fromhex(org["enc_key"]))

    def _committed(self, row: Row) -> bool:
        """Is this prepared part's manifest on chain (sent, then the vault stopped)?"""
        found = self._q("research/dataset", dataset=row.dataset)
        if found is None or found.get("custodian") != self.vault.org:
            return False
        roots = list(found.get("part_roots") or [found["root"]])
        return len(roots) >= row.part and roots[row.part - 1] == row.manifest["root"]

    def sweep(self) -> int:
        """Expired preparations: kept as released if the chain has their manifest, else
        deleted with their package, and their key file if nothing else uses it; then
        key files of no release (crash before the row, or a failed preparation)."""
        gone = 0
        for row in self.store.expired(wall_clock_ms()):
            if self._committed(row):
                self.store.mark_released(row.blob)
                continue
            self.store.drop(row.blob)
            gone += 1
            self._drop_key_if_unused(row.dataset)
        for dataset in self.store.orphan_keys():
            gone += self._drop_key_if_unused(dataset)
        if gone:
            log.info("research releases: %d expired or orphaned item(s) deleted", gone)
        return gone

    def _drop_key_if_unused(self, dataset: str) -> int:
        with self._lock:
            if dataset in self._busy or dataset not in self.store.orphan_keys():
                return 0
            if self._q("research/dataset", dataset=dataset) is not None:
                return 0      # released on chain (before this store): the key stays
            return int(self.store.shred_key(dataset))

    def destroy_key(self, caller: str, dataset: str) -> dict[str, Any]:
        """(a release officer) the study is over: the dataset's key file is overwritten and
        removed here, then ``research/destroy_key`` records it on chain."""
        self._officer(caller)
        manifest = self._q("research/dataset", dataset=_id(dataset, "dataset"))
        if manifest is None or manifest["custodian"] != self.vault.org:
            raise r.NOT_PREPARED(f"no dataset {dataset} released by this vault")
        self.store.shred_key(dataset)
        result = self.vault.sender.send_now([DestroyKey(dataset).to_msg()])
        if result.get("code", 0) != 0:
            raise r.RELEASE_REFUSED(f"{result.get('codespace')}/{result.get('code')}: "
                                    f"{result.get('log', '')}")
        return {"dataset": dataset, "manifest": self._q("research/dataset", dataset=dataset)}

    def _served(self, dataset: str, part: int) -> dict[str, Any] | None:
        for row in self.store.rows(dataset, part):
            if row.status == RELEASED or self._committed(row):
                if row.status != RELEASED:
                    self.store.mark_released(row.blob)
                return self.store.package(row.blob)
        name = dataset if part == 1 else f"{dataset}-part{part}"
        legacy = self.directory / LEGACY_DIR / f"{name}.json"   # released before the store
        found: dict[str, Any] | None = json.loads(legacy.read_text()) \
            if legacy.exists() else None
        return found

    def package(self, caller: str, dataset: str, part: int = 1) -> dict[str, Any]:
        manifest = self._q("research/dataset", dataset=_id(dataset, "dataset"))
        sealed = None if manifest is None else self._served(dataset, part)
        if manifest is None or sealed is None:
            raise r.NOT_PREPARED(f"no released dataset {dataset} here")
        institute = self._q("research/study", study=manifest["study"])["institute"]
        who = self.vault.acting(caller)
        if who is None or not (caller == institute or (
                who["kind"] == "practitioner" and who.get("organization") == institute
                and RESEARCHER in who.get("roles", ()))):
            raise r.NOT_RELEASE_OFFICER(f"{caller} is not of the study's institute")
        return sealed


def _unsigned(row: Row) -> Release | ReleasePart:
    """The prepared manifest of a stored row (approver and signature still empty)."""
    msg = {k: v for k, v in row.manifest.items() if k != "type"}
    msg.update(approver="", approval=b"",
               leaves=tuple(Leaf(x["record"], int(x["donation"])) for x in msg["leaves"]))
    return ReleasePart(**msg) if row.part > 1 else Release(**msg)


def include_research_routes(app: FastAPI, vault: Vault, intake: Intake) -> ResearchReleases:
    releases = ResearchReleases(vault)

    @app.post("/v1/vault/research/releases")
    async def prepare(request: Request) -> dict[str, Any]:
        async with intake.signed(request, CONFIG_BODY) as (req, body):
            return await run_in_threadpool(releases.prepare, req.caller, body)

    @app.post("/v1/vault/research/releases/{dataset}/approve")
    async def approve(dataset: str, request: Request) -> dict[str, Any]:
        async with intake.signed(request, SMALL_BODY) as (req, body):
            return await run_in_threadpool(releases.approve, req.caller, dataset, body)

    @app.delete("/v1/vault/research/releases/{dataset}/key")
    async def destroy_key(dataset: str, request: Request) -> dict[str, Any]:
        async with intake.signed(request, SMALL_BODY) as (req, _):
            return await run_in_threadpool(releases.destroy_key, req.caller, dataset)

    @app.get("/v1/vault/research/releases/{dataset}")
    async def package(dataset: str, request: Request,
                      part: Annotated[int, Query(ge=1, le=MAX_PARTS)] = 1) -> dict[str, Any]:
        async with intake.signed(request, SMALL_BODY) as (req, _):
            return await run_in_threadpool(releases.package, req.caller, dataset, part)

    return releases
