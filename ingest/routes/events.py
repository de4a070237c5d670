"""GET /api/v1/events and its streamed export: the caller's own events (admins may name a user)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from floyo.errors import InvalidInput
from floyo.events import EventKind
from ingest.deps import ACT_FOR_ERRORS, ScopedConn, UserQuery, protected_router
from ingest.queries import EventFilter, as_utc, export_csv, export_parquet, iter_event_rows, list_events
from ingest.responses import OrjsonResponse, error_responses
from ingest.streaming import ClosableStream

router = protected_router(tags=["events"])


class EventPage(BaseModel):
    """A page of events and the cursor of the next one (null at the end)."""

    events: list[dict[str, Any]]
    next_cursor: str | None


# PostgreSQL text cannot hold NUL: a filter with one is a 422 here, never an error in the query
NO_NUL = r"^[^\x00]*$"


def _filter(
    scope: ScopedConn,
    since: Annotated[datetime | None, Query(description="from this time (inclusive, ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="before this time (exclusive)")] = None,
    kind: Annotated[list[EventKind] | None, Query(description="one or more event kinds")] = None,
    ext: Annotated[str | None, Query(max_length=32, pattern=NO_NUL, description="extension without the dot")] = None,
    root: Annotated[str | None, Query(max_length=256, pattern=NO_NUL)] = None,
    user: UserQuery = None,
) -> EventFilter:
    # a time without a zone is UTC (ingest.queries.as_utc), so the range can be checked here
    since, until = (None if t is None else as_utc(t) for t in (since, until))
    if since is not None and until is not None and until <= since:
        raise InvalidInput("empty_range", "until must be after since")
    return EventFilter(
        user_id=scope.act_for(user), since=since, until=until, kinds=tuple(kind or ()), ext=ext, root=root
    )


FilterDep = Annotated[EventFilter, Depends(_filter)]
FILTER_ERRORS = {**ACT_FOR_ERRORS, **error_responses({422: "an empty time range, a bad kind"})}


@router.get("/api/v1/events", response_model=EventPage, responses=FILTER_ERRORS)
async def get_events(
    scope: ScopedConn,
    f: FilterDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> OrjsonResponse:
    """The caller's events in time order, filtered, one page at a time (follow ``next_cursor``)."""
    events, next_cursor = await run_in_threadpool(list_events, scope.conn, f, limit=limit, cursor=cursor)
    return OrjsonResponse({"events": events, "next_cursor": next_cursor})


_EXPORT_CONTENT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the events, streamed",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    **FILTER_ERRORS,
}


@router.get("/api/v1/events/export", response_class=StreamingResponse, responses=_EXPORT_CONTENT)
async def export_events(
    request: Request,
    scope: ScopedConn,
    f: FilterDep,
    format: Annotated[Literal["csv", "parquet"], Query(description="csv or parquet")] = "csv",
) -> StreamingResponse:
    """All the caller's matching events, streamed as CSV or Parquet (a few at a time per user: 429 beyond)."""
    # bounded per user (the one who asks, admins included): one user's downloads cannot hold the whole pool
    scope.on_close(request.app.state.exports.acquire(f"u{scope.principal.user_id}"))
    if await request.is_disconnected():  # gone while waiting for a connection: do not run the query
        return StreamingResponse(iter(()), status_code=499)
    chunks = iter_event_rows(scope.conn, f)
    scope.on_close(chunks.close)
    stream = ClosableStream(export_parquet(chunks) if format == "parquet" else export_csv(chunks))
    scope.on_close(stream.close)  # before the connection is committed and returned, whatever the client did
    if format == "parquet":
        return StreamingResponse(
            stream, media_type="application/vnd.apache.parquet",
            headers={"content-disposition": 'attachment; filename="events.parquet"'},
        )  # fmt: skip
    return StreamingResponse(
        stream, media_type="text/csv; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="events.csv"'},
    )  # fmt: skip
