"""``python -m phrchain.engine.abci --home APP_HOME --port PORT``: serve one validator's
application to its CometBFT node over ABCI (loopback only)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from phrchain.engine.abci.adapter import AbciApplication
from phrchain.engine.abci.server import AbciServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m phrchain.engine.abci")
    parser.add_argument("--home", required=True, help="the app's data directory")
    parser.add_argument("--port", type=int, default=26658)
    parser.add_argument("--state-writer", action="store_true",
                        help="write state in a writer process (default: in this process)")
    parser.add_argument("--snapshot-interval", type=int, default=0,
                        help="offer a state-sync snapshot every N blocks (default 0: none)")
    parser.add_argument("--keep-versions", type=int, default=0,
                        help="keep the last K state versions (default 0: archive, all)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = AbciApplication.open(Path(args.home), state_writer=args.state_writer,
                               snapshot_interval=args.snapshot_interval,
                               keep_versions=args.keep_versions)
    server = AbciServer(app, "127.0.0.1", args.port)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    logging.getLogger(__name__).info("ABCI server on 127.0.0.1:%d", server.address[1])
    stop.wait()
    server.close()
    app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
