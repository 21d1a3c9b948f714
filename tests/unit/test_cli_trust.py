"""Which trust anchor the audit commands use, from their options."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from phrchain.cli.audit import trust_anchor
from phrchain.cli.common import CliError
from phrchain.client.anchors import CometAnchor, SoloAnchor

VALIDATOR_KEY = {"type": "tendermint/PubKeyEd25519",
                 "value": "zYhGvUBfBrWtZkNl4eRCxXHtBiZrPJy6sQExVhVi5lI="}


def args(**kw: object) -> argparse.Namespace:
    base: dict[str, object] = {"genesis": None, "validator": None, "chain_id": None,
                               "cometbft_rpc": None}
    return argparse.Namespace(**{**base, **kw})


class Node:
    def status(self) -> dict[str, str]:
        return {"validator": "did:key:z6Mkreported"}


def test_cometbft_needs_its_genesis_validator_set(tmp_path: Path) -> None:
    ours = tmp_path / "ours.json"
    ours.write_text(json.dumps({"chain_id": "phr", "validator": "did:key:z6Mkx"}))
    with pytest.raises(CliError, match="CometBFT genesis"):
        trust_anchor(args(cometbft_rpc="http://127.0.0.1:1", genesis=str(ours)), Node())
    comet = tmp_path / "comet.json"
    comet.write_text(json.dumps({"chain_id": "phr-net", "validators": [
        {"address": "", "pub_key": VALIDATOR_KEY, "power": "10", "name": "v"}]}))
    anchor, how = trust_anchor(args(cometbft_rpc="http://127.0.0.1:1", genesis=str(comet)),
                               Node())
    assert isinstance(anchor, CometAnchor) and anchor.chain_id == "phr-net"
    assert "1-validator set" in how


def test_solo_pinned_or_reported(capsys: pytest.CaptureFixture[str]) -> None:
    anchor, how = trust_anchor(args(validator="did:key:z6Mkpinned"), Node())
    assert isinstance(anchor, SoloAnchor) and anchor.validator == "did:key:z6Mkpinned"
    assert "pinned" in how
    anchor, how = trust_anchor(args(), Node())
    assert isinstance(anchor, SoloAnchor) and "reported" in how
    assert "warning" in capsys.readouterr().err
