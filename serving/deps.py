"""What serving's routes receive beyond ingest's dependencies: the user acted for, the champions, the cache."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ingest.deps import ScopedConn, UserQuery
from serving.cache import AnswerCache
from serving.champions import Champions


def get_scoped_user(scope: ScopedConn, user: UserQuery = None) -> int:
    """The id of the user the request acts for: the caller, or the user an admin names."""
    return scope.act_for(user)


# async: read off app.state inline, not on a worker thread (a thread hop per dependency costs the hot path)
async def get_champions(request: Request) -> Champions:
    champions: Champions = request.app.state.champions
    return champions


async def get_cache(request: Request) -> AnswerCache:
    cache: AnswerCache = request.app.state.cache
    return cache


ScopedUser = Annotated[int, Depends(get_scoped_user)]
ChampionsDep = Annotated[Champions, Depends(get_champions)]
CacheDep = Annotated[AnswerCache, Depends(get_cache)]
