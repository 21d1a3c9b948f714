"""An in-memory phrchain for your own tests: no engine, no disk, no network.

    from phrchain.testing import Chain, signing_key

    chain = Chain.new()                      # genesis with one authority (AUTHORITY)
    hospital, patient = signing_key(101), signing_key(301)
    assert chain.admit_org(hospital).ok
    assert chain.register_patient(patient).ok
    result = chain.run(patient, {"type": "consent/grant", ...})   # one tx, one block
    chain.app.query("identity/did", {"did": patient.did})

Blocks run through the real :class:`~phrchain.app.Application` with every module, so a
test sees exactly the codes, events and state a node would produce. Block time starts at
``genesis_time_ms`` and advances one second per block (set ``chain.time_ms`` to jump).

The keys are derived from small integers so tests can name everyone: they are public,
and for tests only — never use :func:`signing_key` for anything real.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from phrchain.app import STATE_VERSION, Application, BlockInfo, BlockResult, new_application
from phrchain.core import keys
from phrchain.core.module import BLOCK_KEY
from phrchain.core.store import MemoryStateStore, StateStore
from phrchain.core.tx import build_tx
from phrchain.modules.identity import admission_bytes
from phrchain.modules.trials.genesis import RECOMMENDED as TRIALS_GENESIS
from phrchain.research import terms as research_terms

__all__ = ["AUTHORITY", "CHAIN_ID", "VALIDATOR", "Chain", "admit_org_msg",
           "admit_practitioner_msg", "enc_key", "genesis", "pop", "signing_key",
           "supply_params", "tx_state"]

CHAIN_ID = "phr-test"


def signing_key(n: int) -> keys.SigningKey:
    return keys.SigningKey(n.to_bytes(32, "big"))


def enc_key(n: int) -> str:
    return keys.EncryptionKey((n + 1_000_000).to_bytes(32, "big")).public_key.hex()


AUTHORITY = signing_key(1)
VALIDATOR = signing_key(2)


def pop(admitted: keys.SigningKey, admitted_by: str, enc_key_hex: str,
        chain_id: str = CHAIN_ID) -> str:
    """The admitted key's proof of possession for its admission by ``admitted_by``."""
    return admitted.sign(admission_bytes(chain_id, admitted_by, admitted.did,
                                         bytes.fromhex(enc_key_hex))).hex()


def admit_org_msg(org: keys.SigningKey, org_type: str = "hospital", name: str = "General Hospital",
                  enc: str | None = None, by: keys.SigningKey = AUTHORITY) -> dict[str, Any]:
    enc = enc or enc_key(7)
    return {"type": "identity/admit_organization", "did": org.did, "org_type": org_type,
            "name": name, "enc_key": enc, "pop": pop(org, by.did, enc)}


def admit_practitioner_msg(org: keys.SigningKey, who: keys.SigningKey,
                           roles: Sequence[str] = ("physician",),
                           enc: str | None = None) -> dict[str, Any]:
    enc = enc or enc_key(8)
    return {"type": "identity/admit_practitioner", "did": who.did, "roles": sorted(roles),
            "enc_key": enc, "pop": pop(who, org.did, enc)}


