"""phrchain: patient-controlled medical records on a permissioned blockchain."""

import os as _os

__version__ = "0.1.0"

# The package's edge reads the environment once, before any core module is imported:
# PHRCHAIN_PURE=1 makes phrchain.core.accel choose the pure-Python reference over the
# compiled hot path (both give identical bytes; see docs/performance.md). Nothing in
# core or modules reads the environment.
PURE_REQUESTED: bool = _os.environ.get("PHRCHAIN_PURE", "") == "1"
