"""``phrchain vault smart-app`` / ``smart-consent-ui``: a vault's SMART on FHIR settings
(``smart.json`` in its directory, ``docs/fhir-rest.md``), written while it runs or not."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from phrchain.cli.common import CliError, add_command, print_json


def cmd_app(args: argparse.Namespace) -> int:
    from phrchain.fhirapi.smart import SmartApps

    for uri in args.redirect_uri:
        parts = urlsplit(uri)
        if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
            raise CliError(f"a redirect URI is an absolute http(s) URL without a fragment: "
                           f"{uri}")
    SmartApps(_home(args)).register(args.client_id, args.name, list(args.redirect_uri))
    print_json({"client_id": args.client_id, "name": args.name,
                "redirect_uris": list(args.redirect_uri)})
    return 0


def cmd_consent_ui(args: argparse.Namespace) -> int:
    from phrchain.fhirapi.smart import SmartApps

    if urlsplit(args.url).scheme not in ("https", "http"):
        raise CliError("the consent screen's URL is an absolute http(s) URL (the web UI's "
                       "base, e.g. https://wallet.example/ui)")
    SmartApps(_home(args)).set_consent_ui(args.url)
    print_json({"consent_ui": args.url})
    return 0


def _home(args: argparse.Namespace) -> Path:
    home = Path(args.home)
    if not home.is_dir():
        raise CliError(f"no vault directory at {home}")
    return home


def smart_parser(sub: Any) -> None:
    p = add_command(sub, "smart-app", cmd_app, "register a public SMART on FHIR app "
                    "(patient launch) with this vault's FHIR endpoint")
    p.add_argument("--home", required=True, help="the vault's directory")
    p.add_argument("--client-id", required=True)
    p.add_argument("--name", required=True, help="shown to the patient on the consent screen")
    p.add_argument("--redirect-uri", required=True, action="append")
    p = add_command(sub, "smart-consent-ui", cmd_consent_ui, "where patients approve SMART "
                    "apps: the base URL of their wallet web UI")
    p.add_argument("--home", required=True, help="the vault's directory")
    p.add_argument("--url", required=True)