def genesis(chain_id: str = CHAIN_ID, supply: Mapping[str, Any] | None = None,
            research: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A test genesis; ``supply`` (e.g. :func:`supply_params`) becomes the supply
    module's parameter table, version 1; ``research`` is the research section (default:
    the shipped DUO/MONDO tables; ``{}`` for a chain without research)."""
    identity = {"authorities": [{"did": AUTHORITY.did, "enc_key": enc_key(1),
                                 "name": "Test consortium"}], **extra}
    app_state: dict[str, Any] = {"version": STATE_VERSION, "identity": identity,
                                 "trials": TRIALS_GENESIS,
                                 "research": research_terms.genesis_section()
                                 if research is None else dict(research)}
    if supply is not None:
        app_state["supply"] = {"params": dict(supply)}
    return {"chain_id": chain_id, "genesis_time_ms": 1_700_000_000_000,
            "validator": VALIDATOR.did, "app_state": app_state}


@dataclass
class Chain:
    """Builds signed txs with automatic nonces and executes them block by block."""

    app: Application
    nonces: dict[str, int] = field(default_factory=dict)
    time_ms: int = 1_700_000_000_000

    @classmethod
    def new(cls, store: StateStore | None = None,
            supply: Mapping[str, Any] | None = None,
            research: Mapping[str, Any] | None = None) -> Chain:
        app = new_application(store or MemoryStateStore())
        app.init_chain(genesis(supply=supply, research=research))
        return cls(app)

    def tx(self, key: keys.SigningKey, *msgs: Mapping[str, Any], nonce: int | None = None,
           signer: str | None = None, chain_id: str = CHAIN_ID) -> bytes:
        did = signer or key.did
        if nonce is None:
            nonce = self.nonces.get(did, 0) + 1
            self.nonces[did] = nonce
        return build_tx(key, chain_id, nonce, list(msgs), signer=did)

    def block(self, txs: Sequence[bytes]) -> BlockResult:
        self.time_ms += 1000
        result = self.app.finalize_block(BlockInfo(self.app.store.version() + 1, self.time_ms),
                                         txs)
        self.app.commit()
        return result

    def run(self, key: keys.SigningKey, *msgs: Mapping[str, Any], **kw: Any) -> Any:
        """One tx in its own block; returns its result."""
        return self.block([self.tx(key, *msgs, **kw)]).tx_results[0]

    # common messages
    def admit_org(self, org: keys.SigningKey, org_type: str = "hospital") -> Any:
        return self.run(AUTHORITY, admit_org_msg(org, org_type))

    def admit_practitioner(self, org: keys.SigningKey, who: keys.SigningKey,
                           roles: Sequence[str] = ("physician",)) -> Any:
        return self.run(org, admit_practitioner_msg(org, who, roles))

    def register_patient(self, patient: keys.SigningKey) -> Any:
        return self.run(patient, {"type": "identity/register_patient", "enc_key": enc_key(9)})


def supply_params() -> dict[str, Any]:
    """A starting supply parameter table for demo and test genesis files only (the
    chain never falls back to it; a real consortium sets its own in genesis).
    MME factors: CDC 2022 clinical practice guideline conversion table, x 1000, keyed
    by RxNorm ingredient; thresholds: CDC 90 MME/day, Korean MFDS
    misuse criteria (zolpidem above 10 mg/day, 3-month courses), EU reversal 10 days."""
    return {
        "aware": {"J01": "watch", "J01AA": "access", "J01CA04": "access",
                  "J01CR02": "access", "J01DD": "watch", "J01DH": "watch",
                  "J01FA": "watch", "J01MA": "watch", "J01XA": "watch",
                  "J01XB01": "reserve", "J01XX08": "reserve", "J01XX09": "reserve"},
        "groups": {"analgesic": ["N02"], "antibiotic": ["J01"],
                   "anxiolytic": ["N05B"], "appetite_suppressant": ["A08AA"],
                   "benzodiazepine": ["N03AE", "N05BA", "N05CD"], "opioid": ["N02A"],
                   "zolpidem": ["N05CF02"]},
        # morphine 7052, oxycodone 7804, hydrocodone 5489, hydromorphone 3423,
        # codeine 2670, tramadol 10689, tapentadol 787390, oxymorphone 7814,
        # methadone 6813.
        "mme_milli": {"7052": 1000, "7804": 1500, "5489": 1000, "3423": 5000,
                      "2670": 150, "10689": 200, "787390": 400, "7814": 3000,
                      "6813": 4700},
        "thresholds": {"mme_per_day": 90, "providers": 3, "pharmacies": 3,
                       "window_days": 90, "zolpidem_ug_per_day": 10_000,
                       "long_use_days": 90, "reversal_window_days": 10},
        "long_use_groups": ["analgesic", "anxiolytic", "appetite_suppressant"],
        "holders": {"narcotic": ["hospital", "manufacturer", "pharmacy", "wholesaler"],
                    "none": ["clinic", "hospital", "manufacturer", "pharmacy",
                             "wholesaler"],
                    "psychotropic": ["clinic", "hospital", "manufacturer", "pharmacy",
                                     "wholesaler"]},
        "prescriber_roles": {"narcotic": ["physician"], "none": ["nurse", "physician"],
                             "psychotropic": ["physician"]},
        "stewardship_codes": ["culture_confirmed", "id_consult", "mdr_suspected"],
        "exemptions": ["cancer_pain", "palliative"],
    }


def tx_state(chain: Chain) -> list[tuple[bytes, bytes]]:
    """Every committed key and value except the per-block ``app/block`` entry: what a tx
    may change (a block always updates its height and time)."""
    return [(k, v) for k, v in chain.app.store.iterate(b"") if k != BLOCK_KEY]
