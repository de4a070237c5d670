"""Serving's operations in the OpenAPI document: every error declared with the error body (what an admin naming an
unknown user answers included), and the workflows' and feedback's answers with their models."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from ingest.responses import ErrorBody
from serving.answers_schema import (
    ActivityAnswer,
    CatalogAnswer,
    ModelsAnswer,
    OperationsAnswer,
    PatternsAnswer,
    SuggestionsAnswer,
)
from serving.routes.suggestions import FeedbackAnswer
from serving.routes.workflows import Workflow, Workflows, WorkflowVersions
from tests.serving.api_helpers import SuggestionFactory, workflow
from tests.serving.test_schemathesis import SERVING_PATHS
from tests.utils.factories import make_device

REF = "#/components/schemas/"
MODELS = {
    ("/api/v1/me", "get", "200"): "Me",
    ("/api/v1/workflows", "get", "200"): "Workflows",
    ("/api/v1/workflows", "post", "201"): "Workflow",
    ("/api/v1/workflows/{workflow_id}", "get", "200"): "Workflow",
    ("/api/v1/workflows/{workflow_id}", "patch", "200"): "Workflow",
    ("/api/v1/workflows/{workflow_id}/versions", "get", "200"): "WorkflowVersions",
    ("/api/v1/workflows/{workflow_id}/approval", "put", "200"): "Workflow",
    ("/api/v1/workflows/{workflow_id}/runs", "get", "200"): "Runs",
    ("/api/v1/workflows/{workflow_id}/outcome", "get", "200"): "Outcome",
    ("/api/v1/suggestions/{suggestion_id}/feedback", "post", "200"): "FeedbackAnswer",
    ("/api/v1/suggestions", "get", "200"): "SuggestionsAnswer",
    ("/api/v1/catalog", "get", "200"): "CatalogAnswer",
    ("/api/v1/activity", "get", "200"): "ActivityAnswer",
    ("/api/v1/patterns", "get", "200"): "PatternsAnswer",
    ("/api/v1/models", "get", "200"): "ModelsAnswer",
    ("/api/v1/operations", "get", "200"): "OperationsAnswer",
}


def test_every_error_is_declared_with_the_error_body(api: TestClient) -> None:
    schema: dict[str, Any] = api.get("/openapi.json").json()
    seen = set()
    for path in SERVING_PATHS:
        for method, op in schema["paths"][path].items():
            for status, answer in op["responses"].items():
                seen.add((path, method, status))
                if status.startswith(("4", "5")):
                    assert answer["content"]["application/json"]["schema"] == {"$ref": REF + "ErrorBody"}, (
                        path, method, status,
                    )  # fmt: skip
            if "{workflow_id}" in path or "{suggestion_id}" in path or "user" in str(op.get("parameters")):
                assert {"403", "404"} <= set(op["responses"]), (path, method)  # another user, no such id
    for (path, method, status), model in MODELS.items():
        declared = schema["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
        assert declared == {"$ref": REF + model}, (path, method, status)
    assert set(MODELS) <= seen


def test_real_answers_validate_against_the_declared_models(
    api: TestClient, engine: Engine, suggest: SuggestionFactory
) -> None:
    admin = make_device(engine, admin=True)
    created = api.post("/api/v1/workflows", json=workflow(), headers=admin.headers)
    assert Workflow.model_validate(created.json()).version == 1
    wid = created.json()["id"]
    assert len(Workflows.model_validate(api.get("/api/v1/workflows", headers=admin.headers).json()).workflows) == 1
    versions = api.get(f"/api/v1/workflows/{wid}/versions", headers=admin.headers).json()
    assert WorkflowVersions.model_validate(versions).versions[0].change == "create"
    sid = suggest(admin.user_id)
    answer = api.post(f"/api/v1/suggestions/{sid}/feedback", json={"action": "snooze"}, headers=admin.headers)
    assert FeedbackAnswer.model_validate(answer.json()).days == 7
    accepted = api.post(f"/api/v1/suggestions/{sid}/feedback", json={"action": "accept"}, headers=admin.headers)
    assert FeedbackAnswer.model_validate(accepted.json()).workflow is not None
    unknown = api.get("/api/v1/workflows?user=nobody-at-all", headers=admin.headers)  # declared since the fuzzer
    assert unknown.status_code == 404
    assert ErrorBody.model_validate(unknown.json()).error.code == "no_such_user"


def test_the_read_answers_validate_against_their_declared_models(
    api: TestClient, engine: Engine, suggest: SuggestionFactory
) -> None:
    admin = make_device(engine, admin=True)
    suggest(admin.user_id)
    for path, model in (
        ("/api/v1/suggestions", SuggestionsAnswer), ("/api/v1/catalog", CatalogAnswer),
        ("/api/v1/activity", ActivityAnswer), ("/api/v1/patterns", PatternsAnswer),
        ("/api/v1/models", ModelsAnswer), ("/api/v1/operations", OperationsAnswer),
    ):  # fmt: skip
        response = api.get(path, headers=admin.headers)
        assert response.status_code == 200, (path, response.text)
        model.model_validate(response.json())
    answer = SuggestionsAnswer.model_validate(api.get("/api/v1/suggestions", headers=admin.headers).json())
    assert len(answer.suggestions) == 1
    assert answer.ranker.name == "transparent"
