"""One wallet's SDK in one object: :class:`Phr` makes a
:class:`~phrchain.client.session.Session` and one client per module on it.

::

    with Phr(NodeClient(url), wallet, {hospital_did: vault_url}) as phr:
        record = phr.records.add_resource(observation, patient_did)
        phr.consent.grant(...); phr.exchange.approve(...); phr.audit.log(patient_did)

It only holds the clients; every method lives in its module's client, which can also
be made alone from a session (``RecordsClient(session)``).
"""

from __future__ import annotations

from collections.abc import Mapping

from phrchain.client.audit import AuditClient
from phrchain.client.claims import ClaimsClient
from phrchain.client.consent import ConsentClient
from phrchain.client.exchange import ExchangeClient
from phrchain.client.genome import GenomeClient
from phrchain.client.governance import GovernanceClient
from phrchain.client.http import NodeClient
from phrchain.client.records import RecordsClient
from phrchain.client.research import ResearchClient
from phrchain.client.session import Session
from phrchain.client.supply import SupplyClient
from phrchain.client.trials import TrialsClient
from phrchain.client.wallet import Wallet

__all__ = ["Phr"]


class Phr:
    def __init__(self, node: NodeClient, wallet: Wallet, directory: Mapping[str, str]
                 ) -> None:
        self.session = Session(node, wallet, directory)
        self.records = RecordsClient(self.session)
        self.consent = ConsentClient(self.session)
        self.exchange = ExchangeClient(self.session)
        self.audit = AuditClient(self.session)
        self.claims = ClaimsClient(self.session)
        self.supply = SupplyClient(self.session)
        self.trials = TrialsClient(self.session)
        self.research = ResearchClient(self.session)
        self.governance = GovernanceClient(self.session)
        self.genome = GenomeClient(self.session)

    @property
    def node(self) -> NodeClient:
        return self.session.node

    @property
    def wallet(self) -> Wallet:
        return self.session.wallet

    def __enter__(self) -> Phr:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()
