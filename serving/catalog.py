"""PLACEHOLDER until helper "cand"'s catalog lands: ``load_catalog()`` with ``.entries`` of pydantic models.

Only the seven template ids of the contract, so the API's catalog route and its tests have something to serve.
"""

from __future__ import annotations

from pydantic import BaseModel

TEMPLATE_IDS = (
    "run_on_save", "convert_on_change", "file_downloads", "backup_folder", "notify_long_run",
    "test_before_commit", "scheduled_job",
)  # fmt: skip


class CatalogEntry(BaseModel):
    """One template of the catalog."""

    id: str


class Catalog(BaseModel):
    """The whole catalog."""

    entries: list[CatalogEntry]


def load_catalog() -> Catalog:
    """The catalog (placeholder: ids only)."""
    return Catalog(entries=[CatalogEntry(id=i) for i in TEMPLATE_IDS])
