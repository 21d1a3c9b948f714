"""The regulator's offline proof file of one clinical trial (issue 16).

A file is canonical JSON (``core/encoding``) ``{"body": …, "exporter": did,
"signature": hex}``; the exporter signs
``domain_prefix("phrchain/trials/audit-export/v1") || canonical(body)`` (the body's
``format`` names the file's version).
Since the file must be exactly its canonical encoding and the signature covers the
whole body, **every byte matters**: the verifier cuts the body's bytes from the file
and checks the seal over them before parsing anything, so a changed byte in the body
fails the seal, and one in the frame, the exporter's DID or the signature makes the
file malformed or fails the seal (``trialfile/1`` or ``/2``). The seal only says who
exported the file; what a reader trusts are the proofs:

- ``engine: "solo"``: the body carries the solo validator's signed header of ``height``
  (its app hash is the state *after* that block, which the entries are proven against).
  Trust root: the validator's DID, from the chain's genesis.
- ``engine: "cometbft"``: the entries are proven at ``height`` against the app hash in
  the header of ``height + 1``; the body carries ``light``, the signed headers (header +
  commit) and validator sets that CometBFT's light-client verification
  (``client/lightclient_skipping.py``, ``client/lightclient_cometbft.py``) needs to
  reach that header from the genesis validator set, which is the trust root the reader
  brings (CometBFT's ``genesis.json``, or ``{"validators": [...]}`` in its format).

Body fields: ``format, engine, trial, height, chain_id, entries`` (``[{key, answer}]``,
each a proved ``store`` query of one ``trials/`` key of the trial at ``height``), the
exporter's DID and either ``header`` (solo) or ``light`` (cometbft). Refusals are
``trialfile`` codes (``errors.py``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

from phrchain.client.lightclient_cometbft import LightHeader, validator_set_from_genesis
from phrchain.client.lightclient_skipping import (
    FollowingLightClient,
    RpcProvider,
    TrustedState,
    rfc3339_ns,
)
from phrchain.client.trialfile import errors as e
from phrchain.client.verify import verify_header, verify_query
from phrchain.core import encoding, keys
from phrchain.core.errors import CryptoError, EncodingError, PhrError, ProofError
from phrchain.core.hashing import domain_prefix
from phrchain.modules.trials import keys as tk
from phrchain.modules.trials.keys import trial_key

AUDIT_FORMAT: Final = "phrchain-trial-audit/v2"
EXPORT_TAG: Final = domain_prefix("phrchain/trials/audit-export/v1")  # body names v2
ENGINES: Final = ("solo", "cometbft")
_TAIL: Final = re.compile(rb',"exporter":"(did:key:z[1-9A-HJ-NP-Za-km-z]{1,64})",'
                          rb'"signature":"([0-9a-f]{128})"}')
_BODY: Final = frozenset({"format", "engine", "trial", "height", "chain_id", "entries",
                          "exporter"})

__all__ = ["AUDIT_FORMAT", "EXPORT_TAG", "export_audit", "trust_from_json", "verify_audit"]


# -- export -------------------------------------------------------------------------------
class _Recording:
    """A light-client provider that keeps what it served (it becomes the file's
    ``light``: exactly what the verifier's light client will ask for)."""

    def __init__(self, inner: RpcProvider) -> None:
        self.inner = inner
        self.headers: dict[int, Any] = {}
        self.sets: dict[int, Any] = {}

    def signed_header(self, height: int) -> Mapping[str, Any]:
        self.headers[height] = self.inner.signed_header(height)
        return self.headers[height]  # type: ignore[no-any-return]

    def validators(self, height: int) -> Sequence[Mapping[str, Any]]:
        self.sets[height] = list(self.inner.validators(height))
        return self.sets[height]  # type: ignore[no-any-return]


def _entries(session: Any, trial: str, trail: Sequence[str], height: int) -> list[Any]:
    return [{"key": name, "answer": session.node.query(
        "store", {"key": name.encode().hex()}, height, prove=True)} for name in trail]


def export_audit(session: Any, trial: str, trail: Any, rpc: Any = None) -> bytes:
    """The proof file of ``trial`` at the latest provable height, sealed by the
    session's wallet. ``trail(trial, height)`` lists the trial's keys; ``rpc`` (a
    ``CometRpc`` of any node of the network) makes a CometBFT file, else a solo one."""
    if rpc is None:
        header = session.node.header()
        height = int(header["header"]["height"])
        chain_id = str(header["header"]["chain_id"])
        proof: dict[str, Any] = {"engine": "solo", "header": header}
    else:
        # entries at H are proven by header H + 1, whose light-client check also reads
        # the validator set of H + 2: stay two below the latest height.
        height = rpc.height() - 2
        if height < 1:
            raise ProofError("the network has not made enough blocks for a proof file")
        genesis = rpc.genesis()
        chain_id = str(genesis["chain_id"])
        recorder = _Recording(RpcProvider(rpc))
        FollowingLightClient(chain_id, TrustedState.from_genesis(genesis), recorder,
                             trusting_period_ns=None).verify_to(height + 1, time.time_ns())
        proof = {"engine": "cometbft", "light": {
            "signed_headers": [[h, recorder.headers[h]] for h in sorted(recorder.headers)],
            "validators": [[h, recorder.sets[h]] for h in sorted(recorder.sets)]}}
    body = {"format": AUDIT_FORMAT, "trial": trial, "height": height, "chain_id": chain_id,
            "entries": _entries(session, trial, trail(trial, height), height),
            "exporter": session.wallet.did, **proof}
    signature = session.wallet.signing_key.sign(EXPORT_TAG + encoding.encode(body))
    return encoding.encode({"body": body, "exporter": session.wallet.did,
                            "signature": signature.hex()})


# -- verify -------------------------------------------------------------------------------
class _FileProvider:
    """The light client's provider over the file's ``light`` (untrusted, like any)."""

    def __init__(self, light: Mapping[str, Any]) -> None:
        self.headers = {int(h): v for h, v in light["signed_headers"]}
        self.sets = {int(h): v for h, v in light["validators"]}
        if set(light) != {"signed_headers", "validators"}:
            raise e.MALFORMED("light: exactly signed_headers and validators")

    def signed_header(self, height: int) -> Mapping[str, Any]:
        if height not in self.headers:
            raise e.UNTRUSTED_HEADER(f"the file lacks the signed header of {height}")
        return self.headers[height]  # type: ignore[no-any-return]

    def validators(self, height: int) -> Sequence[Mapping[str, Any]]:
        if height not in self.sets:
            raise e.UNTRUSTED_HEADER(f"the file lacks the validator set of {height}")
        return self.sets[height]  # type: ignore[no-any-return]


def trust_from_json(document: Mapping[str, Any]) -> TrustedState:
    """The trust root of a CometBFT file: a ``genesis.json`` (its validators and time),
    or ``{"validators": [{"pub_key", "power"}]}`` (the genesis set, in genesis format)."""
    try:
        if "genesis_time" in document:
            return TrustedState.from_genesis(document)
        return TrustedState(0, 0, b"", validator_set_from_genesis(document))
    except (ProofError, CryptoError, AttributeError, TypeError) as exc:
        raise e.WRONG_TRUST(f"not a validator set ({exc})") from None


def _solo_app_hash(body: Mapping[str, Any], validator_did: str | None,
                   chain_id: str | None) -> bytes:
    if validator_did is None:
        raise e.WRONG_TRUST("a solo-engine file is checked against its validator's DID")
    try:
        header = verify_header(body["header"], validator_did, chain_id)
    except (ProofError, CryptoError) as exc:
        raise e.UNTRUSTED_HEADER(str(exc)) from None
    if header.height != body["height"] or header.chain_id != body["chain_id"]:
        raise e.UNTRUSTED_HEADER("the header is not the file's height or chain")
    return header.app_hash


def _cometbft_app_hash(body: Mapping[str, Any], trust: Mapping[str, Any] | None,
                       chain_id: str | None, now_ns: int) -> bytes:
    if trust is None:
        raise e.WRONG_TRUST("a CometBFT file is checked against the genesis validator set")
    root = trust_from_json(trust)
    chain = chain_id or trust.get("chain_id") or body["chain_id"]
    if chain != body["chain_id"]:
        raise e.UNTRUSTED_HEADER(f"the file is for chain {body['chain_id']!r}, not {chain!r}")
    client = FollowingLightClient(str(chain), root, _FileProvider(body["light"]),
                                  trusting_period_ns=None)
    try:
        header: LightHeader = client.verify_to(int(body["height"]) + 1, now_ns)
    except e.TrialFileError:
        raise
    except (ProofError, CryptoError) as exc:
        raise e.UNTRUSTED_HEADER(str(exc)) from None
    if rfc3339_ns(header.time) <= root.time_ns and root.time_ns:
        raise e.UNTRUSTED_HEADER("the header is not later than the trust root")
    return header.app_hash


def _state(body: Mapping[str, Any], app_hash: bytes) -> dict[str, Any]:
    trial, height = str(body["trial"]), body["height"]
    state: dict[str, Any] = {}
    for item in body["entries"]:
        name, answer = item["key"], item["answer"]
        if set(item) != {"key", "answer"} or not isinstance(name, str) \
                or not name.startswith("trials/") or trial not in name.split("/") \
                or name in state:
            raise e.FOREIGN_ENTRY(f"{name!r}")
        if answer.get("path") != "store" or answer.get("height") != height:
            raise e.BAD_PROOF(f"{name}: not a raw-key answer at height {height}")
        try:
            raw = verify_query(answer, app_hash, name.encode())
        except (ProofError, CryptoError) as exc:
            raise e.BAD_PROOF(f"{name}: {exc}") from None
        if raw is None:
            raise e.BAD_PROOF(f"{name} is proven absent")
        state[name] = encoding.decode(bytes.fromhex(raw))
    if trial_key(trial).decode() not in state:
        raise e.FOREIGN_ENTRY("the trial's head is not in the file")
    _complete(trial, state)
    return state


def _under(state: Mapping[str, Any], base: bytes, *parts: str) -> list[str]:
    start = tk.prefix(base, *parts).decode()
    return [name for name in state if name.startswith(start)]


def _implied_by_participants(trial: str, state: Mapping[str, Any]) -> list[bytes]:
    """Each participant's current consent; each entry's index (and back), and the
    correction link of a correction."""
    need = [tk.consent_key(trial, p["participant"], int(p["consent_version"]))
            for p in (state[n] for n in _under(state, tk.PARTICIPANT, trial))]
    for name in _under(state, tk.BY_PARTICIPANT, trial):
        need.append(tk.entry_key(trial, name.rsplit("/", 1)[1]))
    for entry in (state[n] for n in _under(state, tk.ENTRY, trial)):
        need.append(tk.participant_entry_key(trial, entry["participant"], entry["entry"]))
        if entry.get("corrects"):
            need.append(tk.correction_key(trial, entry["corrects"], entry["entry"]))
    return need


def _complete(trial: str, state: Mapping[str, Any]) -> None:
    """Refuse a file that leaves out what the trial's own proven state implies. A state
    tree keyed by hashes has no range proofs, so completeness is checked where the
    state counts or names things: every version up to the current one, its sites, as
    many participants as the head counts, the latest commitments, results and a label
    for every outcome they classified, and each entry's index (and back). Not
    detectable: an entry left out together with its index (nothing counts entries),
    a signature, an older commitment of a kind."""
    head = state[trial_key(trial).decode()]
    version = int(head["version"])
    need = [tk.version_key(trial, v) for v in range(1, version + 1)]
    participants = _under(state, tk.PARTICIPANT, trial)
    if len(participants) != head["participants"]:
        raise e.INCOMPLETE(f"{len(participants)} of {head['participants']} participants")
    current = state.get(tk.version_key(trial, version).decode())
    need += [tk.site_key(trial, org) for org in (current or {}).get("sites", ())]
    need += _implied_by_participants(trial, state)
    for kind in ("sap", "randomisation"):
        if head.get(kind) is not None and head[kind] not in [
                state[n]["commitment"] for n in _under(state, tk.COMMITMENT, trial, kind)]:
            raise e.INCOMPLETE(f"the latest {kind} commitment")
    if head.get("reported_height") is not None:
        results = state.get(tk.results_key(trial).decode())
        baseline = state.get(tk.version_key(trial, int(head["baseline"])).decode())
        if results is None or baseline is None:
            raise e.INCOMPLETE("the results or their baseline version")
        ids = {o["id"] for o in baseline["outcomes"]} | {o["id"] for o in results["outcomes"]}
        need += [tk.label_key(trial, i) for i in sorted(ids)]
    missing = [k.decode() for k in need if k.decode() not in state]
    if missing:
        raise e.INCOMPLETE(f"{len(missing)} key(s), e.g. {missing[0]}")


def _sealed_body(data: bytes) -> tuple[bytes, str, bytes]:
    """``(body bytes, exporter, signature)`` cut from the file's bytes, before any
    parsing: a canonical file is ``{"body":<body>,"exporter":"<did>","signature":"<hex>"}``
    exactly, so the seal is checked first over the body's bytes as they stand."""
    cut = data.rfind(b',"exporter":"')
    tail = _TAIL.fullmatch(data, cut) if cut > 0 else None
    if not data.startswith(b'{"body":') or tail is None:
        raise e.MALFORMED('not {"body", "exporter", "signature"} in canonical form')
    return data[8:cut], tail.group(1).decode(), bytes.fromhex(tail.group(2).decode())


def _open(data: bytes) -> dict[str, Any]:
    body_bytes, exporter, signature = _sealed_body(data)
    try:
        keys.verify(keys.public_key_from_did(exporter), signature, EXPORT_TAG + body_bytes)
    except CryptoError as exc:
        raise e.BAD_SEAL(str(exc)) from None
    try:  # sealed by the exporter, but possibly not canonical or not this format
        document = encoding.decode(data)
        if encoding.encode(document) != data:
            raise e.MALFORMED("not in canonical form")
        body = document["body"]
        if not isinstance(body, dict) or body.get("format") != AUDIT_FORMAT \
                or body.get("engine") not in ENGINES or body.get("exporter") != exporter:
            raise e.MALFORMED(f"not a {AUDIT_FORMAT} file")
        proof = "header" if body["engine"] == "solo" else "light"
        if set(body) != {*_BODY, proof}:
            raise e.MALFORMED(f"the body has exactly {sorted({*_BODY, proof})}")
    except (EncodingError, TypeError, ValueError, AttributeError, KeyError) as exc:
        raise e.MALFORMED(f"{type(exc).__name__}: {exc}") from None
    return body


def verify_audit(data: bytes, validator_did: str | None = None, chain_id: str | None = None,
                 *, trust: Mapping[str, Any] | None = None, now_ns: int | None = None
                 ) -> dict[str, Any]:
    """Check a proof file offline and return what it proves: ``{trial, height, engine,
    exporter, state: {key: value}}``. A solo file trusts ``validator_did``; a CometBFT
    file trusts ``trust`` (the genesis validator set, :func:`trust_from_json`);
    ``chain_id`` pins the chain. Raises :class:`~.errors.TrialFileError`."""
    body = _open(data)
    try:
        if body["engine"] == "solo":
            app_hash = _solo_app_hash(body, validator_did, chain_id)
        else:
            app_hash = _cometbft_app_hash(body, trust, chain_id,
                                          time.time_ns() if now_ns is None else now_ns)
        state = _state(body, app_hash)
    except e.TrialFileError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, EncodingError, PhrError) as exc:
        raise e.MALFORMED(f"{type(exc).__name__}: {exc}") from None
    return {"trial": body["trial"], "height": body["height"], "engine": body["engine"],
            "exporter": body["exporter"], "state": state}
