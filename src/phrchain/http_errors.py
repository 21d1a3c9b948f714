"""What the HTTP servers (node API, vault, web UI) say about a request that failed
validation: where and what, never the offending input (it may be a passphrase or part of
a health record)."""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError


def where_invalid(exc: RequestValidationError) -> str:
    """``"query.height: Input should be …; body.x: …"``: each error's location and the
    validator's sentence, without the ``input`` pydantic would otherwise echo."""
    return "; ".join(".".join(str(part) for part in err.get("loc", ())) + ": "
                     + str(err.get("msg")) for err in exc.errors())
