"""Message constructors for the identity module, and the one way a wallet signs a tx.

Each constructor returns the plain message dict the chain expects (field names exactly
as in :mod:`phrchain.modules.identity.messages`) and runs the module's own stateless
check on it, so a typo fails here with the chain's stable error code instead of costing
a round trip to the node. Keys may be given as bytes or lowercase hex.

Admissions need the admitted party's consent: its key signs a *join request*
(:func:`join_request`, made with its own wallet and handed to the admitter), whose
``pop`` goes into :func:`admit_organization` / :func:`admit_practitioner`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from phrchain.core import keys, tx
from phrchain.core.errors import CryptoError
from phrchain.modules.identity import messages as m
from phrchain.modules.identity.errors import BAD_ADMISSION_PROOF

if TYPE_CHECKING:
    from phrchain.client.wallet import Wallet

Msg = dict[str, Any]

__all__ = ["JOIN_REQUEST_FIELDS", "admit_organization", "admit_practitioner",
           "check_join_request", "join_request", "register_patient", "revoke", "rotate_key",
           "set_roles", "sign"]

JOIN_REQUEST_FIELDS = frozenset({"admitted_by", "chain_id", "did", "enc_key", "pop"})


def _hex(key: bytes | str) -> str:
    return key.hex() if isinstance(key, bytes | bytearray) else key


def _roles(roles: Iterable[str]) -> list[str]:
    # The chain wants one spelling per role set: sorted and duplicate-free.
    return sorted({r.strip() for r in roles if r.strip()})


def _checked(msg: Msg, parse: Callable[[Msg], object]) -> Msg:
    parse(msg)  # raises TxError (identity codespace) exactly as the chain would
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
    return _checked({"type": m.ADMIT_ORGANIZATION, "did": did, "org_type": org_type,
                     "name": name, "enc_key": _hex(enc_key), "pop": _hex(pop)},
                    m.AdmitOrganization.parse)


def admit_practitioner(did: str, roles: Iterable[str], enc_key: bytes | str,
                       pop: bytes | str) -> Msg:
    """An organization admits one of its staff with roles its type allows
    (``m.ALLOWED_ROLES``); ``pop`` comes from the practitioner's :func:`join_request`."""
    return _checked({"type": m.ADMIT_PRACTITIONER, "did": did, "roles": _roles(roles),
                     "enc_key": _hex(enc_key), "pop": _hex(pop)}, m.AdmitPractitioner.parse)


def register_patient(enc_key: bytes | str) -> Msg:
    """A patient registers themselves (the tx signer's did:key becomes the identity)."""
    return _checked({"type": m.REGISTER_PATIENT, "enc_key": _hex(enc_key)},
                    m.RegisterPatient.parse)


def set_roles(did: str, roles: Iterable[str]) -> Msg:
    """An organization replaces the roles of one of its practitioners."""
    return _checked({"type": m.SET_ROLES, "did": did, "roles": _roles(roles)},
                    m.SetRoles.parse)


def rotate_key(new_key: bytes | str, proof: bytes | str,
               enc_key: bytes | str | None = None) -> Msg:
    """Prefer :meth:`Wallet.rotate`, which also makes the new key and its proof."""
    msg: Msg = {"type": m.ROTATE_KEY, "new_key": _hex(new_key), "proof": _hex(proof)}
    if enc_key is not None:
        msg["enc_key"] = _hex(enc_key)
    return _checked(msg, m.RotateKey.parse)


def revoke(did: str, reason: str) -> Msg:
    """Revoke an identity; ``reason`` is one of ``m.REVOCATION_REASONS``."""
    return _checked({"type": m.REVOKE, "did": did, "reason": reason}, m.Revoke.parse)


def sign(wallet: Wallet, chain_id: str, nonce: int, msgs: Sequence[Msg]) -> bytes:
    """Wire bytes of a tx signed by the wallet's current key, as the wallet's DID
    (which differs from the key's own did:key after a rotation)."""
    return tx.build_tx(wallet.signing_key, chain_id, nonce, msgs, signer=wallet.did)
