"""Serve the UI alone, on loopback, against a node's API elsewhere on this machine or
network: ``python -m phrchain.web --config ui.json [--port 8646]``.

The config file is described in :meth:`phrchain.web.config.UiConfig.from_file`. The
page is at ``http://127.0.0.1:<port>/ui/``. There is no option to bind another
address: the UI is for the person at this computer (docs/web.md).
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from phrchain.web.app import create_ui_app
from phrchain.web.config import UiConfig

HOST = "127.0.0.1"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m phrchain.web", description=__doc__)
    parser.add_argument("--config", required=True, help="UI config file (JSON)")
    parser.add_argument("--port", type=int, default=8646)
    args = parser.parse_args(argv)
    ui = create_ui_app(UiConfig.from_file(args.config))
    root = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    root.add_api_route("/", lambda: RedirectResponse("/ui/"), include_in_schema=False)
    root.mount("/ui", ui)
    print(f"phrchain UI at http://{HOST}:{args.port}/ui/")
    try:
        uvicorn.run(root, host=HOST, port=args.port, access_log=False, log_level="warning")
    finally:
        ui.state.ui.sessions.close()


if __name__ == "__main__":
    main()
