"""What each action requires of the state, and what it does when its proposal passes.

:func:`check` runs twice: when the action is proposed (the tx fails with the code) and
again at the closing block, just before :func:`apply` (a refusal there leaves the
proposal ``failed`` with the code, and changes nothing else): the state may have moved
in between (another proposal passed, an organization was revoked).
"""

from __future__ import annotations

from typing import Final

from phrchain.core import keys
from phrchain.core.errors import CryptoError
from phrchain.core.module import Context, ValidatorUpdate
from phrchain.core.state import Overlay, Reader
from phrchain.modules import identity
from phrchain.modules.governance import keeper
from phrchain.modules.governance.actions import (
    MAX_VALIDATORS,
    Action,
    AddValidator,
    AdmitAuthority,
    FreezeOrganization,
    RemoveAuthority,
    RemoveValidator,
    ReplaceValidator,
    ScheduleUpgrade,
    SetParameter,
    SetValidatorPower,
    UnfreezeOrganization,
)
from phrchain.modules.governance.errors import (
    ALREADY_FROZEN,
    AUTHORITY_EXISTS,
    BAD_ADMISSION_PROOF,
    BAD_UPGRADE,
    INVALID_FIELD,
    NOT_FROZEN,
    POWER_CONCENTRATION,
    TOO_FEW_AUTHORITIES,
    TOO_FEW_VALIDATORS,
    UNKNOWN_AUTHORITY,
    UNKNOWN_ORGANIZATION,
    UNKNOWN_VALIDATOR,
    VALIDATOR_EXISTS,
)
from phrchain.modules.governance.messages import GOVERNANCE_VALIDATOR

# The council needs two members: no authority acts alone (README "Voting").
MIN_AUTHORITIES: Final = 2

ValidatorSet = dict[str, keeper.Validator]


def _organization(state: Reader, did: str) -> None:
    """An active organization that is not frozen (``identity.acting``)."""
    found = identity.acting(state, did)
    if found is None or found["kind"] != "organization":
        raise UNKNOWN_ORGANIZATION(did)


def _validator(current: ValidatorSet, pub_key: bytes) -> keeper.Validator:
    found = current.get(pub_key.hex())
    if found is None:
        raise UNKNOWN_VALIDATOR(pub_key.hex())
    return found


def changed_set(state: Reader, action: Action, height: int) -> ValidatorSet:
    """The validator set the validator action would leave (raises if it names an
    unknown or duplicate key, or an organization that may not run one)."""
    current: ValidatorSet = {v["pub_key"]: v for v in keeper.validators(state)}
    after = dict(current)
    match action:
        case AddValidator(pub_key, power, organization):
            if pub_key.hex() in current:
                raise VALIDATOR_EXISTS(pub_key.hex())
            _organization(state, organization)
            after[pub_key.hex()] = {"pub_key": pub_key.hex(), "power": power,
                                    "organization": organization, "since": height}
        case RemoveValidator(pub_key):
            _validator(current, pub_key)
            del after[pub_key.hex()]
        case SetValidatorPower(pub_key, power):
            old = _validator(current, pub_key)
            if old["power"] == power:
                raise INVALID_FIELD(f"the validator's power is {power} already")
            after[pub_key.hex()] = {**old, "power": power, "since": height}
        case ReplaceValidator(pub_key, new_pub_key):
            old = _validator(current, pub_key)
            if new_pub_key.hex() in current:
                raise VALIDATOR_EXISTS(new_pub_key.hex())
            del after[pub_key.hex()]
            after[new_pub_key.hex()] = {**old, "pub_key": new_pub_key.hex(), "since": height}
        case _:
            raise AssertionError(f"not a validator action: {action.KIND}")
    check_validator_set(state, after)
    return after


def check_validator_set(state: Reader, validators: ValidatorSet) -> None:
    """At least the genesis minimum of validators (and at most ``MAX_VALIDATORS``), and
    no organization with a third or more of the total voting power."""
    minimum = keeper.config(state)["min_validators"]
    if len(validators) < minimum:
        raise TOO_FEW_VALIDATORS(f"{len(validators)} validators, the minimum is {minimum}")
    if len(validators) > MAX_VALIDATORS:
        raise INVALID_FIELD(f"at most {MAX_VALIDATORS} validators")
    total = sum(v["power"] for v in validators.values())
    by_org: dict[str, int] = {}
    for v in validators.values():
        by_org[v["organization"]] = by_org.get(v["organization"], 0) + v["power"]
    for org, power in sorted(by_org.items()):
        if 3 * power >= total:
            raise POWER_CONCENTRATION(f"{org} would hold {power} of {total}")


