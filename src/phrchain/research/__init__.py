"""Research data donation off chain (issue 17): the pinned terms tables, the vault's
release pipeline, and the SDK pieces donors, institutes and vaults share. The chain
side is :mod:`phrchain.modules.research`; de-identification is :mod:`phrchain.deid`."""
