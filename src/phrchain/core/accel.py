"""The one place that chooses the compiled hot path or the pure-Python reference.

``phrchain_native`` (the Rust crate in ``native/``, built by ``scripts/test.sh`` when
cargo is present) compiles the inner loops of :mod:`phrchain.core.smt` (update, proof
walk, key/value hashing of a batch), of :mod:`phrchain.core.encoding` (canonical
encode and decode) and the modular exponentiation of :mod:`phrchain.core.keys`'
on-curve check of a new signer's key. The Python code in those modules stays the
specification and the fallback: ``tests/unit/test_native.py`` runs both on random inputs and asserts
byte-identical roots, created nodes, proofs and encodings. The choice changes speed,
never a byte of state.

The choice is made once, at import: the compiled module is used when it is importable,
its :data:`ABI` matches, and the environment did not say ``PHRCHAIN_PURE=1`` (read by
``phrchain/__init__.py``, the package's edge, never here). :data:`STATUS` says which
and why.
"""

from __future__ import annotations

from types import ModuleType
from typing import Final

from phrchain import PURE_REQUESTED

ABI: Final = 2
"""The ``phrchain_native.ABI`` this code calls; another value means a stale build."""


def _load() -> tuple[ModuleType | None, ModuleType | None, str]:
    try:
        import phrchain_native
    except ImportError:
        return None, None, "pure Python (phrchain_native is not installed)"
    if getattr(phrchain_native, "ABI", None) != ABI:
        return None, None, (f"pure Python (phrchain_native ABI "
                            f"{getattr(phrchain_native, 'ABI', None)} != {ABI}: rebuild it)")
    if PURE_REQUESTED:
        return phrchain_native, None, "pure Python (PHRCHAIN_PURE=1)"
    return phrchain_native, phrchain_native, "compiled (phrchain_native)"


AVAILABLE, native, STATUS = _load()
"""``AVAILABLE``: the compiled module if it is installed and current (tests compare it
with the reference whatever was chosen); ``native``: the same if it was chosen, else
None; ``STATUS``: a sentence saying which and why."""
