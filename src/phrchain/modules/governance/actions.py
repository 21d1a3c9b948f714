"""What a proposal would do: one frozen dataclass per action kind, with ``parse`` (the
stateless checks, code ``governance/2 invalid_field``) and ``to_json`` (the ``action``
object of a ``governance/propose`` message). README "Actions" lists them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from phrchain.core import encoding, keys
from phrchain.core.errors import CryptoError, EncodingError
from phrchain.modules import fields
from phrchain.modules.governance.errors import BAD_ADMISSION_PROOF, INVALID_FIELD
from phrchain.modules.identity.messages import NAME_RE, REVOCATION_REASONS

# A validator's voting power; CometBFT caps the total at 2^60, far above 150 * 10^9.
MAX_POWER: Final = 10**9
MAX_VALIDATORS: Final = 150
MAX_RULES_VERSION: Final = 1 << 31
MAX_PARAMETER_BYTES: Final = 2048
PARAMETER_NAME_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")
UPGRADE_NAME_RE: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def _exact(obj: Mapping[str, Any], *names: str) -> None:
    fields.exact(obj, INVALID_FIELD, names)


def consensus_key(obj: Mapping[str, Any], name: str) -> bytes:
    """A CometBFT validator key: an Ed25519 public key as 64 lowercase hex characters."""
    try:
        raw = encoding.hex_bytes(obj.get(name), 32, name)
        keys.check_ed25519_public_key(raw)
    except (EncodingError, CryptoError) as exc:
        raise INVALID_FIELD(f"{name}: {exc}") from None
    return raw


def power(obj: Mapping[str, Any]) -> int:
    return fields.integer(obj, "power", INVALID_FIELD, 1, MAX_POWER)


def _name(obj: Mapping[str, Any], name: str, pattern: re.Pattern[str], what: str) -> str:
    return fields.matching(obj, name, pattern, INVALID_FIELD, what)


@dataclass(frozen=True, slots=True)
class AdmitAuthority:
    """A new council member; ``pop`` is its key's signature over
    ``identity.admission_bytes(chain_id, "governance", did, enc_key)``."""

    did: str
    enc_key: bytes
    name: str
    pop: bytes

    KIND: ClassVar[str] = "admit_authority"

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> AdmitAuthority:
        _exact(obj, "kind", "did", "enc_key", "name", "pop")
        try:
            enc_key = encoding.hex_bytes(obj.get("enc_key"), 32, "enc_key")
            keys.check_x25519_public_key(enc_key)
        except (EncodingError, CryptoError) as exc:
            raise INVALID_FIELD(f"enc_key: {exc}") from None
        try:
            pop = encoding.hex_bytes(obj.get("pop"), 64, "pop")
        except EncodingError as exc:
            raise BAD_ADMISSION_PROOF(str(exc)) from None
        return cls(fields.did(obj, "did", INVALID_FIELD), enc_key,
                   _name(obj, "name", NAME_RE, "1-128 printable characters"), pop)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.KIND, "did": self.did, "enc_key": self.enc_key.hex(),
                "name": self.name, "pop": self.pop.hex()}


@dataclass(frozen=True, slots=True)
class RemoveAuthority:
    """Revoke an authority; decided by the threshold of the *other* authorities."""

    did: str
    reason: str

    KIND: ClassVar[str] = "remove_authority"

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> RemoveAuthority:
        _exact(obj, "kind", "did", "reason")
        return cls(fields.did(obj, "did", INVALID_FIELD),
                   fields.choice(obj, "reason", REVOCATION_REASONS, INVALID_FIELD))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.KIND, "did": self.did, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class AddValidator:
    pub_key: bytes
    power: int
    organization: str

    KIND: ClassVar[str] = "add_validator"

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> AddValidator:
        _exact(obj, "kind", "pub_key", "power", "organization")
        return cls(consensus_key(obj, "pub_key"), power(obj),
                   fields.did(obj, "organization", INVALID_FIELD))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.KIND, "pub_key": self.pub_key.hex(), "power": self.power,
                "organization": self.organization}


@dataclass(frozen=True, slots=True)
class RemoveValidator:
    pub_key: bytes

    KIND: ClassVar[str] = "remove_validator"

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> RemoveValidator:
        _exact(obj, "kind", "pub_key")
        return cls(consensus_key(obj, "pub_key"))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.KIND, "pub_key": self.pub_key.hex()}


@dataclass(frozen=True, slots=True)
class SetValidatorPower:
    """Re-weight a validator."""

    pub_key: bytes
    power: int

    KIND: ClassVar[str] = "set_validator_power"

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> SetValidatorPower:
        _exact(obj, "kind", "pub_key", "power")
        return cls(consensus_key(obj, "pub_key"), power(obj))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.KIND, "pub_key": self.pub_key.hex(), "power": self.power}


@dataclass(frozen=True, slots=True)
class ReplaceValidator:
    """Rotate a validator's consensus key: the new key takes the old one's power and
    organization in the same block (no moment with both or neither)."""

    pub_key: bytes
    new_pub_key: bytes

    KIND: ClassVar[str] = "replace_validator"

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> ReplaceValidator:
        _exact(obj, "kind", "pub_key", "new_pub_key")
        old, new = consensus_key(obj, "pub_key"), consensus_key(obj, "new_pub_key")
        if old == new:
            raise INVALID_FIELD("new_pub_key must differ from pub_key")
        return cls(old, new)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.KIND, "pub_key": self.pub_key.hex(),
                "new_pub_key": self.new_pub_key.hex()}


@dataclass(frozen=True, slots=True)
class SetParameter:
    """Set ``module``/``name`` in the parameter store to ``value`` (any canonical JSON
    value of at most ``MAX_PARAMETER_BYTES``; ``null`` deletes it)."""

    module: str
    name: str
    value: Any

    KIND: ClassVar[str] = "set_parameter"

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> SetParameter:
        _exact(obj, "kind", "module", "name", "value")
        what = "a lowercase identifier of 1-32 characters [a-z0-9_]"
        module = _name(obj, "module", PARAMETER_NAME_RE, what)
        name = _name(obj, "name", PARAMETER_NAME_RE, what)
        try:
            size = len(encoding.encode(obj["value"]))
        except EncodingError as exc:
            raise INVALID_FIELD(f"value: {exc}") from None
        if size > MAX_PARAMETER_BYTES:
            raise INVALID_FIELD(f"value must encode to at most {MAX_PARAMETER_BYTES} bytes")
        return cls(module, name, obj["value"])

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.KIND, "module": self.module, "name": self.name,
                "value": self.value}


@dataclass(frozen=True, slots=True)
class ScheduleUpgrade:
    """Blocks from ``height`` on run rule version ``version`` (README "Upgrades")."""

    version: int
    height: int
    name: str

    KIND: ClassVar[str] = "schedule_upgrade"

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> ScheduleUpgrade:
        _exact(obj, "kind", "version", "height", "name")
        return cls(fields.integer(obj, "version", INVALID_FIELD, 2, MAX_RULES_VERSION),
                   fields.integer(obj, "height", INVALID_FIELD, 1),
                   _name(obj, "name", UPGRADE_NAME_RE, "1-64 characters [a-z0-9._-]"))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.KIND, "version": self.version, "height": self.height,
                "name": self.name}


@dataclass(frozen=True, slots=True)
class FreezeOrganization:
    """Emergency stop: the organization and its staff can no longer sign or act."""

    organization: str

    KIND: ClassVar[str] = "freeze_organization"

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> FreezeOrganization:
        _exact(obj, "kind", "organization")
        return cls(fields.did(obj, "organization", INVALID_FIELD))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.KIND, "organization": self.organization}


@dataclass(frozen=True, slots=True)
class UnfreezeOrganization:
    organization: str

    KIND: ClassVar[str] = "unfreeze_organization"

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> UnfreezeOrganization:
        _exact(obj, "kind", "organization")
        return cls(fields.did(obj, "organization", INVALID_FIELD))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.KIND, "organization": self.organization}


Action = (AdmitAuthority | RemoveAuthority | AddValidator | RemoveValidator
          | SetValidatorPower | ReplaceValidator | SetParameter | ScheduleUpgrade
          | FreezeOrganization | UnfreezeOrganization)
ACTIONS: Final[Mapping[str, Any]] = {cls.KIND: cls for cls in (
    AdmitAuthority, RemoveAuthority, AddValidator, RemoveValidator, SetValidatorPower,
    ReplaceValidator, SetParameter, ScheduleUpgrade, FreezeOrganization,
    UnfreezeOrganization)}
VALIDATOR_KINDS: Final = frozenset({"add_validator", "remove_validator",
                                    "set_validator_power", "replace_validator"})


def parse_action(obj: Any) -> Action:
    if not isinstance(obj, dict):
        raise INVALID_FIELD("action must be an object")
    kind = obj.get("kind")
    if not isinstance(kind, str) or kind not in ACTIONS:
        raise INVALID_FIELD(f"action kind must be one of {sorted(ACTIONS)}")
    action: Action = ACTIONS[kind].parse(obj)
    return action
