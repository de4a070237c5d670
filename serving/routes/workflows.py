"""Workflows: list, create, read, change (JSON merge patch), delete (soft), and every version of one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Response
from pydantic import BaseModel, Field, ValidationError

from floyo.errors import InvalidInput
from floyo.workflow_definition import WorkflowDefinition, validate_definition
from ingest.deps import ACT_FOR_ERRORS, ScopedConn, protected_router
from ingest.responses import OrjsonResponse, error_responses
from serving import store
from serving.deps import ScopedUser
from serving.routes.body import json_object
from serving.workflow_state import with_state

router = protected_router(tags=["workflows"])

# read by hand within a size limit; validated by ``validated`` so a 422 names the field
JsonObject = Annotated[dict[str, Any], Depends(json_object())]


class DeviceApproval(BaseModel):
    """What one device last said of a workflow: approved, rejected or disabled, at a version and hash."""

    device_id: int
    device: str | None
    state: str
    version: int
    definition_hash: str
    reason: str | None
    at: datetime


class Workflow(BaseModel):
    """A workflow at its current version (documents the answers, which are written by hand)."""

    id: int
    name: str
    version: int = Field(ge=1)
    enabled: bool
    definition: dict[str, Any] = Field(description="the WorkflowDefinition as stored, defaults filled in")
    origin: dict[str, Any] | None = Field(description="the accepted suggestion it came from (id, model version)")
    created_at: datetime
    updated_at: datetime
    approvals: list[DeviceApproval] = Field(description="each device's latest approval state (the agent reports it)")
    adopted_at: datetime | None = Field(description="the first approval by any device, or the first run if earlier")
    outcome: dict[str, Any] | None = Field(
        description="what the job last measured (manual occurrences before/after, runs, minutes saved, verdict)"
    )


class Workflows(BaseModel):
    workflows: list[Workflow]


class WorkflowVersion(BaseModel):
    version: int = Field(ge=1)
    change: str = Field(description="create, update or delete")
    definition: dict[str, Any]
    created_at: datetime


class WorkflowVersions(BaseModel):
    versions: list[WorkflowVersion]


_INVALID = error_responses({422: "invalid parameters, or an invalid workflow (``invalid_workflow`` names the field)"})
_ONE = {**ACT_FOR_ERRORS, **error_responses({404: "no such user, or no such workflow (or another user's)"})}
WorkflowId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the workflow's id")]


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def with_workflow_schema(app: FastAPI) -> None:
    """Publish ``WorkflowDefinition`` (and the models it uses) as the body of ``POST /api/v1/workflows``: the route
    reads a plain object and validates it by hand, so a 422 says ``invalid_workflow`` and names the field."""
    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        schema = base_openapi()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        if "WorkflowDefinition" not in components:
            model = WorkflowDefinition.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(model.pop("$defs", {}))
            components["WorkflowDefinition"] = model
            paths = schema["paths"]
            paths["/api/v1/workflows"]["post"]["requestBody"] = _body(
                {"$ref": "#/components/schemas/WorkflowDefinition"}
            )
            paths["/api/v1/workflows/{workflow_id}"]["patch"]["requestBody"] = _body(
                {"type": "object", "description": "a JSON merge patch (RFC 7386) of the definition"}
            )
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _nul_at(value: Any) -> tuple[str | int, ...] | None:
    """Where a string (value or key) holds a NUL character, which PostgreSQL's jsonb cannot store; else None."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:  # iterative: a deeply nested body must not exhaust the interpreter's stack
        path, item = stack.pop()
        if isinstance(item, str) and "\x00" in item:
            return path
        pairs = item.items() if isinstance(item, dict) else enumerate(item) if isinstance(item, list) else ()
        for key, child in pairs:
            if isinstance(key, str) and "\x00" in key:
                return (*path, key)
            stack.append(((*path, key), child))
    return None


def validated(data: Any) -> dict[str, Any]:
    """The definition as stored, or a 422 naming every field that is wrong and why."""
    nul = _nul_at(data)
    if nul is not None:
        loc = ".".join(map(str, nul)).replace("\x00", "\\0")
        raise InvalidInput("invalid_workflow", f"the workflow is invalid: {loc}: contains a NUL character")
    try:
        return validate_definition(data)
    except ValidationError as exc:
        details = [{"loc": list(e["loc"]), "msg": e["msg"].removeprefix("Value error, ")} for e in exc.errors()]
        where = ".".join(map(str, details[0]["loc"])) or "definition"
        raise InvalidInput(
            "invalid_workflow", f"the workflow is invalid: {where}: {details[0]['msg']}", details
        ) from None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge key by key, ``null`` removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


@router.get("/api/v1/workflows", response_model=Workflows, responses=ACT_FOR_ERRORS)
def list_workflows(scope: ScopedConn, user_id: ScopedUser) -> OrjsonResponse:
    """The caller's workflows (deleted ones are gone), oldest first."""
    return OrjsonResponse({"workflows": with_state(scope.conn, user_id, store.list_workflows(scope.conn, user_id))})


@router.post("/api/v1/workflows", status_code=201, response_model=Workflow, responses={**ACT_FOR_ERRORS, **_INVALID})
def create_workflow(scope: ScopedConn, user_id: ScopedUser, definition: JsonObject) -> OrjsonResponse:
    """Create a workflow from a definition (version 1); 422 says what is wrong with it."""
    created = store.create_workflow(scope.conn, user_id, validated(definition))
    scope.commit()
    return OrjsonResponse(with_state(scope.conn, user_id, [created])[0], status_code=201)


@router.get("/api/v1/workflows/{workflow_id}", response_model=Workflow, responses=_ONE)
def get_workflow(scope: ScopedConn, user_id: ScopedUser, workflow_id: WorkflowId) -> OrjsonResponse:
    """One workflow at its current version."""
    return OrjsonResponse(with_state(scope.conn, user_id, [store.get_workflow(scope.conn, user_id, workflow_id)])[0])


@router.patch("/api/v1/workflows/{workflow_id}", response_model=Workflow, responses={**_ONE, **_INVALID})
def patch_workflow(
    scope: ScopedConn, user_id: ScopedUser, workflow_id: WorkflowId, patch: JsonObject
) -> OrjsonResponse:
    """Change a workflow with a JSON merge patch of its definition (e.g. ``{"enabled": false}``): a new version."""
    current = store.get_workflow(scope.conn, user_id, workflow_id, for_update=True)
    updated = store.update_workflow(
        scope.conn, user_id, workflow_id, validated(merge_patch(current["definition"], patch))
    )
    scope.commit()
    return OrjsonResponse(with_state(scope.conn, user_id, [updated])[0])


@router.delete("/api/v1/workflows/{workflow_id}", status_code=204, responses=_ONE)
def delete_workflow(scope: ScopedConn, user_id: ScopedUser, workflow_id: WorkflowId) -> Response:
    """Delete a workflow: it is gone from the API (404 after), its history is kept."""
    store.delete_workflow(scope.conn, user_id, workflow_id)
    scope.commit()
    return Response(status_code=204)


@router.get("/api/v1/workflows/{workflow_id}/versions", response_model=WorkflowVersions, responses=_ONE)
def workflow_versions(scope: ScopedConn, user_id: ScopedUser, workflow_id: WorkflowId) -> OrjsonResponse:
    """Every version of a workflow, oldest first: what changed and the definition at that version."""
    return OrjsonResponse({"versions": store.workflow_versions(scope.conn, user_id, workflow_id)})
