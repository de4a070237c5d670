"""Models: each family's champion and earlier versions, their metrics side by side (the baselines' beside them),
the versions the API serves now, and where to see every run (the MLflow UI)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app_streamlit.charts import metrics_by_version
from app_streamlit.common import get, load

MLFLOW_UI = "http://127.0.0.1:5000"


def _family(family: dict[str, Any]) -> None:
    st.subheader(family["name"])
    versions = family["versions"]
    champion = family["champion"]
    st.caption(f"champion: v{champion}" if champion else "no champion: no version has beaten the previous one yet")
    rows = [{"version": f"v{v['version']}", "champion": "yes" if v["version"] == champion else "", **v["metrics"]}
            for v in versions]  # fmt: skip
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    # scores only (0-1: hit rates, MRR, recall, the baselines' beside them); counts such as n would flatten them
    long = [
        {"version": f"v{v['version']}", "metric": k, "value": x}
        for v in versions for k, x in v["metrics"].items()
        if isinstance(x, int | float) and 0 <= x <= 1 and not k.startswith("validation")
    ]  # fmt: skip
    if long:
        st.altair_chart(metrics_by_version(long), width="stretch")


st.title("Models")
answer = load("the model registry", lambda: get("/api/v1/models"))
if answer is not None:
    trained = [f for f in answer["families"] if f["versions"]]
    if not trained:
        st.info(
            "No trained models yet: suggestions are ranked by their transparent score. Train the models with "
            "`floyo train` (or run the pipeline with `floyo job run`); the API picks up new champions within a minute."
        )
    for family in trained:
        _family(family)
    runs = answer.get("training_runs") or []
    st.subheader("Last training runs of the job")
    if runs:
        table = pd.DataFrame(runs)
        for column in ("trained", "promoted"):
            table[column] = table[column].map(lambda names: ", ".join(names) or "—")
        st.dataframe(table, hide_index=True, width="stretch")
    else:
        st.info("The pipeline job has not run yet: `floyo job run` (or `floyo job schedule`).")
ready = load("the served models", lambda: get("/health/readiness"))
if ready is not None and ready.get("models"):
    models = ready["models"]
    served = ", ".join(f"{k} {'v' + str(v) if v else 'none'}" for k, v in models.items() if k.startswith("floyo-"))
    st.caption(f"Served by the API now: {served}; ranking: {models.get('ranking', '—')}")
st.markdown(
    f"Every training run, with its parameters and artifacts: the MLflow UI ([{MLFLOW_UI}]({MLFLOW_UI}); start it "
    "with `floyo mlflow ui`). Failed runs and their errors are on the Operations page (admins)."
)
