"""State queries (with proofs on request) and the identity directory over them."""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request

from phrchain.api.deps import ERRORS, Api, QueryHeight
from phrchain.api.errors import BAD_REQUEST, HttpError
from phrchain.api.models import QueryAnswer, QueryRequest
from phrchain.core.errors import NOT_FOUND as QUERY_NOT_FOUND

router = APIRouter(prefix="/v1", responses=ERRORS)

_ANSWER: Final[dict[str, Any]] = {"response_model": QueryAnswer,
                                  "response_model_exclude_unset": True, "tags": ["query"]}


@router.get("/query/{path:path}", **_ANSWER)
def query_get(path: str, request: Request, api: Api,
              height: QueryHeight = None,
              prove: bool = False) -> dict[str, Any]:
    """Every query parameter other than ``height`` and ``prove`` is query data, e.g.
    ``/v1/query/identity/did?did=did:key:z…&prove=true``."""
    data = {k: v for k, v in request.query_params.items() if k not in ("height", "prove")}
    return api.node.query(path, data, height, prove)


@router.post("/query", **_ANSWER)
def query_post(body: QueryRequest, api: Api) -> dict[str, Any]:
    return api.node.query(body.path, body.data, body.height, body.prove)


# -- identities -------------------------------------------------------------------------------
@router.get("/identities/{did}", **_ANSWER)
def identity(did: str, api: Api) -> dict[str, Any]:
    """One identity with a membership proof. Unknown DID → 404; to get a *proof of
    absence*, ask ``/v1/query/identity/did?did=…&prove=true`` (value null)."""
    answer = api.node.query("identity/did", {"did": did}, prove=True)
    if answer["value"] is None:
        raise QUERY_NOT_FOUND(did)
    return answer


@router.get("/identities", **_ANSWER)
def identities(api: Api, organization: str | None = None, role: str | None = None,
               kind: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
               after: str | None = None) -> dict[str, Any]:
    """Exactly one filter: members of an organization, holders of a role, or a kind
    (``authority``, ``organization``, ``organization/<org_type>``, ``practitioner``,
    ``patient``). Paged in DID order: pass the answer's ``next`` as ``after``."""
    given = {k: v for k, v in (("organization", organization), ("role", role),
                               ("kind", kind)) if v is not None}
    if len(given) != 1:
        raise HttpError(400, BAD_REQUEST, "give exactly one of organization, role, kind")
    (name, value), = given.items()
    data: dict[str, Any] = {name: value, "limit": limit}
    if after is not None:
        data["after"] = after
    return api.node.query(f"identity/{name}", data)
