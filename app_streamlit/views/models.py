"""Models: the versions the API serves now, and where to see every training run (MLflow)."""

from __future__ import annotations

import streamlit as st

from app_streamlit.common import get, load

MLFLOW_UI = "http://127.0.0.1:5000"

st.title("Models")
ready = load("the served models", lambda: get("/health/readiness"))
if ready is not None:
    models = ready.get("models") or {}
    served = {k: v for k, v in models.items() if k.startswith("floyo-")}
    if not any(served.values()):
        st.info(
            "No champion model yet: suggestions are ranked by their transparent score. Train the models with "
            "`floyo train` (or `floyo job run`), and the API picks up the champions within a minute."
        )
    cols = st.columns(max(len(served), 1))
    for column, (name, version) in zip(cols, served.items(), strict=False):
        column.metric(name, f"v{version}" if version else "none")
    st.caption(
        f"Ranking: {models.get('ranking', '—')} · registry checked {models.get('checked_at') or 'never'}"
        + (f" · error: {models['error']}" if models.get("error") else "")
    )
st.markdown(
    f"Every training run, its metrics against the baselines and earlier versions: the MLflow UI "
    f"([{MLFLOW_UI}]({MLFLOW_UI}); start it with `floyo mlflow ui`)."
)
