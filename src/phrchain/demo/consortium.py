"""A small consortium on one machine, for ``phrchain demo``: one chain on the embedded
solo engine with its REST API, an encrypted vault per care institution and the insurer,
and a wallet (passphrase-encrypted file) for every participant.

Patients act through per-relationship pseudonyms (``docs/privacy.md``): a patient's
wallet derives one pseudonym per institution (``Consortium.as_patient``), registered on
first use; the wallet's own DID is never registered. The wallet files keep the map.

Everything listens on loopback. The layout of ``home``::

    node/                 the solo node's home (``phrchain verify --home home/node``)
    vaults/<name>/        each institution's blob store and journal
    wallets/<name>.json   every participant's wallet, encrypted with the demo passphrase
    directory.json        names → DIDs and roles (public; no secret, no health data)
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from phrchain.api.server import BackgroundServer, create_app
from phrchain.client import builder
from phrchain.client.http import NodeClient
from phrchain.client.patient import PatientWallet
from phrchain.client.phr import Phr
from phrchain.client.wallet import Wallet
from phrchain.core import keys
from phrchain.engine.solo.home import NodeConfig, init_home
from phrchain.engine.solo.node import SoloNode
from phrchain.gateway.chain import LocalChain
from phrchain.gateway.http import create_vault_app
from phrchain.gateway.service import Vault, VaultConfig
from phrchain.modules.trials.genesis import RECOMMENDED as TRIALS_GENESIS
from phrchain.research import terms as research_terms
from phrchain.testing import supply_params

CHAIN_ID: Final = "phr-demo"


@dataclass(frozen=True, slots=True)
class Member:
    """An organization of the consortium (``org_type``) or one of its staff (``roles``)."""

    name: str
    label: str
    org_type: str = ""
    organization: str = ""   # the name of the member's organization, for staff
    roles: tuple[str, ...] = ()
    vault: bool = False


ORGANIZATIONS: Final = (
    Member("hospital_a", "Hanbit University Hospital", "hospital", vault=True),
    Member("hospital_b", "Saebyeok General Hospital", "hospital", vault=True),
    Member("insurer", "Dasom Mutual Insurance", "insurer", vault=True),
    Member("pharmacy", "Maeul Pharmacy", "pharmacy", vault=True),
    Member("regulator", "Health Data Authority", "regulator"),
    Member("manufacturer", "Hanul Pharmaceutical", "manufacturer"),
    Member("wholesaler", "Baekje Drug Distribution", "wholesaler"),
    Member("institute", "Gaon Medical AI Institute", "research_institute"),
)
STAFF: Final = (
    Member("dr_kim", "Dr Kim (physician, Hanbit)", organization="hospital_a",
           roles=("physician",)),
    Member("dr_lee", "Dr Lee (physician, Saebyeok)", organization="hospital_b",
           roles=("physician",)),
    Member("dr_park", "Dr Park (emergency, Saebyeok)", organization="hospital_b",
           roles=("emergency", "physician")),
    Member("ph_choi", "Choi (pharmacist, Maeul)", organization="pharmacy",
           roles=("pharmacist",)),
    Member("reviewer", "Jung (claims reviewer, Dasom)", organization="insurer",
           roles=("claims_reviewer", "clerk")),
    Member("auditor", "Yoon (auditor, Health Data Authority)", organization="regulator",
           roles=("auditor",)),
    Member("researcher", "Seo (researcher, Gaon)", organization="institute",
           roles=("researcher",)),
    Member("privacy", "Han (privacy officer, Hanbit)", organization="hospital_a",
           roles=("auditor",)),
)


@dataclass
class Consortium:
    """A running consortium: ``wallets[name]`` and ``client(name)`` for each member."""

    home: Path
    node: SoloNode
    api_url: str
    wallets: dict[str, Wallet]
    members: dict[str, Member]
    vaults: dict[str, Vault]                 # org DID -> vault
    directory: dict[str, str]                # org DID -> vault URL
    passphrase: str = ""
    _clients: dict[str, Phr] = field(default_factory=dict)
    _patients: dict[str, PatientWallet] = field(default_factory=dict)

    def did(self, name: str) -> str:
        return self.wallets[name].did

    def patient(self, name: str) -> PatientWallet:
        """Patient ``name``'s SDK over all their pseudonyms."""
        if name not in self._patients:
            self._patients[name] = PatientWallet(NodeClient(self.api_url, timeout=60),
                                                 self.wallets[name], self.directory)
        return self._patients[name]

    def as_patient(self, name: str, counterpart: str, kind: str = "custodian") -> Phr:
        """Patient ``name`` acting as their pseudonym towards member ``counterpart``
        (registered on first use)."""
        return self.patient(name).as_pseudonym(self.did(counterpart), kind)

    def pseudonym(self, name: str, counterpart: str, kind: str = "custodian") -> str:
        """The DID of patient ``name``'s pseudonym towards ``counterpart``, registered."""
        return self.as_patient(name, counterpart, kind).wallet.did

    def save_pseudonyms(self) -> None:
        """Write every patient wallet's pseudonym map into its file (the web UI's login
        reads it there)."""
        for name in self._patients:
            self.wallets[name].save_over(self.home / "wallets" / f"{name}.json",
                                         self.passphrase)

    def client(self, name: str) -> Phr:
        if name not in self._clients:
            self._clients[name] = Phr(NodeClient(self.api_url, timeout=60),
                                      self.wallets[name], self.directory)
        return self._clients[name]

    def flush(self) -> None:
        """Send every vault's journaled audit entries to the chain, and wait."""
        for vault in self.vaults.values():
            vault.sender.flush()

    def sync_erasures(self) -> int:
        return sum(len(vault.sync_erasures()) for vault in self.vaults.values())

    def query(self, path: str, **data: Any) -> Any:
        return self.node.query(path, {k: str(v) for k, v in data.items()})["value"]

    def close_clients(self) -> None:
        for c in self._clients.values():
            c.node.close()
            c.close()
        self._clients.clear()
        for p in self._patients.values():
            p.close()
            p.node.close()
        self._patients.clear()


