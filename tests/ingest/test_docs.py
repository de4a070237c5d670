"""/docs and /redoc come from the installed package's assets (no CDN, no inline script) with a CSP."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest

from ingest.docs import ASSETS_PACKAGE, DOCS_CSP

SRC = re.compile(r'(?:src|href|spec-url)="([^"]*)"')
SCRIPT = re.compile(r"<script([^>]*)>(.*?)</script>", re.S)


def _csp(answer) -> dict[str, str]:
    policy = answer.headers.get_list("content-security-policy")
    assert len(policy) == 1, policy  # two policies would both apply
    return {d.split()[0]: d.partition(" ")[2] for d in (p.strip() for p in policy[0].split(";")) if d}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_only_local_assets_under_a_policy(client, page: str):
    answer = client.get(page)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["content-security-policy"] == DOCS_CSP
    policy = _csp(answer)
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"  # no CDN, no inline script, no eval
    assert policy["frame-ancestors"] == "'none'"
    urls = SRC.findall(answer.text)
    assert urls
    for url in urls:
        assert url.startswith("/"), url  # this origin only
        assert not url.startswith("//"), url
        fetched = client.get(url)
        assert fetched.status_code == 200, url
        assert fetched.content
    for attributes, body in SCRIPT.findall(answer.text):
        assert "src=" in attributes
        assert not body.strip()


@pytest.mark.parametrize("name", ["swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png"])
def test_the_assets_are_the_installed_packages_files(client, name: str):
    answer = client.get(f"/docs/assets/{name}")
    assert answer.status_code == 200
    assert answer.content == (files(ASSETS_PACKAGE) / "static" / name).read_bytes()
    assert len(answer.content) > 1000
    assert "max-age" in answer.headers["cache-control"]


def test_swagger_is_started_by_a_local_script_reading_our_schema(client):
    init = client.get("/docs/swagger-init.js")
    assert init.status_code == 200
    assert init.headers["content-type"].startswith("text/javascript")
    assert '"/openapi.json"' in init.text
    assert client.get("/openapi.json").json()["info"]["title"] == "Floyo"


@pytest.mark.parametrize("name", ["core.py", "..%2F__init__.py", "%2e%2e/consts.py", "swagger-ui.css.map"])
def test_only_the_listed_assets_are_served(client, name: str):
    assert client.get(f"/docs/assets/{name}").status_code == 404


def test_api_answers_forbid_any_content(client, device):
    answer = client.get("/api/v1/events", headers=device.headers)
    assert answer.status_code == 200
    assert _csp(answer) == {"default-src": "'none'", "frame-ancestors": "'none'"}
    assert answer.headers["cache-control"] == "no-store"


def test_the_threat_model_names_tests_that_exist():
    """docs/security.md cites ``file::test`` (or ``::test`` for the file before): each must be a real test."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    text = (root / "docs" / "security.md").read_text()
    cited, current = [], None
    for file, name in re.findall(r"`(tests/[\w/]+\.py)?::(test_\w+)`", text):
        current = file or current
        assert current is not None, name
        cited.append((current, name))
    assert len(cited) > 40
    for file, name in cited:
        source = (root / file).read_text()
        assert re.search(rf"^(async )?def {name}\(", source, re.M), f"{file}::{name} is cited but does not exist"
