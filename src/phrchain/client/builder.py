"""Message constructors for the identity module, and the one way a wallet signs a tx.

Each constructor builds the module's message dataclass
(:mod:`phrchain.modules.identity.messages`), returns its ``to_msg()`` — the plain dict the
chain parses — and runs the module's own stateless check on it, so a typo fails here with
the chain's stable error code instead of costing a round trip to the node. Keys may be
given as bytes or lowercase hex. Other modules' messages are built the same way, straight
from their dataclasses: ``Grant(...).to_msg()``.

Admissions need the admitted party's consent: its key signs a *join request*
(:func:`join_request`, made with its own wallet and handed to the admitter), whose
``pop`` goes into :func:`admit_organization` / :func:`admit_practitioner`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from phrchain.core import encoding, keys, tx
from phrchain.core.errors import CryptoError, EncodingError, ErrorCode
from phrchain.modules.identity import messages as m
from phrchain.modules.identity.errors import BAD_ADMISSION_PROOF, INVALID_KEY

if TYPE_CHECKING:
    from phrchain.client.wallet import Wallet

Msg = dict[str, Any]

__all__ = ["JOIN_REQUEST_FIELDS", "admit_organization", "admit_practitioner",
           "check_join_request", "join_request", "register_patient", "revoke", "rotate_key",
           "set_roles", "sign"]

JOIN_REQUEST_FIELDS = frozenset({"admitted_by", "chain_id", "did", "enc_key", "pop"})


class _Message(Protocol):
    """A module message dataclass (``messages.py``): parsed by the chain, built by
    ``to_msg``."""

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> object: ...

    def to_msg(self) -> Msg: ...


def _raw(key: bytes | str, name: str, error: ErrorCode) -> bytes:
    """Bytes as given, or decoded from lowercase hex; bad hex is refused with the code
    the chain gives that field (its length and curve are checked with the message)."""
    if isinstance(key, bytes | bytearray):
        return bytes(key)
    try:
        return encoding.hex_bytes(key, None, name)
    except EncodingError as exc:
        raise error(str(exc)) from None


def _roles(roles: Iterable[str]) -> tuple[str, ...]:
    # The chain wants one spelling per role set: sorted and duplicate-free.
    return tuple(sorted({r.strip() for r in roles if r.strip()}))


def _checked(message: _Message) -> Msg:
    msg = message.to_msg()
    type(message).parse(msg)  # raises TxError (identity codespace) exactly as the chain would
    return msg


def join_request(wallet: Wallet, chain_id: str, admitted_by: str) -> Msg:
    """What a new organization or practitioner hands its admitter: its DID and encryption
    key, and ``pop``, its key's signature agreeing to be admitted by ``admitted_by`` on
    ``chain_id`` (``messages.admission_bytes``). Public: no secret in it."""
    pop = wallet.signing_key.sign(
        m.admission_bytes(chain_id, admitted_by, wallet.did, wallet.enc_key))
    return {"admitted_by": admitted_by, "chain_id": chain_id, "did": wallet.did,
            "enc_key": wallet.enc_key.hex(), "pop": pop.hex()}


def check_join_request(request: object, admitted_by: str, chain_id: str) -> Msg:
    """Refuse (``identity/9 bad_admission_proof``) a join request that is malformed, made
    for another admitter or chain, or whose ``pop`` does not verify — before it costs a
    transaction. Returns it."""
    if not isinstance(request, dict) or set(request) != JOIN_REQUEST_FIELDS:
        raise BAD_ADMISSION_PROOF(f"a join request has exactly the fields "
                                    f"{sorted(JOIN_REQUEST_FIELDS)}")
    if request["admitted_by"] != admitted_by:
        raise BAD_ADMISSION_PROOF(f"the request is for admitter {request['admitted_by']}, "
                                    f"not {admitted_by}")
    if request["chain_id"] != chain_id:
        raise BAD_ADMISSION_PROOF(f"the request is for chain {request['chain_id']!r}, "
                                    f"not {chain_id!r}")
    did, enc_key, pop = m.did_field(request), m.enc_key_field(request), m.pop_field(request)
    try:
        keys.verify(keys.public_key_from_did(did), pop,
                    m.admission_bytes(chain_id, admitted_by, did, enc_key))
    except CryptoError as exc:
        raise BAD_ADMISSION_PROOF(str(exc)) from None
    return request


def admit_organization(did: str, org_type: str, name: str, enc_key: bytes | str,
                       pop: bytes | str) -> Msg:
    """An authority admits a hospital, clinic, insurer, pharmacy, … (``m.ORG_TYPES``);
    ``pop`` comes from the organization's :func:`join_request`."""
    pop_raw = _raw(pop, "pop", BAD_ADMISSION_PROOF)
    return _checked(m.AdmitOrganization(did, org_type, name,
                                        _raw(enc_key, "enc_key", INVALID_KEY), pop_raw))


def admit_practitioner(did: str, roles: Iterable[str], enc_key: bytes | str,
                       pop: bytes | str) -> Msg:
    """An organization admits one of its staff with roles its type allows
    (``m.ALLOWED_ROLES``); ``pop`` comes from the practitioner's :func:`join_request`."""
    pop_raw = _raw(pop, "pop", BAD_ADMISSION_PROOF)
    return _checked(m.AdmitPractitioner(did, _roles(roles),
                                        _raw(enc_key, "enc_key", INVALID_KEY), pop_raw))


def register_patient(enc_key: bytes | str) -> Msg:
    """A patient registers themselves (the tx signer's did:key becomes the identity)."""
    return _checked(m.RegisterPatient(_raw(enc_key, "enc_key", INVALID_KEY)))


def set_roles(did: str, roles: Iterable[str]) -> Msg:
    """An organization replaces the roles of one of its practitioners."""
    return _checked(m.SetRoles(did, _roles(roles)))


def rotate_key(new_key: bytes | str, proof: bytes | str,
               enc_key: bytes | str | None = None) -> Msg:
    """Prefer :meth:`Wallet.rotate`, which also makes the new key and its proof."""
    return _checked(m.RotateKey(
        new_key=_raw(new_key, "new_key", INVALID_KEY),
        enc_key=None if enc_key is None else _raw(enc_key, "enc_key", INVALID_KEY),
        proof=_raw(proof, "proof", INVALID_KEY)))


def revoke(did: str, reason: str) -> Msg:
    """Revoke an identity; ``reason`` is one of ``m.REVOCATION_REASONS``."""
    return _checked(m.Revoke(did, reason))


def sign(wallet: Wallet, chain_id: str, nonce: int, msgs: Sequence[Msg]) -> bytes:
    """Wire bytes of a tx signed by the wallet's current key, as the wallet's DID
    (which differs from the key's own did:key after a rotation)."""
    return tx.build_tx(wallet.signing_key, chain_id, nonce, msgs, signer=wallet.did)