def _genesis(wallets: dict[str, Wallet], validator: keys.SigningKey) -> dict[str, Any]:
    authority = wallets["authority"]
    return {"chain_id": CHAIN_ID, "genesis_time_ms": 0, "validator": validator.did,
            "app_state": {"version": 2, "identity": {
                "authorities": [{"did": authority.did, "enc_key": authority.enc_key.hex(),
                                 "name": "Consortium governance"}],
                "organizations": [{"did": wallets[o.name].did, "org_type": o.org_type,
                                   "name": o.label, "enc_key": wallets[o.name].enc_key.hex()}
                                  for o in ORGANIZATIONS]},
                # the demo's starting supply parameter table (governance may replace it)
                "supply": {"params": supply_params()}, "trials": TRIALS_GENESIS,
                # the shipped DUO/MONDO tables; the demo's handful of patients cannot reach
                # the production floor k >= 5, so its chain allows k = l = 1
                "research": research_terms.genesis_section(min_k=1, min_l=1)}}


def save_wallets(home: Path, wallets: dict[str, Wallet], passphrase: str) -> None:
    folder = home / "wallets"
    folder.mkdir(parents=True, exist_ok=True)
    for name, wallet in wallets.items():
        wallet.save(folder / f"{name}.json", passphrase)


@contextlib.contextmanager
def running(home: Path, passphrase: str, *, patients: int,
            api_port: int = 0) -> Iterator[Consortium]:
    """Create the chain in ``home`` (which must not hold one), start everything, admit
    the staff and create ``patients`` patient wallets (``patient_1`` …), whose
    pseudonyms register as the story uses them."""
    validator = keys.SigningKey(secrets.token_bytes(32))
    members = {m.name: m for m in (*ORGANIZATIONS, *STAFF)}
    wallets = {"authority": Wallet.create("Consortium governance")}
    wallets.update({m.name: Wallet.create(m.label) for m in members.values()})
    wallets.update({f"patient_{i}": Wallet.create(f"Patient {i}")
                    for i in range(1, patients + 1)})
    node_home = home / "node"
    init_home(node_home, _genesis(wallets, validator), validator.seed,
              NodeConfig(block_interval_ms=50, api_port=api_port))
    save_wallets(home, wallets, passphrase)
    node = SoloNode(node_home)
    node.start()
    stack = contextlib.ExitStack()
    try:
        api_url = stack.enter_context(BackgroundServer(create_app(node, commit_timeout=30),
                                                       port=api_port))
        vaults, directory = {}, {}
        for org in ORGANIZATIONS:
            if not org.vault:
                continue
            w = wallets[org.name]
            vault = Vault(VaultConfig(home / "vaults" / org.name, flush_interval_s=0.2,
                                      sync_interval_s=5.0),
                          LocalChain(node), w.signing_key, w.encryption_key)
            vault.start()
            stack.callback(vault.close)
            vaults[w.did] = vault
            directory[w.did] = stack.enter_context(BackgroundServer(create_vault_app(vault)))
        c = Consortium(home, node, api_url, wallets, members, vaults, directory, passphrase)
        stack.callback(c.close_clients)
        _admit(c)
        _write_directory(c)
        yield c
    finally:
        stack.close()
        node.close()


def _admit(c: Consortium) -> None:
    with NodeClient(c.api_url, timeout=60) as admin:
        for staff in STAFF:
            org = c.wallets[staff.organization]
            req = builder.join_request(c.wallets[staff.name], CHAIN_ID, org.did)
            admin.send(org, [builder.admit_practitioner(req["did"], staff.roles,
                                                        req["enc_key"], req["pop"])])


def _write_directory(c: Consortium) -> None:
    entries = {name: {"did": w.did, "label": w.label,
                      "kind": ("authority" if name == "authority" else
                               "patient" if name.startswith("patient_") else
                               "organization" if c.members[name].org_type else
                               "practitioner"),
                      "organization": (c.did(c.members[name].organization)
                                       if name in c.members and c.members[name].organization
                                       else None)}
               for name, w in c.wallets.items()}
    (c.home / "directory.json").write_text(json.dumps(
        {"chain_id": CHAIN_ID, "validator": c.node.key.did, "members": entries},
        indent=2, sort_keys=True))
