"""Stable error codes of genomic handling (codespace ``c4gh``, off chain). Never renumber.

::

    PhrError
    └── CodedError
        └── GenomeError        every refusal of phrchain.genome: a crypt4gh file, key
                               file, header packet, segment, proof, region or VCF that
                               phrchain will not accept; ``.error`` is one of the codes

Messages name what failed (a packet number, a segment index, a key file's part), never
key bytes, passphrases or genomic content. Off chain: never a consensus code.
"""

from __future__ import annotations

from phrchain.core.errors import CodedError, bind_codespace, register

NOT_CRYPT4GH = register("c4gh", 1, "not_crypt4gh",
                        "input is not a crypt4gh version 1 file")
MALFORMED_HEADER = register("c4gh", 2, "malformed_header",
                            "a crypt4gh header packet is malformed")
NO_READABLE_PACKET = register("c4gh", 3, "no_readable_packet",
                              "no header packet opens with this key")
UNSUPPORTED_METHOD = register("c4gh", 4, "unsupported_method",
                              "an encryption method or packet type phrchain does not "
                              "support")
SEGMENT_AUTH_FAILED = register("c4gh", 5, "segment_auth_failed",
                               "a data segment does not authenticate")
TRUNCATED = register("c4gh", 6, "truncated", "the crypt4gh data ends inside a segment")
BAD_KEY_FILE = register("c4gh", 7, "bad_key_file",
                        "not a crypt4gh key file phrchain can read")
WRONG_PASSPHRASE = register("c4gh", 8, "wrong_passphrase",
                            "the private key does not open with this passphrase")
UNSUPPORTED_KDF = register("c4gh", 9, "unsupported_kdf",
                           "the private key is protected with a key derivation phrchain "
                           "does not implement")
PASSPHRASE_REQUIRED = register("c4gh", 10, "passphrase_required",
                               "the private key is protected and no passphrase was given")
BAD_PUBLIC_KEY = register("c4gh", 11, "bad_public_key",
                          "a reader key is not a usable X25519 public key")
BAD_PROOF = register("c4gh", 12, "bad_proof",
                     "a segment's inclusion proof does not lead to the registered root")
BAD_RANGE = register("c4gh", 13, "bad_range",
                     "the byte range is outside the object or the segments do not cover it")
BAD_REGION = register("c4gh", 14, "bad_region",
                      "a genomic region is malformed (chrom:start-end, 1-based, inclusive)")
NOT_BGZF = register("c4gh", 15, "not_bgzf", "input is not BGZF-compressed VCF")
BAD_VCF = register("c4gh", 16, "bad_vcf", "a VCF line is malformed")
DIGEST_MISMATCH = register("c4gh", 17, "digest_mismatch",
                           "the decrypted object differs from its sealed checksums")
BAD_DESCRIPTOR = register("c4gh", 18, "bad_descriptor",
                          "a genome descriptor is malformed or differs from its commitment")
NOT_GENOME_OBJECT = register("c4gh", 19, "not_genome_object",
                             "no genomic object with that id is held here")
READER_UNKNOWN = register("c4gh", 20, "reader_unknown",
                          "no header packet for that reader")
BAD_PSEUDONYM_KEY = register("c4gh", 21, "bad_pseudonym_key",
                             "a study pseudonym key must be 32 random bytes")
GENOMIC_OBJECT = register("c4gh", 22, "genomic_object",
                          "this record is a genomic object: read it through DRS or htsget "
                          "(docs/genomics.md)")
UNSUPPORTED_FORMAT = register("c4gh", 23, "unsupported_format",
                              "htsget: the object is not held in the format asked for")

BAD_BAI = register("c4gh", 24, "bad_bai", "a BAI index is malformed")
BAD_BAM = register("c4gh", 25, "bad_bam",
                   "BAM data is malformed or the blocks held do not cover the read")


class GenomeError(CodedError):
    """A crypt4gh file, key, proof, region or VCF that phrchain refuses."""


bind_codespace("c4gh", GenomeError)
