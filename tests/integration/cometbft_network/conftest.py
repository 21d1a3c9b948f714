"""The one CometBFT network the tests of this package share (see ``__init__.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from phrchain.engine.abci.net import Network, init_network
from tests.integration.cometbft_network.network import CHAIN, CHEAP_KDF, TUNING


@pytest.fixture(scope="package")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    home = tmp_path_factory.mktemp("cometbft-net")
    network = init_network(home, 4, "test passphrase", CHAIN, tuning=TUNING, kdf=CHEAP_KDF)
    try:
        network.up(timeout=60)
        yield network
    finally:
        for index in range(4):
            network.kill_node(index)
