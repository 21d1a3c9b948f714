"""Message constructors for the identity module, and the one way a wallet signs a tx.

Each constructor returns the plain message dict the chain expects (field names exactly
as in :mod:`phrchain.modules.identity.messages`) and runs the module's own stateless
check on it, so a typo fails here with the chain's stable error code instead of costing
a round trip to the node. Keys may be given as bytes or lowercase hex.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from phrchain.core import tx
from phrchain.modules.identity import messages as m

if TYPE_CHECKING:
    from phrchain.client.wallet import Wallet

Msg = dict[str, Any]

__all__ = ["admit_organization", "admit_practitioner", "register_patient", "revoke",
           "rotate_key", "set_roles", "sign"]


def _hex(key: bytes | str) -> str:
    return key.hex() if isinstance(key, bytes | bytearray) else key


def _roles(roles: Iterable[str]) -> list[str]:
    # The chain wants one spelling per role set: sorted and duplicate-free.
    return sorted({r.strip() for r in roles if r.strip()})


def _checked(msg: Msg, parse: Callable[[Msg], object]) -> Msg:
    parse(msg)  # raises TxError (identity codespace) exactly as the chain would
    return msg


def admit_organization(did: str, org_type: str, name: str, enc_key: bytes | str) -> Msg:
    """An authority admits a hospital, clinic, insurer, pharmacy, … (``m.ORG_TYPES``)."""
    return _checked({"type": m.ADMIT_ORGANIZATION, "did": did, "org_type": org_type,
                     "name": name, "enc_key": _hex(enc_key)}, m.AdmitOrganization.parse)


def admit_practitioner(did: str, roles: Iterable[str], enc_key: bytes | str) -> Msg:
    """An organization admits one of its staff with roles from ``m.ROLES``."""
    return _checked({"type": m.ADMIT_PRACTITIONER, "did": did, "roles": _roles(roles),
                     "enc_key": _hex(enc_key)}, m.AdmitPractitioner.parse)


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
