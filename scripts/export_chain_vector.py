"""Write a solo chain's genesis, blocks and app hashes as a replay test vector.

    .venv/bin/python scripts/export_chain_vector.py HOME OUT.json "how it was made"

The vector holds what a chain stores (tx bytes, block times, app hashes, results roots):
no health data, since the chain holds none. ``tests/unit/test_chain_vectors.py`` replays
every such file through a fresh application, so a refactor that changes a state byte, an
event or a result code fails there.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from phrchain.engine.solo.home import data_dir, load_genesis
from phrchain.storage.blocks import SqliteBlockStore


def main(home: Path, out: Path, source: str) -> None:
    genesis = load_genesis(home)
    store = SqliteBlockStore(data_dir(home) / "blocks.db")
    try:
        blocks = []
        for height in range(1, store.height() + 1):
            signed = store.header(height)
            assert signed is not None, height
            h = signed.header
            blocks.append({"height": height, "time_ms": h.time_ms,
                           "txs": [t.raw.hex() for t in store.txs(height)],
                           "app_hash": h.app_hash.hex(),
                           "results_root": h.results_root.hex()})
    finally:
        store.close()
    vector = {"description": "a whole chain replayed from genesis must give these app "
                             "hashes and results roots at every height",
              "source": source, "genesis": genesis, "blocks": blocks}
    out.write_text(json.dumps(vector, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
