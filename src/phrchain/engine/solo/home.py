"""A solo node's home directory: config, genesis, validator key, data.

::

    DIR/config/genesis.json        chain id, genesis time, validator DID, app_state
    DIR/config/node.json           block cutting, mempool bounds, API address
    DIR/config/validator_key.json  the proposer's Ed25519 seed (mode 0600; an unattended
                                   node must be able to sign blocks, see docs/operations.md)
    DIR/data/state.db, blocks.db   SQLite state store and block store (``keep_versions``
                                   in node.json prunes old state versions; blocks stay)
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from phrchain.core import keys
from phrchain.core.errors import PhrError


class HomeError(PhrError):
    """The home directory is missing, incomplete or already initialised."""


@dataclass(frozen=True, slots=True)
class NodeConfig:
    block_interval_ms: int = 200
    max_block_txs: int = 5000
    max_block_bytes: int = 8 * 1024 * 1024
    mempool_max_txs: int = 100_000
    mempool_max_bytes: int = 256 * 1024 * 1024
    # Ed25519 verification worker processes (0 = verify in the node's own thread).
    verify_workers: int = 1
    # Run state-store inserts in a writer process (see storage/writer.py).
    state_writer: bool = True
    # Pipeline blocks: execute block N+1 (and re-check the mempool on top of it) while
    # block N is being written and committed by another thread (needs state_writer).
    pipeline: bool = True
    api_host: str = "127.0.0.1"
    api_port: int = 8645
    # Pruning: keep the last keep_versions state versions, pruning every keep_versions
    # blocks (queries and proofs below answer query/3); 0 = archive, keep every version.
    keep_versions: int = 0


def config_dir(home: Path) -> Path:
    return home / "config"


def data_dir(home: Path) -> Path:
    return home / "data"


def _write_private(path: Path, data: dict[str, Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)


def init_home(home: Path, genesis: dict[str, Any], validator_seed: bytes,
              config: NodeConfig | None = None) -> None:
    """Create a new home. ``genesis`` must already name the validator's DID."""
    cfg = config_dir(home)
    if (cfg / "genesis.json").exists():
        raise HomeError(f"{home} already holds a chain; pick another --home")
    cfg.mkdir(parents=True, exist_ok=True)
    data_dir(home).mkdir(parents=True, exist_ok=True)
    (cfg / "genesis.json").write_text(json.dumps(genesis, indent=2, sort_keys=True))
    (cfg / "node.json").write_text(json.dumps(asdict(config or NodeConfig()), indent=2))
    _write_private(cfg / "validator_key.json", {"seed": validator_seed.hex()})


def load_genesis(home: Path) -> dict[str, Any]:
    path = config_dir(home) / "genesis.json"
    if not path.exists():
        raise HomeError(f"no chain in {home}: run `phrchain init --home {home}` first")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def load_config(home: Path) -> NodeConfig:
    path = config_dir(home) / "node.json"
    return NodeConfig(**json.loads(path.read_text())) if path.exists() else NodeConfig()


def load_validator_key(home: Path) -> keys.SigningKey:
    path = config_dir(home) / "validator_key.json"
    if not path.exists():
        raise HomeError(f"{path} is missing")
    return keys.SigningKey(bytes.fromhex(json.loads(path.read_text())["seed"]))
