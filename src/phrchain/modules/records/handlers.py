"""Records handlers: validate → change state → emit events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from phrchain.core.module import Context, Handler
from phrchain.core.tx import Msg
from phrchain.modules.identity import parties
from phrchain.modules.records import keeper
from phrchain.modules.records.errors import (
    ALREADY_EXISTS,
    ALREADY_HOLDER,
    BAD_CUSTODIAN,
    NOT_ACTIVE,
    NOT_FOUND,
    UNAUTHORIZED,
    UNKNOWN_PATIENT,
)
from phrchain.modules.records.messages import (
    ADD_HOLDER,
    ERASE,
    RECORDS_ERASED,
    RECORDS_HOLDER_ADDED,
    RECORDS_REGISTERED,
    RECORDS_SUPERSEDED,
    REGISTER,
    AddHolder,
    Erase,
    Register,
)

ACTIVE: Final = "active"
SUPERSEDED: Final = "superseded"
ERASED: Final = "erased"


def _signer(ctx: Context) -> parties.Identity:
    identity = parties.acting(ctx.state, ctx.signer)
    if identity is None:
        raise UNAUTHORIZED(f"{ctx.signer} is not an identity that may act now")
    return identity


def _custodian(ctx: Context, signer: parties.Identity, m: Register) -> str:
    """Whose vault keeps the ciphertext. The custodian organization registers its own
    records (its vault signs: no practitioner's DID is on chain); for a self-reported
    record the patient names the care organization."""
    if signer["kind"] == "patient":
        if ctx.signer != m.patient:
            raise UNAUTHORIZED("a patient adds self-reported records only to their own chart")
        if m.custodian is None:
            raise BAD_CUSTODIAN("a self-reported record must name its custodian")
        custodian = parties.acting(ctx.state, m.custodian)
        if custodian is None or custodian["kind"] != "organization" \
                or custodian["org_type"] not in parties.CARE_ORG_TYPES:
            raise BAD_CUSTODIAN(f"{m.custodian} is not an active care organization")
        return m.custodian
    if signer["kind"] != "organization" or signer["org_type"] not in parties.CARE_ORG_TYPES:
        raise UNAUTHORIZED("records are registered by their custodian (an active hospital, "
                           "clinic or pharmacy: its vault) or, self-reported, by the patient")
    if m.custodian is not None and m.custodian != ctx.signer:
        raise BAD_CUSTODIAN(f"the signer {ctx.signer} is the custodian; it cannot register "
                            f"a record kept by {m.custodian}")
    return ctx.signer


def register(ctx: Context, msg: Msg) -> None:
    m = Register.parse(msg)
    signer = _signer(ctx)
    custodian = _custodian(ctx, signer, m)
    if not parties.active_patient(ctx.state, m.patient):
        raise UNKNOWN_PATIENT(m.patient)
    if keeper.get(ctx.state, m.record) is not None:
        raise ALREADY_EXISTS(m.record)
    self_reported = signer["kind"] == "patient"
    if m.replaces is not None:
        _supersede(ctx, m, self_reported)
    record: keeper.Record = {
        "record": m.record, "patient": m.patient, "custodian": custodian,
        "hash": m.hash, "size": m.size, "commitment": m.commitment,
        "descriptor": m.descriptor, "self_reported": self_reported, "status": ACTIVE,
        "height": ctx.height, "time_ms": ctx.time_ms, "replaces": m.replaces,
        "superseded_by": None,
    }
    keeper.put(ctx.state, record)
    keeper.index(ctx.state, record)
    keeper.add_holder(ctx.state, m.record, custodian)
    ctx.emit(RECORDS_REGISTERED, record=m.record, patient=m.patient, custodian=custodian)


def _supersede(ctx: Context, m: Register, self_reported: bool) -> None:
    """Only the custodian organization supersedes its records; only the owner patient
    supersedes their self-reported ones."""
    assert m.replaces is not None
    old = keeper.get(ctx.state, m.replaces)
    if old is None:
        raise NOT_FOUND(m.replaces)
    if old["status"] != ACTIVE:
        raise NOT_ACTIVE(f"{m.replaces} is {old['status']}")
    if old["patient"] != m.patient:
        raise UNAUTHORIZED("a new version must belong to the same patient")
    allowed = ctx.signer == old["patient"] if old["self_reported"] \
        else ctx.signer == old["custodian"]
    if not allowed or self_reported != old["self_reported"]:
        raise UNAUTHORIZED("only the custodian organization supersedes its records, and "
                           "only the patient their self-reported ones")
    old["status"], old["superseded_by"] = SUPERSEDED, m.record
    keeper.put(ctx.state, old)
    ctx.emit(RECORDS_SUPERSEDED, record=m.replaces, by=m.record, patient=m.patient)


def erase(ctx: Context, msg: Msg) -> None:
    m = Erase.parse(msg)
    signer = _signer(ctx)
    record = keeper.get(ctx.state, m.record)
    if record is None:
        raise NOT_FOUND(m.record)
    if record["status"] == ERASED:
        raise NOT_ACTIVE(f"{m.record} is already erased")
    if ctx.signer != record["patient"] and not parties.is_regulator_officer(ctx.state, signer):
        raise UNAUTHORIZED("only the patient or a regulator may erase a record")
    # The tombstone keeps who and when, nothing about what: size, hash and both
    # commitments go (salted, never linkable, but useless now).
    tombstone: keeper.Record = {
        "record": m.record, "patient": record["patient"], "custodian": record["custodian"],
        "status": ERASED, "height": record["height"],
        "erased_height": ctx.height, "erased_by": ctx.signer, "reason": m.reason,
        "replaces": record["replaces"], "superseded_by": record["superseded_by"],
        "self_reported": record["self_reported"],
    }
    keeper.put(ctx.state, tombstone)
    holders = keeper.holders(ctx.state, m.record)
    ctx.emit(RECORDS_ERASED, record=m.record, patient=record["patient"],
             holders=",".join(holders), reason=m.reason)


def add_holder(ctx: Context, msg: Msg) -> None:
    """The owner patient designates a care organization's vault to hold a copy: what
    lets that vault accept the ciphertext from the patient's portable export."""
    m = AddHolder.parse(msg)
    signer = _signer(ctx)
    record = keeper.get(ctx.state, m.record)
    if record is None:
        raise NOT_FOUND(m.record)
    if signer["kind"] != "patient" or ctx.signer != record["patient"]:
        raise UNAUTHORIZED("only the record's patient designates a holder")
    if record["status"] == ERASED:
        raise NOT_ACTIVE(f"{m.record} is erased")
    org = parties.acting(ctx.state, m.org)
    if org is None or org["kind"] != "organization" \
            or org["org_type"] not in parties.CARE_ORG_TYPES:
        raise BAD_CUSTODIAN(f"{m.org} is not an active care organization")
    if not keeper.add_holder(ctx.state, m.record, m.org):
        raise ALREADY_HOLDER(f"{m.org} already holds {m.record}")
    ctx.emit(RECORDS_HOLDER_ADDED, record=m.record, patient=record["patient"], org=m.org)


HANDLERS: Final[Mapping[str, Handler]] = {REGISTER: register, ERASE: erase,
                                          ADD_HOLDER: add_holder}
