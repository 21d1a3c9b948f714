"""What the SDK raises when a node or a vault refuses, and the shape of their answers.

Its own module so that the sender (which :class:`~phrchain.client.http.NodeClient` uses)
and the HTTP client both import it without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import httpx

from phrchain.core.errors import (
    REGISTRY,
    CodedError,
    PhrError,
    ProofError,
    bind_codespace,
    register,
)

__all__ = ["ApiError", "LightClientError", "Wait", "raise_for_error"]

Wait = Literal["commit", "check"]


class ApiError(PhrError):
    """The node refused a request (or could not be reached: ``status`` 0)."""

    def __init__(self, status: int, codespace: str, code: int, name: str,
                 message: str) -> None:
        self.status = status
        self.codespace = codespace
        self.code = code
        self.name = name
        self.message = message
        super().__init__(f"[{codespace}/{code} {name}] {message}")

    @classmethod
    def from_result(cls, result: Mapping[str, Any]) -> ApiError:
        """A committed-but-failed (or dropped) tx result as an error."""
        codespace, code = str(result.get("codespace", "")), int(result.get("code", 0))
        known = REGISTRY.get((codespace, code))
        return cls(200, codespace, code, known.name if known else "failed",
                   str(result.get("log", "")))


def raise_for_error(response: httpx.Response) -> httpx.Response:
    """``response`` if it succeeded, else its ``{"error": …}`` body (the shape of the node
    API and the vault) as an :class:`ApiError`."""
    if response.is_success:
        return response
    try:
        err = response.json()["error"]
        raise ApiError(response.status_code, str(err["codespace"]), int(err["code"]),
                       str(err["name"]), str(err["message"]))
    except (ValueError, KeyError, TypeError):
        raise ApiError(response.status_code, "client", 2, "bad_response",
                       f"HTTP {response.status_code} without an error body") from None


# Codespace "lightclient" (off chain: what the light client concludes from its providers;
# never a consensus code). Never renumber.
CONFLICTING_HEADERS = register(
    "lightclient", 1, "conflicting_headers",
    "a witness gave another header than the primary for the same height, and both verify "
    "from the trusted state: a fork (light client attack); both headers are the evidence")
NO_WITNESS_CONFIRMED = register(
    "lightclient", 2, "no_witness_confirmed",
    "no witness confirmed the primary's header (all unreachable or found faulty)")


class LightClientError(CodedError, ProofError):
    """The light client refuses to trust what its providers said (also a
    :class:`~phrchain.core.errors.ProofError`, as every other light-client refusal)."""


bind_codespace("lightclient", LightClientError)
