"""``phrchain genome …``: genomic objects (``docs/genomics.md``, ``client/genome.py``).

Exchange outside phrchain, no node: ``encrypt IN OUT --recipient-pk FILE…``, ``decrypt
IN OUT --sk FILE`` and ``keygen`` read and write standard crypt4gh files and key files
(a protected private key's passphrase comes from ``$C4GH_PASSPHRASE`` only).
With a node and vaults: ``seal``, ``grant``, ``revoke``, ``get [--region chr1:100-200]``,
``reads``; and ``export`` writes the pseudonymised research copy of a VCF.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
from pathlib import Path
from typing import Any, Final

from phrchain.cli.common import CliError, add_command, print_json
from phrchain.cli.session import phr_client, signer_options

PASSPHRASE_ENV: Final = "C4GH_PASSPHRASE"  # noqa: S105 (a variable name, not a secret)


def _passphrase() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode() if value else None


def cmd_keygen(args: argparse.Namespace) -> int:
    from phrchain.genome import c4gh_keys as kf
    from phrchain.genome import crypt4gh as c4

    secret = os.urandom(32)
    passphrase = None if args.nocrypt else _passphrase()
    if passphrase is None and not args.nocrypt:
        raise CliError(f"set ${PASSPHRASE_ENV} to protect the key, or pass --nocrypt")
    Path(args.pk).write_text(kf.public_key_file(c4.public_key_of(secret)))
    sk = Path(args.sk)
    sk.touch(mode=0o600)
    sk.write_text(kf.private_key_file(secret, passphrase, kdf=args.kdf))
    print(f"wrote {args.sk} and {args.pk}")
    return 0


def cmd_encrypt(args: argparse.Namespace) -> int:
    from phrchain.genome import c4gh_keys as kf
    from phrchain.genome import crypt4gh as c4

    readers = [kf.read_public_key(Path(p).read_bytes()) for p in args.recipient_pk]
    with open(args.input, "rb") as source, open(args.output, "wb") as sink:
        n = c4.encrypt_stream(source, sink, readers)
    print(f"encrypted {n} bytes for {len(readers)} reader(s)", file=sys.stderr)
    return 0


def cmd_decrypt(args: argparse.Namespace) -> int:
    from phrchain.genome import c4gh_keys as kf
    from phrchain.genome import crypt4gh as c4

    secret = kf.read_private_key(Path(args.sk).read_bytes(), _passphrase())
    out = Path(args.output)
    try:
        with open(args.input, "rb") as source, out.open("wb") as sink:
            n = c4.decrypt_stream(source, sink, secret)
    except BaseException:
        out.unlink(missing_ok=True)  # never leave a partly decrypted file
        raise
    print(f"decrypted {n} bytes", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """The research copy of a (bgzipped or plain) VCF for one study."""
    from phrchain.genome import vcf

    key = bytes.fromhex(Path(args.key_file).read_text().strip())
    raw = Path(args.input).read_bytes()
    text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    lines = text.rstrip(b"\n").split(b"\n")
    with open(args.output, "wb") as sink:
        vcf.write_bgzf(vcf.pseudonymise(lines, args.study, key), sink)
    return 0


def cmd_seal(args: argparse.Namespace) -> int:
    bai_index = None
    if args.bai:
        if args.format != "bam":
            raise CliError("--bai indexes a BAM: give --format bam")
        with open(args.bai, "rb") as f:
            bai_index = f.read()
    with phr_client(args) as rc, open(args.input, "rb") as source:
        obj = rc.genome.seal(source, args.patient, fmt=args.format,
                             custodian=args.custodian, bai_index=bai_index)
        print_json({"record": obj.record, "id": obj.id, "custodian": obj.custodian})
    return 0


def cmd_grant(args: argparse.Namespace) -> int:
    with phr_client(args) as rc:
        rc.genome.grant(args.org, args.id, args.reader)
        print_json({"granted": args.reader, "id": args.id})
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    with phr_client(args) as rc:
        print_json({"revoked": args.reader, "dropped": rc.genome.revoke(args.org, args.id,
                                                                         args.reader)})
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    from phrchain.genome.bgzf import Region

    with phr_client(args) as rc:
        if args.reads:
            if not (args.region and args.out):
                raise CliError("--reads needs --region and --out FILE (a BAM)")
            with open(args.out, "wb") as sink:
                n = rc.genome.region_bam(args.org, args.id, Region.parse(args.region),
                                         sink, args.purpose)
            print_json({"alignments": n, "out": args.out})
            return 0
        if args.region:
            for line in rc.genome.region(args.org, args.id, Region.parse(args.region),
                                         args.purpose):
                sys.stdout.write(line.decode("utf-8", "replace") + "\n")
            return 0
        if not args.out:
            raise CliError("--out FILE (a crypt4gh file for you), or --region")
        with open(args.out, "wb") as sink:
            rc.genome.crypt4gh(args.org, args.id, sink, args.purpose)
    return 0


def cmd_reads(args: argparse.Namespace) -> int:
    with phr_client(args) as rc:
        print_json(rc.genome.reads(args.org, args.id))
    return 0


def genome_parser(sub: Any) -> None:
    signer = [signer_options()]
    p = add_command(sub, "keygen", cmd_keygen, "a crypt4gh key pair (passphrase from "
                    f"${PASSPHRASE_ENV})")
    p.add_argument("--sk", required=True)
    p.add_argument("--pk", required=True)
    p.add_argument("--nocrypt", action="store_true", help="leave the private key unprotected")
    p.add_argument("--kdf", default="scrypt", choices=("scrypt", "pbkdf2_hmac_sha256"))
    p = add_command(sub, "encrypt", cmd_encrypt, "a standard crypt4gh file for readers")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--recipient-pk", required=True, nargs="+", help="crypt4gh public keys")
    p = add_command(sub, "decrypt", cmd_decrypt, "open a crypt4gh file with your key")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--sk", required=True, help=f"crypt4gh private key (${PASSPHRASE_ENV})")
    p = add_command(sub, "export", cmd_export, "the pseudonymised research copy of a VCF")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--study", required=True)
    p.add_argument("--key-file", required=True, help="the study's 32-byte key, hex")
    p = add_command(sub, "seal", cmd_seal, "seal and upload a genomic object", signer)
    p.add_argument("input")
    p.add_argument("--patient", required=True)
    p.add_argument("--custodian", help="the institution (default: yours)")
    p.add_argument("--format", default="vcf",
                   choices=("vcf", "bcf", "bam", "cram", "fastq", "fasta"))
    p.add_argument("--bai", help="the BAM's .bai index: region reads (htsget reads)")
    for name, func, help_ in (("grant", cmd_grant, "(patient) give a reader a header packet"),
                              ("revoke", cmd_revoke, "(patient) drop a reader's packet")):
        p = add_command(sub, name, func, help_, signer)
        p.add_argument("id", help="the object id (DRS id)")
        p.add_argument("--org", required=True, help="the custodian institution")
        p.add_argument("--reader", required=True)
    p = add_command(sub, "get", cmd_get, "read a region, or the object as crypt4gh", signer)
    p.add_argument("id")
    p.add_argument("--org", required=True)
    p.add_argument("--region", help="chr1:100-200 (1-based, inclusive)")
    p.add_argument("--out", help="write the object as a crypt4gh file for you (with "
                   "--reads: the region's alignments as BAM)")
    p.add_argument("--reads", action="store_true",
                   help="the object is a BAM sealed with --bai: read the region via htsget "
                   "reads")
    p.add_argument("--purpose", default="TREAT")
    p = add_command(sub, "reads", cmd_reads, "who read which region (patient)", signer)
    p.add_argument("id")
    p.add_argument("--org", required=True)
