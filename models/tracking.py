"""MLflow: one experiment per model family, a run per training, the registry's ``champion`` alias.

The tracking store is ``FLOYO_MLFLOW_URI`` (default: SQLite in ``$FLOYO_DATA_DIR/mlflow/``); with a SQLite store
the artifacts go beside the database, never into the current directory nor the installed package.

Every run records its scope (tag and param ``scope``): ``lake`` (the whole lake, everyone), ``user:<name>`` or
``log:<file>``. Only a ``lake`` run is registered under a family's global name (``floyo-rules``…) and may move its
``champion`` alias; a scoped run registers under a name of its own (``scoped_name``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

import mlflow
from floyo.errors import Unavailable
from floyo.settings import get_settings

# a new SQLite store announces its table creation at INFO on whichever call touches it first
logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)

CHAMPION = "champion"
GLOBAL_SCOPE = "lake"
SCOPE_TAG = "floyo.scope"
# the pickled pyfunc classes live in the floyo distribution (``models.pyfunc``): an environment that loads a
# logged model needs that wheel at this version, not this checkout's source
PIP_REQUIREMENTS = ["mlflow>=3,<4", "pandas", "polars", "numpy", "scikit-learn", "skops"]


def pip_requirements() -> list[str]:
    """What a logged model needs to load: MLflow, the libraries its classes use and ``floyo`` at this version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        floyo = f"floyo=={version('floyo')}"
    except PackageNotFoundError:  # run from a bare source tree: name the distribution without a version
        floyo = "floyo"
    return [*PIP_REQUIREMENTS, floyo]


def scoped_name(family: str, scope: str) -> str:
    """The registered model a run of ``scope`` goes to: the family's global name for a lake run, else
    ``<family>-user-<name>`` / ``<family>-log-<file stem>`` (only letters, digits, ``.``, ``_``, ``-``)."""
    if scope == GLOBAL_SCOPE:
        return family
    kind, _, what = scope.partition(":")
    if kind == "log":
        what = what.removesuffix(".gz").removesuffix(".csv")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", what).strip("_")[:80] or "_"
    return f"{family}-{kind}-{slug}"


@dataclass(frozen=True)
class Logged:
    """A logged and registered model version."""

    run_id: str
    name: str
    version: str


def client() -> MlflowClient:
    """A client on the configured store (and the module-level mlflow pointed at it)."""
    uri = get_settings().mlflow_tracking_uri
    if uri.startswith("sqlite:///"):  # SQLite creates the database file but not its folder
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(uri, registry_uri=uri)


