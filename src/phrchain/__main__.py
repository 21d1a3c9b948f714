"""``python -m phrchain``: the same command line as the ``phrchain`` script."""

import sys

from phrchain.cli.main import main

sys.exit(main())
