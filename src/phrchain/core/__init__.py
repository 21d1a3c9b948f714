"""The pure core: canonical encoding, hashing, keys, tx envelope, Merkle structures, the
state-store protocol and the error tree. No clock, randomness, files or network here."""
