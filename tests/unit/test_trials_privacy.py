"""A participant acts under its trial pseudonym only: after a whole trial, no chain
byte (state keys and values, txs, events) names the patient's other identities — its
pseudonym at the hospital that keeps its records, its public key — and the trial
pseudonym appears nowhere outside the trials and identity modules."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from phrchain.app import BlockResult
from phrchain.modules.trials.messages import Sign
from tests.trialflow import OUTCOMES, TrialWorld, entry_id, pseudonym, trial_id
from tests.world import A1, A2, HOSPITAL_A, RR, enc_key, register_msg

T = trial_id(7)


class RecordingWorld(TrialWorld):
    """Keeps every tx and every result the chain produced."""

    def __post_init__(self) -> None:
        self.txs: list[bytes] = []
        self.results: list[BlockResult] = []
        super().__post_init__()


def chain_bytes(w: RecordingWorld) -> bytes:
    state = b"\n".join(k + b"=" + v for k, v in w.chain.app.store.iterate(b""))
    events = b"\n".join(repr(r.tx_results).encode() for r in w.results)
    return state + b"\n" + b"\n".join(w.txs) + b"\n" + events


def test_nothing_on_chain_links_the_trial_pseudonym_to_the_patient() -> None:
    w = RecordingWorld()
    block = w.chain.block

    def recording(txs: Sequence[bytes]) -> BlockResult:
        w.txs.extend(txs)
        result = block(txs)
        w.results.append(result)
        return result

    w.chain.block = recording  # type: ignore[method-assign]
    root = hashlib.sha256(b"wallet root of patient 1").digest()
    at_hospital = pseudonym(root, HOSPITAL_A.did, "custodian")
    in_trial = pseudonym(root, f"trial:{T}", "trial")
    w.ok(at_hospital, {"type": "identity/register_patient", "enc_key": enc_key(77)})
    w.ok(HOSPITAL_A, register_msg(at_hospital))  # the patient's records, at the hospital
    w.ok(in_trial, {"type": "identity/register_patient", "enc_key": enc_key(78)})
    w.ready(T)
    w.ok(in_trial, w.enrol_msg(T))
    w.ok(A1, w.entry_msg(T, 1, in_trial))
    w.ok(A2, Sign(T, entry_id(1), "review").to_msg())
    w.lock(T)
    w.ok(RR, w.results_msg(T, OUTCOMES))
    w.withdraw(in_trial, T)

    seen = chain_bytes(w)
    assert in_trial.did.encode() in seen and at_hospital.did.encode() in seen  # scan works
    trial_tx = [tx for tx in w.txs if in_trial.did.encode() in tx or b"trials/" in tx]
    for tx in trial_tx:   # no trial message names the patient's other identity
        assert at_hospital.did.encode() not in tx
        assert at_hospital.public_key not in tx and at_hospital.public_key.hex().encode() not in tx
    for key, value in w.chain.app.store.iterate(b""):
        if key.startswith(b"trials/"):
            assert at_hospital.did.encode() not in key + value, key
            continue
        if key.startswith(b"identity/"):   # each pseudonym is its own patient identity
            continue
        # Outside trials and identity, nothing mentions the trial pseudonym: members see
        # no link between the hospital's patient and the trial.
        assert in_trial.did.encode() not in key + value, key
    for result in w.results:
        for tx_result in result.tx_results:
            attrs = repr(tx_result.events).encode()
            assert not (in_trial.did.encode() in attrs and at_hospital.did.encode() in attrs)
    participant = w.query("trials/participant", trial=T, participant=in_trial.did)
    assert set(participant) == {"participant", "site", "consent_version", "protocol",
                                "enrolled_height", "enrolled_ms", "status",
                                "withdrawn_height", "withdrawal"}
    assert participant["participant"] == in_trial.did
    trail = w.query("trials/trail", trial=T, limit=1000)["keys"]
    for name in trail:
        value = w.query("trials/key", key=name)
        assert at_hospital.did not in repr(value)
    assert not any(at_hospital.did in name for name in trail)


def test_the_sdk_derives_the_designs_trial_pseudonym() -> None:
    """``client.trials.trial_wallet`` for a wallet without its own root: the design's
    legacy root (HKDF of the signing seed), then the pseudonym for counterpart
    ``trial:<id>``, kind "trial" — one DID per trial, none equal to the patient's."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    from phrchain.client.trials import counterpart, trial_wallet
    from phrchain.client.wallet import Wallet

    patient = Wallet.from_secrets(b"\x05" * 32, b"\x06" * 32, "patient")
    root = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"phrchain/pseudonym/legacy-root/v1").derive(b"\x05" * 32)
    first, second = trial_wallet(patient, T), trial_wallet(patient, trial_id(8))
    assert first.did == pseudonym(root, counterpart(T)).did
    assert len({first.did, second.did, patient.did}) == 3
    assert trial_wallet(patient, T).did == first.did   # stable
