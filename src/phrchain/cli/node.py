"""``phrchain node backup | restore``: a consistent copy of a running solo node's home
(and its institution's vault directory), and a new home made from one
(``storage/backup.py``; docs/operations.md "Backup and restore").

::

    phrchain node backup --home DIR --out BACKUP [--vault VAULT_DIR]
    phrchain node restore --backup BACKUP --home NEW_DIR [--vault NEW_VAULT_DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from phrchain.cli.common import add_command


def cmd_backup(args: argparse.Namespace) -> int:
    from phrchain.storage.backup import backup

    manifest = backup(Path(args.home), Path(args.out),
                      Path(args.vault) if args.vault else None)
    print(f"backed up {args.home} (state at height {manifest['state_height']}, blocks to "
          f"{manifest['blocks_height']}) to {args.out}; it holds the validator key")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from phrchain.storage.backup import restore

    manifest = restore(Path(args.backup), Path(args.home),
                       Path(args.vault) if args.vault else None)
    print(f"restored into {args.home}; starting it replays to height "
          f"{manifest['blocks_height']}, then it goes on (phrchain start --home {args.home})")
    return 0


def node_parser(sub: Any) -> None:
    p = add_command(sub, "backup", cmd_backup, "consistent copy of a running node's home "
                    "(and vault directory)")
    p.add_argument("--home", required=True)
    p.add_argument("--out", required=True, help="a new directory")
    p.add_argument("--vault", help="the institution's vault directory (vault serve --home)")
    p = add_command(sub, "restore", cmd_restore, "a new node home (and vault directory) "
                    "from a backup")
    p.add_argument("--backup", required=True)
    p.add_argument("--home", required=True, help="a new directory")
    p.add_argument("--vault", help="a new vault directory")
