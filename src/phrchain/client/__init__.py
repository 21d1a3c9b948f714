"""The phrchain SDK: wallets, tx building, a node client and proof verification.

    from phrchain.client import Wallet, NodeClient, builder, verify_query_against_header
"""

from phrchain.client import builder
from phrchain.client.http import ApiError, NodeClient
from phrchain.client.verify import (
    genesis_app_hash,
    query_key,
    verify_header,
    verify_query,
    verify_query_against_header,
)
from phrchain.client.wallet import KdfParams, Wallet, WalletError, read_public

__all__ = [
    "ApiError", "KdfParams", "NodeClient", "Wallet", "WalletError", "builder",
    "genesis_app_hash", "query_key", "read_public", "verify_header", "verify_query",
    "verify_query_against_header",
]
