"""``phrchain wallet export | verify | import``: the portable patient-held record
(``phrchain.client.portable``; format and threat model in docs/portable.md).

The trust anchor of ``verify`` and ``import`` is the one given here (``--validator`` or
``--genesis``), never one read from the file. A refusal names the first failing item
and exits 2, with nothing written.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from phrchain.cli.common import (
    DEFAULT_NODE,
    NODE_ENV,
    CliError,
    add_command,
    count,
    print_json,
    read_json_file,
    read_passphrase,
)
from phrchain.cli.session import (
    VAULTS_ENV,
    phr_client,
    read_directory,
    signer_options,
    tls_client_options,
)


def _anchor(args: argparse.Namespace) -> tuple[str, str | None]:
    """The validator DID and chain id the importer trusts."""
    if args.genesis:
        genesis = read_json_file(args.genesis, "genesis file")
        if not isinstance(genesis, dict) or not isinstance(genesis.get("validator"), str):
            raise CliError(f"{args.genesis} is not a solo genesis file (no validator)")
        return genesis["validator"], args.chain_id or genesis.get("chain_id")
    return str(args.validator), args.chain_id


def _show(report: Any, as_json: bool) -> None:
    if as_json:
        print_json(report.to_json())
    else:
        print("\n".join(report.lines()))


def cmd_export(args: argparse.Namespace) -> int:
    from phrchain.client.portable import export_portable

    if Path(args.out).exists():
        raise CliError(f"{args.out} already exists; refusing to overwrite it")
    with phr_client(args) as rc:
        session, carry = rc.session, None
        if args.pseudonym:   # that pseudonym's records, with the wallet's root and map
            from phrchain.client.session import Session
            from phrchain.client.wallet import WalletError

            try:
                own = rc.wallet.pseudonym_of(args.pseudonym)
            except WalletError as exc:
                raise CliError(str(exc)) from None
            session, carry = Session(rc.node, own, rc.session.directory), rc.wallet
        passphrase = read_passphrase(args, f"the portable file {args.out}", confirm=True,
                                     file_option="export_passphrase_file")
        report = export_portable(session, args.out, passphrase, validator=args.validator,
                                 max_bytes=args.max_bytes,
                                 leave_out_larger_than=args.leave_out_larger_than,
                                 carry=carry)
        if carry is not None:
            session.close()
    _show(report, args.json)
    print(f"written to {args.out} (mode 0600). It holds your master keys and your records: "
          "it is exactly as strong as its passphrase", file=sys.stderr)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from phrchain.client.portable import verify_portable

    validator, chain_id = _anchor(args)
    report = verify_portable(args.file, read_passphrase(args, args.file),
                             validator=validator, chain_id=chain_id)
    _show(report, args.json)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from phrchain.client.http import NodeClient
    from phrchain.client.portable import import_portable

    validator, chain_id = _anchor(args)
    directory = read_directory(args.vaults)
    passphrase = read_passphrase(args, args.file)
    with NodeClient(args.node) as node:
        report = import_portable(args.file, passphrase, node, validator=validator,
                                 vault_org=args.vault_org, directory=directory,
                                 chain_id=chain_id, dry_run=args.dry_run)
    _show(report, args.json)
    if args.dry_run:
        print("dry run: everything verified, nothing written", file=sys.stderr)
    return 0


def portable_parser(wsub: Any) -> None:
    """Add ``export``, ``verify`` and ``import`` to the ``wallet`` command group."""
    trust = argparse.ArgumentParser(add_help=False)
    pin = trust.add_mutually_exclusive_group(required=True)
    pin.add_argument("--validator", metavar="DID",
                     help="the solo validator did:key you trust (never taken from the file)")
    pin.add_argument("--genesis", metavar="FILE",
                     help="a genesis file you trust (pins the validator and chain id)")
    trust.add_argument("--chain-id", help="the chain id the file's header must carry")
    trust.add_argument("--passphrase-file", help="file whose first line is the portable "
                                                 "file's passphrase")
    trust.add_argument("--json", action="store_true", help="print the report as JSON")

    p = add_command(wsub, "export", cmd_export, "patient: write your portable record (keys, "
                    "records with proofs, consents, audit head) to one encrypted file",
                    [signer_options()])
    p.add_argument("--out", required=True, help="the file to write (new, mode 0600)")
    p.add_argument("--pseudonym", metavar="DID", help="export the records of this "
                   "pseudonym of the wallet (see 'wallet card --pseudonyms'); the file also "
                   "carries the wallet's pseudonym root and map")
    p.add_argument("--export-passphrase-file", help="the new file's passphrase (default: "
                   "as the wallet's: --passphrase-file, $PHRCHAIN_PASSPHRASE or a prompt)")
    p.add_argument("--validator", metavar="DID", help="check the gathered proofs against "
                   "this validator (default: the one the node reports)")
    p.add_argument("--max-bytes", type=count, default=512 << 20,
                   help="refuse if the carried ciphertext exceeds this (default 512 MiB, "
                        "at most 1 GiB)")
    p.add_argument("--leave-out-larger-than", type=count, metavar="BYTES",
                   help="leave records larger than this out (listed in the file, their "
                        "ciphertext stays at its vaults)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = add_command(wsub, "verify", cmd_verify, "check a portable file offline against the "
                    "validator you trust; nothing is imported", [trust])
    p.add_argument("file")

    p = add_command(wsub, "import", cmd_import, "verify a portable file, then make its "
                    "records servable by an institution's vault", [trust])
    p.add_argument("file")
    p.add_argument("--vault-org", required=True, metavar="DID",
                   help="the care organization whose vault will hold the records")
    p.add_argument("--node", default=os.environ.get(NODE_ENV, DEFAULT_NODE),
                   help=f"node API URL (default ${NODE_ENV} or {DEFAULT_NODE})")
    tls_client_options(p)
    p.add_argument("--vaults", default=os.environ.get(VAULTS_ENV),
                   help=f"vault directory, JSON {{org DID: URL}} (default ${VAULTS_ENV})")
    p.add_argument("--dry-run", action="store_true",
                   help="verify the file and the target, write nothing")
