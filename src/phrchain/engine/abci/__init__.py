"""CometBFT engine: the phrchain application served over ABCI 2.0 (CometBFT v0.38).

- ``abci.proto`` / ``abci_pb2``: the wire messages (written from the ABCI spec);
- ``wire``: varint length-prefixed framing; ``server``: four connections, in-order replies;
- ``adapter``: ABCI methods → :class:`phrchain.app.Application`;
- ``net``: create, start, inspect and stop a local N-validator network.
"""
