"""Schemathesis over chosen operations of a live server's OpenAPI: no 5xx, and every answer has a declared status,
content type and body schema (shared by ingest's and serving's fuzz tests)."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance)


def fuzz_operations(
    base_url: str,
    headers: dict[str, str],
    paths: set[str],
    *,
    max_examples: int,
    path_values: dict[str, list[Any]] | None = None,
) -> list[tuple[str, int]]:
    """Run every operation whose path is in ``paths`` with ``max_examples`` generated cases (the checks raise on
    the first failure); every ``(operation label, status)`` answered. Asserts each operation's schema is valid and
    that each was called. ``path_values``: for a path parameter, ids that exist (drawn in about half the cases),
    so the fuzzer reaches the answers behind the 404s."""
    api = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = []
    for result in api.get_all_operations():
        assert isinstance(result, Ok), result
        if result.ok().path in paths:
            operations.append(result.ok())

    operations.sort(key=lambda op: op.method.upper() == "DELETE")  # deleting last: the others still find the ids
    calls: list[tuple[str, int]] = []
    for operation in operations:

        @given(case=_with_known_ids(operation.as_strategy(), path_values or {}))
        @settings(max_examples=max_examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def conforms(case: Any) -> None:
            response = case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)
            calls.append((case.operation.label, response.status_code))

        conforms()
    assert {label for label, _ in calls} == {operation.label for operation in operations}  # each one was called
    return calls


def _with_known_ids(cases: st.SearchStrategy[Any], values: dict[str, list[Any]]) -> st.SearchStrategy[Any]:
    def known(case: Any, draw: st.DrawFn) -> Any:
        for name in case.path_parameters or {}:
            if name in values and draw(st.booleans()):
                case.path_parameters[name] = draw(st.sampled_from(values[name]))
        return case

    return st.composite(lambda draw: known(draw(cases), draw))()
