"""Keeping the local store in step with the server: fetch the workflows, tell it the person's decisions.

- ``GET /api/v1/workflows`` (device token) every ``workflow_poll_seconds``: new versions, enabled flags; a workflow
  missing from the answer is removed here (not runnable). Without an answer (offline, 5xx) the last list stays.
- ``PUT /api/v1/workflows/{id}/approval`` for each decision not acknowledged yet (approve, reject, a local
  disable): the latest decision per workflow, retried at every poll until the server answers for it (2xx, or a
  409/404/422 in Floyo's format, which no retry would change).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import httpx

from agent.config import AgentConfig
from agent.workflows.store import WorkflowStore
from floyo.errors import InvalidInput

log = logging.getLogger(__name__)

FINAL_ANSWERS = {404, 409, 422}
MIN_POLL_SECONDS = 0.2  # a zero or negative poll period in the config must not become a busy loop  # the server's own refusal of a decision: retrying would not change it


class SyncError(InvalidInput):
    """The server could not be asked, or did not answer as Floyo."""

    def __init__(self, message: str) -> None:
        super().__init__("server_unreachable", message)


def _client(config: AgentConfig, timeout: float) -> httpx.Client:
    if not config.server or not config.token:
        raise SyncError("the server URL and the device token are needed (`server`, `token` in the agent config)")
    headers = {"Authorization": f"Bearer {config.token}"}
    return httpx.Client(base_url=config.server.rstrip("/"), headers=headers, timeout=timeout)


def fetch(config: AgentConfig, store: WorkflowStore, client: httpx.Client) -> list[str]:
    """Fetch the workflow list into the store; returns what is newly refused here, in words. SyncError otherwise."""
    try:
        answer = client.get("/api/v1/workflows")
    except httpx.HTTPError as exc:
        raise SyncError(f"cannot reach {config.server}: {exc}") from exc
    doc = _json(answer)
    if answer.status_code != 200 or not isinstance(doc, dict) or not isinstance(doc.get("workflows"), list):
        raise SyncError(f"{config.server} answered {answer.status_code} to GET /api/v1/workflows: {_say(answer)}")
    return store.apply_sync([w for w in doc["workflows"] if isinstance(w, dict) and _well_formed(w)])


def tell(store: WorkflowStore, client: httpx.Client) -> list[str]:
    """Send the decisions the server has not acknowledged; returns the server's refusals, in words (a decision that
    could not be delivered stays queued and is retried: not said here)."""
    refused: list[str] = []
    for workflow_id, body, at in store.notices():
        try:
            answer = client.put(f"/api/v1/workflows/{workflow_id}/approval", json=body)
        except httpx.HTTPError:
            return refused  # offline: everything waits for the next round
        doc = _json(answer)
        error = doc.get("error") if isinstance(doc, dict) else None
        if answer.is_success or (answer.status_code in FINAL_ANSWERS and isinstance(error, dict)):
            if not answer.is_success:
                refused.append(f"the server refused the {body['state']} of workflow {workflow_id}: {_say(answer)}")
            store.notice_sent(workflow_id, at)
    return refused


def sync_now(config: AgentConfig, store: WorkflowStore, *, timeout: float = 10.0) -> list[str]:
    """Decisions out, then the list in (the CLI's sync); returns what to tell the person (refusals)."""
    with _client(config, timeout) as client:
        return tell(store, client) + fetch(config, store, client)


class Syncer:
    """The agent's sync thread: ``run(stop)`` until ``stop`` is set."""

    def __init__(self, config: AgentConfig, store: WorkflowStore) -> None:
        self.config = config
        self.store = store
        self.wake = threading.Event()  # set to sync at once
        self.last_error: str | None = None
        self.synced = threading.Event()  # set after the first successful fetch

    def run(self, stop: threading.Event) -> None:
        """Report what a dead agent left, then sync every ``workflow_poll_seconds``."""
        try:
            self.store.recover()
        except Exception:
            log.exception("could not recover the runs of the previous agent")
        with _client(self.config, timeout=min(30.0, max(5.0, self.config.workflow_poll_seconds))) as client:
            while not stop.is_set():
                self.step(client)
                self.wake.wait(max(MIN_POLL_SECONDS, self.config.workflow_poll_seconds))
                self.wake.clear()
        self.store.close()

    def step(self, client: httpx.Client) -> None:
        """One round: decisions out, the list in, unreported runs queued; never raises."""
        try:
            for note in tell(self.store, client) + fetch(self.config, self.store, client):
                log.warning("%s", note)
            self.store.report_pending()
        except SyncError as exc:
            self._error(exc.message)
            return
        except Exception as exc:  # the thread must not die: log, retry at the next poll
            log.exception("workflow sync failed")
            self._error(f"{type(exc).__name__}: {exc}")
            return
        if self.last_error is not None:
            log.info("workflow sync works again")
        self.last_error = None
        self.synced.set()

    def _error(self, message: str) -> None:
        if message != self.last_error:
            log.warning("workflow sync: %s (the last synced list stays in force)", message)
        self.last_error = message


def _well_formed(workflow: dict[str, Any]) -> bool:
    return type(workflow.get("id")) is int and type(workflow.get("version")) is int


def _json(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None


def _say(answer: httpx.Response) -> str:
    doc = _json(answer)
    error = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return f"{error['message']} [{error.get('code')}]"
    return " ".join(answer.text[:200].split()) or "(empty body)"
