"""The vault: record encryption (:mod:`.crypto`) and the durable encrypted blob store
(:mod:`.blobs`). Import those modules directly; this package imports nothing so that
``import phrchain.vault.crypto`` stays light (no SQLite, no gateway)."""
