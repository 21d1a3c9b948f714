"""What every per-module client of the SDK shares: one wallet acting through one node,
the vaults it knows (institution DID → base URL), and the one :class:`TxSender`.

``RecordsClient``, ``ConsentClient``, ``ExchangeClient``, ``AuditClient`` and
``ClaimsClient`` each take a :class:`Session`; :class:`~phrchain.client.phr.Phr` makes
one and all five clients at once. The session holds only what must be shared (the
sender's nonce count, vault connections, identities already looked up); nothing of a
module lives here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from phrchain.client.http import NodeClient
from phrchain.client.sender import TxSender
from phrchain.client.vault import VaultClient
from phrchain.client.wallet import Wallet
from phrchain.core.errors import PhrError
from phrchain.vault import crypto
from phrchain.vault.errors import VaultError

__all__ = ["RecordsError", "Session"]


class RecordsError(PhrError):
    """Something the client needs is not there: an unknown DID or record, a vault with
    no known address, a Bundle patient without a DID."""


class Session:
    """One wallet's connection to its node and vaults. Use as a context manager, or
    call :meth:`close` (which closes the vault connections, not the node client)."""

    def __init__(self, node: NodeClient, wallet: Wallet, directory: Mapping[str, str],
                 sender: TxSender | None = None) -> None:
        self.node, self.wallet, self.directory = node, wallet, dict(directory)
        self.sender = sender or TxSender(node, wallet)
        self._vaults: dict[str, VaultClient] = {}
        self._identities: dict[str, dict[str, Any]] = {}
        # The other pseudonyms of the same patient, when a PatientWallet made this
        # session: clients refuse to pay them (a public link between pseudonyms).
        self.own_pseudonyms: frozenset[str] = frozenset()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for v in self._vaults.values():
            v.close()
        self._vaults.clear()

    def vault(self, org: str) -> VaultClient:
        """The signed client of ``org``'s vault (one connection per vault)."""
        if org not in self._vaults:
            if org not in self.directory:
                raise RecordsError(f"no vault address known for {org}")
            self._vaults[org] = VaultClient(self.directory[org], org, self.wallet)
        return self._vaults[org]

    def send(self, msgs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """One tx, waited for until it committed successfully (raises otherwise)."""
        return self.sender.send(msgs)

    # -- chain reads -------------------------------------------------------------------
    def q(self, path: str, **data: Any) -> Any:
        return self.node.query(path, {k: str(v) for k, v in data.items()})["value"]

    def identity(self, did: str) -> dict[str, Any]:
        if did not in self._identities:
            found = self.q("identity/did", did=did)
            if found is None:
                raise RecordsError(f"{did} is not registered")
            self._identities[did] = found
        return self._identities[did]

    def descriptor(self, record: str) -> dict[str, Any]:
        found = self.q("records/get", record=record)
        if found is None:
            raise RecordsError(f"record {record} is not registered")
        return dict(found)

    def custodian_of_me(self) -> str:
        """The institution this wallet acts for (itself, for an organization)."""
        me = self.identity(self.wallet.did)
        return str(me["did"] if me["kind"] == "organization" else me.get("organization", ""))

    # -- data keys (they never leave this machine unwrapped) ---------------------------
    def unwrap(self, record: str, wrapped_hex: str) -> bytes:
        """Open a data key wrapped to this wallet: with its encryption key, else with a
        retired one (keys wrapped before a rotation of the encryption key)."""
        wrapped, record_id = bytes.fromhex(wrapped_hex), bytes.fromhex(record)
        *first, last = (self.wallet.encryption_key, *self.wallet.retired_encryption_keys)
        for key in first:
            try:
                return crypto.unwrap_key(wrapped, key, record_id, self.wallet.did)
            except VaultError:
                continue
        return crypto.unwrap_key(wrapped, last, record_id, self.wallet.did)

    def wrap_for(self, data_key: bytes, record_id: bytes, dids: Iterable[str]
                 ) -> dict[str, bytes]:
        """``data_key`` wrapped for each of ``dids`` (their registered encryption keys)."""
        return {did: crypto.wrap_key(data_key, bytes.fromhex(self.identity(did)["enc_key"]),
                                     record_id, did) for did in dids}
