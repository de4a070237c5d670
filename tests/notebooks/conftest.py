"""One scratch database, lake, data directory and MLflow store shared by the notebooks' runs (the first notebook run
builds the small lake, the others find it), and a kernel that is this interpreter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from floyo.db import reset_engine
from floyo.settings import get_settings
from tests.features.helpers import LakeDB, lake_db
from tests.notebooks.runner import kernelspec
from tests.utils.env import environment


@pytest.fixture(scope="package")
def notebook_env(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LakeDB]:
    tmp = tmp_path_factory.mktemp("notebooks")
    with lake_db(database_url, tmp / "data", retention_days=0) as db, pytest.MonkeyPatch.context() as mp:
        env = {**db.env, "FLOYO_MLFLOW_URI": f"sqlite:///{tmp / 'mlflow.db'}", "FLOYO_LOG_LEVEL": "WARNING",
               "JUPYTER_PATH": str(kernelspec(tmp / "jupyter")), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}  # fmt: skip
        mp.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend, never a headless one that hides plots
        with environment(env, mp):
            yield db
