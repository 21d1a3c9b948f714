"""Errors of the local-network tools (``net.py``, ``bundles.py``, ``processes.py``)."""

from __future__ import annotations

from phrchain.core.errors import PhrError


class NetError(PhrError):
    """The network directory is missing, incomplete, or a node failed to start."""
