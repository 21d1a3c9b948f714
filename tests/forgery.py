"""Forged CometBFT signed headers for the light client's fork-detection tests: a header
changed in some fields, committed by precommits signed with validators' own keys (a
double sign when the change is small, a lunatic attack when it invents state), in
CometBFT's byte layouts (``client/lightclient_cometbft.py``)."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from phrchain.client.lightclient_cometbft import header_hash, parse_time, vote_sign_bytes
from phrchain.core import keys
from phrchain.engine.abci.net import Network


def cometbft_key(net: Network, index: int) -> keys.SigningKey:
    """Validator ``index``'s real consensus key, from its ``priv_validator_key.json``."""
    path = Path(net.node_dir(index)) / "cometbft" / "config" / "priv_validator_key.json"
    raw = base64.b64decode(json.loads(path.read_text())["priv_key"]["value"])
    return keys.SigningKey(raw[:32])


def conflicting(signed_header: Mapping[str, Any], changes: Mapping[str, Any],
                signers: Sequence[keys.SigningKey], chain_id: str) -> dict[str, Any]:
    """``signed_header`` with ``changes`` to its header, committed anew (same round, same
    part-set header, each signer's precommit at the original commit's time)."""
    forged = copy.deepcopy(dict(signed_header))
    header = forged["header"]
    header.update(changes)
    commit = forged["commit"]
    block_hash = header_hash(header)
    parts = commit["block_id"]["parts"]
    commit["block_id"]["hash"] = block_hash.hex().upper()
    time = commit["signatures"][0]["timestamp"]
    message = vote_sign_bytes(chain_id, int(header["height"]), int(commit["round"]),
                              (block_hash, int(parts["total"]), bytes.fromhex(parts["hash"])),
                              *parse_time(time))
    commit["signatures"] = [
        {"block_id_flag": 2, "timestamp": time,
         "validator_address": hashlib.sha256(key.public_key).digest()[:20].hex().upper(),
         "signature": base64.b64encode(key.sign(message)).decode()}
        for key in signers]
    return forged


class ForgingProvider:
    """A witness that answers like ``honest`` except at the heights in ``forged``."""

    def __init__(self, honest: Any, forged: Mapping[int, Mapping[str, Any]]) -> None:
        self.honest, self.forged = honest, dict(forged)

    def signed_header(self, height: int) -> Mapping[str, Any]:
        found: Mapping[str, Any] = self.forged.get(height) or self.honest.signed_header(height)
        return found

    def validators(self, height: int) -> Sequence[Mapping[str, Any]]:
        found: Sequence[Mapping[str, Any]] = self.honest.validators(height)
        return found
