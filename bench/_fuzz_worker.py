"""The child process of ``bench/fuzz.py``: one target under atheris (libFuzzer).

Its argv is libFuzzer's own, so libFuzzer can re-run it (``-merge=1`` does); the target
comes from ``PHRCHAIN_FUZZ_TARGET``. phrchain and the targets are imported inside
atheris' instrumentation, so libFuzzer sees their branches (``cov``/``ft``).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
logging.disable(logging.CRITICAL)  # refusals log by design; a log line per input is noise

with atheris.instrument_imports(include=["phrchain", "tests.fuzz"]):
    from tests.fuzz.targets import TARGETS

# libFuzzer re-runs argv[0] through the shell (-merge=1): make it a command line
argv0 = f"{sys.executable} {Path(__file__).resolve()}"
atheris.Setup([argv0, *sys.argv[1:]], TARGETS[os.environ["PHRCHAIN_FUZZ_TARGET"]])
atheris.Fuzz()
