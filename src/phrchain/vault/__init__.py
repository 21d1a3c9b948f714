"""The vault: record encryption (:mod:`.crypto`) and the durable encrypted blob store
(:mod:`.blobs`), and the vault request protocol shared by the SDK and the gateway
(:mod:`.requests`, :mod:`.wire`, :mod:`.gateway_errors`). Import those modules directly;
this package imports nothing so that ``import phrchain.vault.crypto`` stays light (no
SQLite). The gateway service itself is :mod:`phrchain.gateway`, above the SDK."""
