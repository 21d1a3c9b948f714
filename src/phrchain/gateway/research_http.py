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
institution, and keeps the dataset sealed for the study's institute (its registered
X25519 key), which fetches it with the third route.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import FastAPI, Query, Request
from starlette.concurrency import run_in_threadpool

from phrchain.core import keys
from phrchain.core.errors import CryptoError
from phrchain.deid import default_config
from phrchain.deid.config import parse as parse_config
from phrchain.gateway.intake import SMALL_BODY, Intake
from phrchain.gateway.service import Vault, wall_clock_ms
from phrchain.modules.research.messages import MAX_PARTS, DestroyKey
from phrchain.modules.research.roles import APPROVER_ROLES, RESEARCHER
from phrchain.research import errors as r
from phrchain.research import vault as release_lib
from phrchain.vault.gateway_errors import MALFORMED_REQUEST

MAX_PENDING: Final = 8
CONFIG_BODY: Final = 256 << 10
_HEX32: Final = frozenset("0123456789abcdef")


def _id(value: Any, name: str) -> str:
    if not isinstance(value, str) or len(value) != 32 or not set(value) <= _HEX32:
        raise MALFORMED_REQUEST(f"{name} must be 32 lowercase hex")
    return value


class ResearchReleases:
    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self.directory = vault.config.directory / "research"
        self._pending: dict[tuple[str, str], release_lib.Released] = {}
        self._lock = threading.Lock()

    def _q(self, path: str, **data: Any) -> Any:
        return self.vault.query(path, data)

    def _officer(self, caller: str) -> dict[str, Any]:
        who = self.vault.acting(caller)
        if who is None or who["kind"] != "practitioner" \
                or who.get("organization") != self.vault.org \
                or not APPROVER_ROLES & set(who.get("roles", ())):
            raise r.NOT_RELEASE_OFFICER(f"{caller} in {self.vault.org}")
        return who

    def _key(self, dataset: str) -> bytes:
        """The dataset's pseudonymisation key: created once, kept in the vault only."""
        path = self.directory / "keys" / f"{dataset}.key"
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(fd, "wb") as out:
            out.write(os.urandom(32))
        return path.read_bytes()

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
        held = release_lib.open_held(self.vault, self._candidates(request))
        prepared = release_lib.prepare(
            self._q, request, held, config=config, key=self._key(dataset), dataset=dataset,
            reference_year=year, recorded=recorded, now_ms=wall_clock_ms(), part=part)
        with self._lock:
            if len(self._pending) >= MAX_PENDING:
                self._pending.pop(next(iter(self._pending)))
            self._pending[(caller, dataset)] = prepared
        manifest = prepared.manifest.to_msg()
        for name in ("type", "approver", "approval"):
            manifest.pop(name, None)
        return {"dataset": dataset, "part": part, "study": prepared.study,
                "manifest": manifest,
                "sign": release_lib.to_sign(prepared).hex(),
                "report": prepared.dataset.report}

    def approve(self, caller: str, dataset: str, body: bytes) -> dict[str, Any]:
        who = self._officer(caller)
        with self._lock:
            prepared = self._pending.get((caller, dataset))
        if prepared is None:
            raise r.NOT_PREPARED(dataset)
        try:
            approval = bytes.fromhex(json.loads(body)["approval"])
            keys.verify(bytes.fromhex(who["signing_key"]), approval,
                        release_lib.to_sign(prepared))
        except (KeyError, TypeError, ValueError, CryptoError):
            raise r.BAD_RELEASE_SIGNATURE(dataset) from None
        approved = release_lib.approve(prepared, caller, approval)
        result = self.vault.sender.send_now([approved.manifest.to_msg()])
        if result.get("code", 0) != 0:
            raise r.RELEASE_REFUSED(f"{result.get('codespace')}/{result.get('code')}: "
                                    f"{result.get('log', '')}")
        with self._lock:
            self._pending.pop((caller, dataset), None)
        self._seal(approved, dataset)
        return {"dataset": dataset, "manifest": self._q("research/dataset", dataset=dataset)}

    def _package(self, dataset: str, part: int) -> Path:
        name = dataset if part == 1 else f"{dataset}-part{part}"
        return self.directory / "datasets" / f"{name}.json"

    def _seal(self, released: release_lib.Released, dataset: str) -> None:
        institute = self._q("research/study", study=released.study)["institute"]
        org = self._q("identity/did", did=institute)
        sealed = release_lib.seal_for_study(released.dataset, dataset, institute,
                                            bytes.fromhex(org["enc_key"]))
        path = self._package(dataset, getattr(released.manifest, "part", 1))
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(json.dumps(sealed, sort_keys=True))

    def destroy_key(self, caller: str, dataset: str) -> dict[str, Any]:
        """(a release officer) the study is over: the dataset's key file is overwritten and
        removed here, then ``research/destroy_key`` records it on chain."""
        self._officer(caller)
        path = self.directory / "keys" / f"{_id(dataset, 'dataset')}.key"
        manifest = self._q("research/dataset", dataset=dataset)
        if manifest is None or manifest["custodian"] != self.vault.org:
            raise r.NOT_PREPARED(f"no dataset {dataset} released by this vault")
        if path.exists():
            with open(path, "r+b") as out:
                out.write(os.urandom(32))
                out.flush()
                os.fsync(out.fileno())
            path.unlink()
        result = self.vault.sender.send_now([DestroyKey(dataset).to_msg()])
        if result.get("code", 0) != 0:
            raise r.RELEASE_REFUSED(f"{result.get('codespace')}/{result.get('code')}: "
                                    f"{result.get('log', '')}")
        return {"dataset": dataset, "manifest": self._q("research/dataset", dataset=dataset)}

    def package(self, caller: str, dataset: str, part: int = 1) -> dict[str, Any]:
        path = self._package(_id(dataset, "dataset"), part)
        manifest = self._q("research/dataset", dataset=dataset)
        if manifest is None or not path.exists():
            raise r.NOT_PREPARED(f"no released dataset {dataset} here")
        institute = self._q("research/study", study=manifest["study"])["institute"]
        who = self.vault.acting(caller)
        if who is None or not (caller == institute or (
                who["kind"] == "practitioner" and who.get("organization") == institute
                and RESEARCHER in who.get("roles", ()))):
            raise r.NOT_RELEASE_OFFICER(f"{caller} is not of the study's institute")
        found: dict[str, Any] = json.loads(path.read_text())
        return found


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
