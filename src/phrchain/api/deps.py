"""What every route gets: the node behind the API and this app instance's counters."""

from __future__ import annotations

import threading
from typing import Annotated, Any, Final

from fastapi import Depends, Path, Query, Request

from phrchain.api.models import MAX_INT, ErrorBody
from phrchain.engine.port import NodePort


class ApiState:
    """Counters and limits of one app instance (not module globals: tests run several)."""

    def __init__(self, node: NodePort, commit_timeout: float, heartbeat_s: float) -> None:
        self.node = node
        self.commit_timeout = commit_timeout
        self.heartbeat_s = heartbeat_s
        self._lock = threading.Lock()
        self.submitted = 0
        self.rejected = 0
        self.subscribers = 0

    def count(self, rejected: bool) -> None:
        with self._lock:
            self.submitted += 1
            self.rejected += int(rejected)


async def _api(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


Api = Annotated[ApiState, Depends(_api)]

#: Every integer path and query parameter is bounded to 0..MAX_INT (models.py).
Height = Annotated[int, Path(ge=1, le=MAX_INT)]
QueryHeight = Annotated[int | None, Query(ge=0, le=MAX_INT)]

#: The error responses every ``/v1`` router documents.
ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    400: {"model": ErrorBody}, 404: {"model": ErrorBody}, 413: {"model": ErrorBody},
    422: {"model": ErrorBody}}