def _max_upgrade(state: Reader) -> tuple[int, int]:
    """``(version, height)`` of the last scheduled upgrade; ``(1, 0)`` if none."""
    scheduled = keeper.upgrades(state)
    return (1, 0) if not scheduled else (scheduled[-1]["version"], scheduled[-1]["height"])


def check(ctx: Context, action: Action, voting_end: int, proposer: str | None) -> None:
    """Raise the code that refuses ``action`` now (``proposer`` is None at execution)."""
    state = ctx.state
    match action:
        case AdmitAuthority(did, enc_key, _, pop):
            if identity.parties.get(state, did) is not None:
                raise AUTHORITY_EXISTS(did)
            if proposer is not None:
                try:
                    keys.verify(keys.public_key_from_did(did), pop, identity.admission_bytes(
                        ctx.chain_id, identity.council.COUNCIL, did, enc_key))
                except CryptoError as exc:
                    raise BAD_ADMISSION_PROOF(str(exc)) from None
        case RemoveAuthority(did, _):
            council = identity.authorities(state)
            if did not in council:
                raise UNKNOWN_AUTHORITY(did)
            if len(council) - 1 < MIN_AUTHORITIES:
                raise TOO_FEW_AUTHORITIES(f"{len(council) - 1} would remain")
        case SetParameter():
            pass
        case ScheduleUpgrade(version, height, _):
            last_version, last_height = _max_upgrade(state)
            if version <= last_version:
                raise BAD_UPGRADE(f"version must be above {last_version}")
            if height <= max(last_height, voting_end):
                raise BAD_UPGRADE(f"height must be above {max(last_height, voting_end)} "
                                  f"(the vote closes at {voting_end} at the latest)")
        case FreezeOrganization(org):
            if identity.is_frozen(state, org):
                raise ALREADY_FROZEN(org)
            _organization(state, org)
        case UnfreezeOrganization(org):
            if not identity.is_frozen(state, org):
                raise NOT_FROZEN(org)
        case _:
            changed_set(state, action, ctx.height)


def apply(ctx: Context, action: Action, proposal: int) -> list[ValidatorUpdate]:
    """Execute a passed proposal's action in ``ctx.state`` (after :func:`check`)."""
    state: Overlay = ctx.state
    match action:
        case AdmitAuthority(did, enc_key, name, _):
            identity.council.admit_authority(state, did, enc_key, name, ctx.height)
        case RemoveAuthority(did, reason):
            identity.council.remove_authority(state, did, reason, ctx.height)
        case SetParameter(module, name, value):
            version = keeper.last_parameter_version(state, module, name) + 1
            keeper.put_parameter(state, {"module": module, "name": name, "value": value,
                                         "version": version, "height": ctx.height,
                                         "proposal": proposal})
        case ScheduleUpgrade(version, height, name):
            keeper.put_upgrade(state, {"version": version, "height": height, "name": name,
                                       "proposal": proposal})
        case FreezeOrganization(org):
            identity.council.freeze(state, org, ctx.height)
        case UnfreezeOrganization(org):
            identity.council.unfreeze(state, org)
        case _:
            return _apply_validators(ctx, action)
    return []


def _apply_validators(ctx: Context, action: Action) -> list[ValidatorUpdate]:
    before = {v["pub_key"]: v for v in keeper.validators(ctx.state)}
    after = changed_set(ctx.state, action, ctx.height)
    updates = []
    for key in sorted(set(before) | set(after)):
        new = after.get(key)
        if new == before.get(key):
            continue
        if new is None:
            keeper.delete_validator(ctx.state, bytes.fromhex(key))
        else:
            keeper.put_validator(ctx.state, new)
        power = 0 if new is None else new["power"]
        updates.append(ValidatorUpdate(bytes.fromhex(key), power))
        ctx.emit(GOVERNANCE_VALIDATOR, pub_key=key, power=power,
                 organization=(new or before[key])["organization"])
    return updates
