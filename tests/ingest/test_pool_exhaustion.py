"""More concurrent requests than pooled connections queue for a connection on the event loop, never in a worker
thread: threads waiting for the pool while the requests holding its connections wait for a thread to finish in
is a deadlock (every request then failed after the pool's 30 s timeout, found by bench/serving.py at 100
connections)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from sqlalchemy import Engine

from tests.utils.factories import make_device
from tests.utils.server import running_server


async def _many(url: str, headers: dict[str, str], n: int) -> list[int]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as client:
        answers = await asyncio.gather(*(client.get("/api/v1/events", params={"limit": 1}) for _ in range(n)))
    return [a.status_code for a in answers]


def test_a_hundred_requests_on_a_pool_of_two_all_succeed_promptly(
    database_url: str, tmp_path: Path, engine: Engine
) -> None:
    device = make_device(engine)
    env = {
        "FLOYO_ENV": "test",
        "FLOYO_DATABASE_URL": database_url,
        "FLOYO_DATA_DIR": str(tmp_path / "data"),
        "FLOYO_LOG_FORMAT": "json",
        "FLOYO_DB_POOL_SIZE": "1",  # a pool of 1 + 1 overflow against anyio's 40 worker threads
    }
    with running_server(env) as server:
        started = time.monotonic()
        statuses = asyncio.run(_many(server.url, device.headers, 200))
        took = time.monotonic() - started
        assert statuses == [200] * 200
        assert took < 25, took  # well under the pool's 30 s checkout timeout: nobody waited for it
        assert not [line for line in server.log_lines() if '"level":"ERROR"' in line]
