"""The phrchain SDK: wallets, tx building, a node client, per-module clients and proof
verification.

    from phrchain.client import Phr, NodeClient, Wallet
    phr = Phr(NodeClient(url), wallet, {hospital_did: vault_url})
    phr.records.add_resource(...); phr.consent.grant(...); phr.audit.log(patient)

Each module's client (``RecordsClient``, ``ConsentClient``, ``ExchangeClient``,
``AuditClient``, ``ClaimsClient``, ``SupplyClient``, ``TrialsClient``,
``GovernanceClient``) takes a :class:`Session` (node, wallet, vault directory and the one
:class:`TxSender`); :class:`Phr` makes a session and all of them. A patient acts per
relationship through :class:`PatientWallet` (one ``Phr`` per pseudonym, and views over
all of them).
"""

from phrchain.client import builder
from phrchain.client.audit import AuditClient
from phrchain.client.claims import ClaimsClient
from phrchain.client.consent import ConsentClient
from phrchain.client.exchange import ExchangeClient
from phrchain.client.governance import GovernanceClient, council_admission
from phrchain.client.http import ApiError, NodeClient
from phrchain.client.patient import PatientWallet, SelfTransferError
from phrchain.client.phr import Phr
from phrchain.client.records import Opened, RecordsClient
from phrchain.client.sender import TxSender
from phrchain.client.session import RecordsError, Session
from phrchain.client.supply import MonitoringKey, Prescription, SupplyClient
from phrchain.client.trials import TrialsClient
from phrchain.client.verify import (
    genesis_app_hash,
    query_key,
    verify_header,
    verify_query,
    verify_query_against_header,
)
from phrchain.client.wallet import KdfParams, Wallet, WalletError, read_public

__all__ = [
    "ApiError", "AuditClient", "ClaimsClient", "ConsentClient", "ExchangeClient",
    "GovernanceClient", "KdfParams", "MonitoringKey", "NodeClient", "Opened",
    "PatientWallet", "Phr", "Prescription", "RecordsClient", "RecordsError",
    "SelfTransferError", "Session", "SupplyClient", "TrialsClient", "TxSender", "Wallet",
    "WalletError", "builder", "council_admission", "genesis_app_hash", "query_key",
    "read_public", "verify_header", "verify_query", "verify_query_against_header",
]
