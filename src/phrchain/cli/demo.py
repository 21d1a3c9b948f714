"""``phrchain demo``: the whole system on one machine, as a story.

Builds a consortium (two hospitals, an insurer, a pharmacy, a regulator) on the embedded
engine, imports synthetic FHIR patients and plays every capability through the real SDK,
API and vaults, printing a short account of each step. Then it serves the node API (and
the web UI, when installed) on loopback until Ctrl-C; ``--no-serve`` stops after the
story with exit code 0.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Final

from phrchain.cli.common import PASSPHRASE_ENV, CliError, add_command, count, read_passphrase
from phrchain.cli.session import ProgressBar

DEFAULT_HOME: Final = ".phrchain-demo"
DEFAULT_PORT: Final = 8647
MAX_PATIENTS: Final = 500


def _prepare_home(home: Path) -> None:
    """A fresh folder; a previous demo's folder (and only that) is replaced."""
    if home.exists() and any(home.iterdir()):
        marker = home / "directory.json"
        try:
            previous = json.loads(marker.read_text())["chain_id"] == "phr-demo"
        except (OSError, ValueError, KeyError, TypeError):
            previous = False
        if not previous:
            raise CliError(f"{home} exists and is not a previous demo; pick another --home")
        print(f"replacing the previous demo in {home}", file=sys.stderr)
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)


def _passphrase(args: argparse.Namespace) -> tuple[str, bool]:
    """(passphrase, whether it was made up here and must be shown): the given one
    (``--passphrase-file`` or the environment), else a new one, never a prompt."""
    if args.passphrase_file or os.environ.get(PASSPHRASE_ENV):
        return read_passphrase(args, "the demo's wallets"), False
    return secrets.token_urlsafe(12), True


def cmd_demo(args: argparse.Namespace) -> int:
    from phrchain.demo.consortium import running
    from phrchain.demo.scenario import Scenario

    if not 1 <= args.patients <= MAX_PATIENTS:
        raise CliError(f"--patients must be between 1 and {MAX_PATIENTS}")
    home = Path(args.home).resolve()
    _prepare_home(home)
    passphrase, made_up = _passphrase(args)
    started = time.monotonic()
    print(f"phrchain demo: {args.patients} synthetic patient(s), seed {args.seed}, "
          f"in {home}", flush=True)

    def bar(total: int, label: str, unit: str) -> ProgressBar:
        return ProgressBar(total, label, unit)

    with running(home, passphrase, patients=args.patients) as c:
        scenario = Scenario(c, sys.stdout, bar, args.patients, args.seed)
        outcome = scenario.run(_extra_steps())
        c.save_pseudonyms()   # the wallet files keep each patient's pseudonym map
        height = c.node.status()["height"]
        print(f"\nDone in {time.monotonic() - started:.1f} s: chain height {height}, "
              f"every step above went through the node API and the vaults.", flush=True)
        print(f"Re-check the whole chain from genesis later with:\n"
              f"    phrchain verify --home {home / 'node'}")
        if args.no_serve:
            return 0
        _serve(c, home, passphrase, made_up, args.port, outcome.extra.get("product_key"))
    return 0


def _extra_steps() -> tuple[Any, ...]:
    """Story steps beyond the records core: the insurance claim, the drug supply chain,
    the portable record, the clinical trials and the research donation."""
    from phrchain.demo.claims_step import insurance_claim
    from phrchain.demo.portable_step import portable_record
    from phrchain.demo.research_step import research_donation
    from phrchain.demo.supply_step import supply_chain
    from phrchain.demo.trials_step import clinical_trials

    return insurance_claim, supply_chain, portable_record, clinical_trials, research_donation


def _serve(c: Any, home: Path, passphrase: str, made_up: bool, port: int,
           product_key: Any = None) -> None:
    """The node API again, with the web UI mounted at /ui, on the port asked for;
    patient 1 holds the insurer's product key (a file next to the wallets), so the web
    UI can file the claim the story left for them."""
    from phrchain.api.server import BackgroundServer, create_app
    from phrchain.client.audit import AuditKey
    from phrchain.web import UiConfig, WalletEntry, create_ui_app

    def hint(name: str) -> str:
        if name.startswith("patient_"):
            return "patient"
        member = c.members.get(name)
        if (member is not None and member.org_type == "regulator") or name == "auditor":
            return "auditor"
        return "provider" if member is not None else ""

    keys: dict[str, tuple[Path, ...]] = {}
    if product_key is not None:
        key_file = home / "wallets" / "patient_1.product-key.json"
        product_key.save(key_file)
        keys["patient_1"] = (key_file,)
    # the regulator's auditor opens sealed audit entries with the regulator's key
    audit_key = home / "wallets" / "regulator.audit-key.json"
    if not audit_key.exists():
        AuditKey.of_wallet(c.wallets["regulator"]).save(audit_key)
    wallets = {name: WalletEntry(home / "wallets" / f"{name}.json", hint(name),
                                 keys.get(name, ()),
                                 (audit_key,) if name == "auditor" else ())
               for name in c.wallets}
    ui = create_ui_app(UiConfig(c.api_url, c.directory, wallets,
                                trust_anchor=c.node.key.did,
                                chain_id=str(c.node.genesis["chain_id"])))
    with BackgroundServer(create_app(c.node, commit_timeout=30, ui=ui), port=port) as url:
        print(f"\nServing on loopback until Ctrl-C:\n    node API  {url}  (OpenAPI UI at "
              f"{url}/docs)")
        print(f"    web UI    {url}/ui/")
        print(f"    sign in with a wallet of {home / 'wallets'}: patient_1 … patient_N, "
              "dr_kim, dr_lee, dr_park (providers), auditor (regulator)")
        if made_up:
            print(f"    wallet passphrase (made up for this demo, shown once): {passphrase}")
        else:
            print(f"    wallet passphrase: the one you gave (${PASSPHRASE_ENV} or file)")
        sys.stdout.flush()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        ui.state.ui.sessions.close()
    print("stopping", file=sys.stderr)


def demo_command(sub: Any) -> None:
    p = add_command(sub, "demo", cmd_demo,
                    "the whole system on one machine: a consortium, synthetic patients, "
                    "every capability, then the web UI")
    p.add_argument("--patients", type=count, default=5, help="synthetic patients (default 5)")
    p.add_argument("--seed", type=count, default=1, help="seed of the synthetic data")
    p.add_argument("--home", default=DEFAULT_HOME,
                   help=f"folder for the chain, vaults and wallets (default {DEFAULT_HOME}; "
                        "a previous demo there is replaced)")
    p.add_argument("--port", type=count, default=DEFAULT_PORT,
                   help=f"loopback port of the node API and web UI (default {DEFAULT_PORT})")
    p.add_argument("--no-serve", action="store_true",
                   help="stop after the story (exit code 0) instead of serving")
    p.add_argument("--passphrase-file",
                   help=f"passphrase for the demo's wallets (else ${PASSPHRASE_ENV}, else "
                        "one is made up and printed)")