def experiment_id(name: str) -> str:
    """The experiment of a model family, created on first use."""
    c = client()
    with _quiet_mlflow():  # the first call creates the SQLite store's tables, and says so
        found = c.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    uri = get_settings().mlflow_tracking_uri
    location = (
        (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").as_uri() if uri.startswith("sqlite:///") else None
    )
    return str(c.create_experiment(name, artifact_location=location))


def log_model_run(
    *,
    name: str,
    python_model: Any,
    artifact: dict[str, Any],
    params: dict[str, Any],
    metrics: dict[str, float],
    data: dict[str, Any],
    input_example: pd.DataFrame,
    scope: str = GLOBAL_SCOPE,
) -> Logged:
    """One run: its scope, params, metrics, the data window and row counts, the model as a pyfunc, registered as
    ``name`` (in the experiment of ``name``)."""
    with (
        _quiet_mlflow(),
        tempfile.TemporaryDirectory() as tmp,
        mlflow.start_run(experiment_id=experiment_id(name), tags={SCOPE_TAG: scope}) as run,
    ):
        mlflow.log_param("scope", scope)
        mlflow.log_params({k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in params.items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        mlflow.log_params({f"data.{k}": v for k, v in data.items()})
        mlflow.log_dict(data, "data_window.json")
        path = Path(tmp) / "model.json"
        path.write_text(json.dumps(artifact))
        python_model.load_context(_Context({"model": str(path)}))
        signature = infer_signature(input_example, python_model.predict(None, input_example))
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=python_model,
            artifacts={"model": str(path)},
            input_example=input_example,
            signature=signature,
            pip_requirements=pip_requirements(),
            registered_model_name=name,
        )
    return Logged(run.info.run_id, name, str(info.registered_model_version))


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """Without MLflow's narration of every logged model (signature validation, advice on CloudPickle, "Successfully
    registered", pandas deprecations inside MLflow): ``floyo train`` prints its own one-line summary per model.
    Errors still raise."""
    from mlflow.utils.logging_utils import MLFLOW_LOGGING_STREAM

    # MLflow 3.17 logs some of it through the ``mlflow`` logger's own handler, past the stream switch. Both are
    # restored as they were, not switched on: these blocks nest (``experiment_id`` inside ``log_model_run``).
    mlflow_logger = logging.getLogger("mlflow")
    level, enabled = mlflow_logger.level, MLFLOW_LOGGING_STREAM.enabled
    mlflow_logger.setLevel(logging.ERROR)
    MLFLOW_LOGGING_STREAM.enabled = False
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="mlflow")
            yield
    finally:
        MLFLOW_LOGGING_STREAM.enabled = enabled
        mlflow_logger.setLevel(level)


@dataclass
class _Context:
    artifacts: dict[str, str]


def champion_version(name: str) -> str | None:
    """The version holding the ``champion`` alias; None only when the model or its alias does not exist. Any other
    MLflow error raises ``Unavailable``: a store that cannot answer must not read as "no champion", which would
    promote without comparison."""
    try:
        model = client().get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise _unavailable(f"reading the champion of {name}", exc) from exc
    except Exception as exc:  # the store's own failures (a locked or corrupt SQLite file) may not be wrapped
        raise _unavailable(f"reading the champion of {name}", exc) from exc
    version = (model.aliases or {}).get(CHAMPION)
    return None if version is None else str(version)


def champion_scope(name: str) -> str | None:
    """The scope of the run behind the champion (None when there is no champion or the run predates scopes)."""
    version = champion_version(name)
    if version is None:
        return None
    try:
        c = client()
        run_id = c.get_model_version(name, version).run_id
        return c.get_run(run_id).data.tags.get(SCOPE_TAG) if run_id else None
    except MlflowException as exc:
        raise _unavailable(f"reading the champion of {name}", exc) from exc


def _unavailable(doing: str, exc: Exception) -> Unavailable:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return Unavailable("mlflow_error", f"MLflow store error while {doing}: {first}")


def promote(logged: Logged) -> None:
    """Move the ``champion`` alias to this version."""
    client().set_registered_model_alias(logged.name, CHAMPION, logged.version)


def load(name: str, ref: str = f"@{CHAMPION}") -> Any:
    """A registered model as a pyfunc: ``@champion`` by default, or a version number."""
    client()
    return mlflow.pyfunc.load_model(f"models:/{name}{ref if ref.startswith('@') else '/' + ref}")


def list_models() -> list[dict[str, Any]]:
    """Registered ``floyo-*`` models: versions, aliases and each version's metrics."""
    c = client()
    out = []
    for model in c.search_registered_models(filter_string="name LIKE 'floyo-%'"):
        aliases = dict(model.aliases or {})
        for v in c.search_model_versions(f"name = '{model.name}'"):
            metrics = c.get_run(v.run_id).data.metrics if v.run_id else {}
            names = [a for a, version in aliases.items() if str(version) == str(v.version)]
            out.append({"name": model.name, "version": str(v.version), "aliases": names, "metrics": metrics})
    return sorted(out, key=lambda r: (r["name"], int(r["version"])))


def ui_command(*, host: str, port: int, python: str) -> list[str]:
    """The ``mlflow ui`` command line on the configured store (artifacts beside a SQLite database)."""
    uri = get_settings().mlflow_tracking_uri
    argv = [python, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port)]
    if uri.startswith("sqlite:///"):
        argv += ["--default-artifact-root", (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").as_uri()]
    return argv


def run_ui(argv: list[str]) -> int:
    """Run the UI in a process group of its own until it ends or this process is told to stop; then stop the
    whole group (``mlflow ui`` starts a server and job consumers that a signal to the parent alone would leave)."""
    import os
    import signal
    import subprocess

    proc = subprocess.Popen(argv, start_new_session=True)

    def stop(*_: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return proc.wait()
    finally:
        stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
