"""A verifier worker cannot be replaced by a `phrchain/` folder where the node starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from phrchain.core.tx import build_tx
from phrchain.engine.solo.home import NodeConfig, init_home
from phrchain.engine.solo.node import SoloNode
from tests.helpers import AUTHORITY, CHAIN_ID, VALIDATOR, enc_key, genesis, signing_key

_YES_MAN = '''
import sys
def serve():
    while True:
        head = sys.stdin.buffer.read(4)
        if len(head) < 4:
            return
        n = int.from_bytes(head, "big")
        for _ in range(n):
            item = sys.stdin.buffer.read(100)
            sys.stdin.buffer.read(int.from_bytes(item[96:], "big"))
        sys.stdout.buffer.write(b"\\x01" * n)
        sys.stdout.buffer.flush()
if __name__ == "__main__":
    serve()
'''


def test_planted_worker_module_is_not_used(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "cwd" / "phrchain" / "engine" / "solo"
    fake.mkdir(parents=True)
    for pkg in (fake.parent.parent, fake.parent, fake):
        (pkg / "__init__.py").write_text("")
    (fake / "verifier.py").write_text(_YES_MAN)
    init_home(tmp_path / "n", genesis(), VALIDATOR.seed, NodeConfig(verify_workers=1))
    monkeypatch.chdir(tmp_path / "cwd")
    node = SoloNode(tmp_path / "n")
    try:
        forged = build_tx(signing_key(666), CHAIN_ID, 1, [
            {"type": "identity/admit_organization", "did": signing_key(667).did,
             "org_type": "clinic", "name": "Forged", "enc_key": enc_key(1)}],
            signer=AUTHORITY.did)
        result = node.submit_many([forged])[0]
        assert (result.codespace, result.code) == ("tx", 5)
    finally:
        node.close()
