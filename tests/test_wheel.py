"""Floyo installed from its wheel, away from this checkout: the sample log is found as package data, MLflow's
store goes under FLOYO_DATA_DIR (nothing into site-packages), and a model logged by the checkout loads there."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.utils.db import scratch_database

REPO = Path(__file__).resolve().parents[1]
# what a wheel is built from: the source, without the virtualenv, caches, data or a local MLflow store
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", ".cache", "*_cache", "__pycache__", "build", "dist", "*.egg-info", "mlflow", "notebooks", "bench"
)


def _run(argv: list[str], *, env: dict[str, str], cwd: Path, timeout: float = 120) -> str:
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv outside the checkout with the floyo wheel installed; it sees the dev venv's third-party
    packages through a plain ``.pth`` line (whose own ``.pth`` files, the editable install among them, are not
    processed), so only the wheel can provide ``floyo``."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"
    shutil.copytree(REPO, source, ignore=_NOT_SOURCE, symlinks=True)
    env = _clean_env()
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", *_isolation(), "-w", str(tmp / "dist"),
          str(source)], env=env, cwd=tmp, timeout=300)  # fmt: skip
    wheel = next((tmp / "dist").glob("floyo-*.whl"))
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env=env, cwd=tmp)
    python = str(venv / "bin" / "python")
    site = Path(
        _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], env=env, cwd=tmp).strip()
    )
    (site / "floyo-dev-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
         env=env, cwd=tmp)  # fmt: skip
    return venv


def _isolation() -> list[str]:
    """Build with this venv's setuptools when it can build the wheel (>= 69, as pyproject.toml asks), else let pip
    fetch the build requirements into an isolated environment."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        major = int(version("setuptools").split(".")[0])
    except PackageNotFoundError:
        return []
    return ["--no-build-isolation"] if major >= 69 else []


def _clean_env() -> dict[str, str]:
    """This process's environment without anything that would put the checkout on the path or point at stores."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith(("FLOYO_", "MLFLOW_"))}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def outside(wheel_venv: Path, database_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a user of the wheel: a scratch database, FLOYO_DATA_DIR in tmp, no FLOYO_MLFLOW_URI."""
    with scratch_database(database_url) as scratch:
        yield {
            **_clean_env(),
            "FLOYO_DATABASE_URL": scratch,
            "FLOYO_DATA_DIR": str(tmp_path / "data"),
            "FLOYO_ENV": "test",
            "FLOYO_LOG_FORMAT": "text",
            "PATH": f"{wheel_venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        }


def _files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if "__pycache__" not in p.parts}


@pytest.mark.slow
def test_the_wheel_runs_away_from_the_checkout(
    wheel_venv: Path, outside: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python, floyo = str(wheel_venv / "bin" / "python"), str(wheel_venv / "bin" / "floyo")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    where = _run([python, "-c", "import floyo, models, ingest.csvlog as c; print(floyo.__file__); print(models.__file__);"
                  " print(c.sample_log())"], env=outside, cwd=cwd).split()  # fmt: skip
    assert all(Path(p).is_relative_to(wheel_venv) for p in where), where  # the wheel's code, not the checkout's
    sample = Path(where[2])
    assert sample.is_file()
    assert sample.name == "flask.events.csv.gz"
    site = Path(where[0]).parents[1]
    # the integration catalog is package data: the installed wheel validates its own copy
    assert _run([floyo, "catalog", "check"], env=outside, cwd=cwd).startswith("OK: 7 entries")
    before = _files(site)

    # what `floyo demo --no-train` does: migrate, start the API, ingest the bundled sample, build the lake, stop
    port = str(_free_port())
    try:
        demo = _run([floyo, "demo", "--no-train", "--personas", "0", "--port", port], env=outside, cwd=cwd, timeout=180)
    finally:
        subprocess.run([floyo, "stop"], env=outside, cwd=cwd, capture_output=True, timeout=60, check=False)
    accepted = re.search(r"ingested flask\.events\.csv\.gz through the API in .*: (\d+) accepted", demo)
    assert accepted, demo
    assert int(accepted.group(1)) > 9000
    api = re.search(r"\(pid (\d+),", demo)
    assert api, demo
    with pytest.raises(ProcessLookupError):  # `floyo stop` stopped the API the demo started
        os.kill(int(api.group(1)), 0)
    assert (Path(outside["FLOYO_DATA_DIR"]) / "lake").is_dir()

    # the default MLflow store is created under FLOYO_DATA_DIR; a model the checkout logs there loads here
    small = tmp_path / "small.events.csv.gz"
    with gzip.open(sample, "rt") as src, gzip.open(small, "wt") as dst:
        dst.writelines(next(src) for _ in range(601))
    listed = _run([python, "-c", "from models import tracking; print(tracking.list_models())"], env=outside, cwd=cwd)
    assert listed.strip() == "[]"  # `floyo models list` reads PostgreSQL now: the registry is asked directly
    store = Path(outside["FLOYO_DATA_DIR"]).resolve() / "mlflow" / "mlflow.db"
    assert store.is_file()
    expected = _log_from_the_checkout(small, f"sqlite:///{store}", monkeypatch)
    loaded = _run([python, "-c", _LOAD], env=outside, cwd=cwd).splitlines()
    assert Path(loaded[0]).is_relative_to(wheel_venv)  # unpickled from the wheel's models.pyfunc
    assert loaded[1:] == expected
    assert any((store.parent / "artifacts").rglob("MLmodel"))  # artifacts beside the database
    assert _files(site) == before  # nothing written into site-packages
    assert list(cwd.iterdir()) == []  # nor into the current directory


_LOAD = """
import inspect
from models import tracking
from models.pyfunc import next_action_input
from models.protocol import Step
model = tracking.load("floyo-next-action")  # the champion, from the default store under FLOYO_DATA_DIR
print(inspect.getfile(type(model.unwrap_python_model())))
steps = [Step("u", "py", "src", None, "", 0), Step("u", "rst", "docs", "py", "", 0)]
for ranked in model.predict(next_action_input(steps))["ranked"]:
    print(",".join(ranked[:5]))
"""


def _log_from_the_checkout(log: Path, uri: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Log a next-action model from this process (the checkout's code) into ``uri``; its top five for two steps."""
    from floyo.settings import get_settings
    from models.eventlog import read_event_log
    from models.next_action import NextActionModel, next_action_to_json
    from models.protocol import Step, hit_metrics, next_item_steps, time_split
    from models.pyfunc import NextActionPyfunc, next_action_input
    from models.train import _log_and_promote

    monkeypatch.setenv("FLOYO_MLFLOW_URI", uri)
    get_settings.cache_clear()
    try:
        steps, queries = next_item_steps(time_split(read_event_log(log)))
        model = NextActionModel(weights={"global": 1.0, "dir": 1.0, "pop": 0.01}, half_life=None).fit(steps)
        _log_and_promote(
            name="floyo-next-action", python_model=NextActionPyfunc(), artifact=next_action_to_json(model),
            params=model.config(), data={"source": log.name}, ranked=model.rank_many(queries),
            truth=[q.item for q in queries], model_input=next_action_input(queries), metrics=hit_metrics,
        )  # fmt: skip
    finally:
        get_settings.cache_clear()
    probe = [Step("u", "py", "src", None, "", 0), Step("u", "rst", "docs", "py", "", 0)]
    return [",".join(r[:5]) for r in model.rank_many(probe)]
