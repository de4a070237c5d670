"""Commands of ``models``, registered on the ``floyo`` CLI; heavy imports stay inside the commands."""

# no ``from __future__ import annotations``: the commands are defined inside ``register`` and typer must see
# their annotations as objects, imported there to keep ``floyo --help`` instant
import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to the ``floyo`` app."""
    from datetime import UTC, datetime
    from pathlib import Path
    from typing import Annotated

    from floyo.cli_support import friendly_errors, progress_bar

    @app.command()
    @friendly_errors
    def evaluate(
        events: Annotated[Path, typer.Option(help="event log (.csv or .csv.gz) in the CSV log format (docs/data.md)")],
        test_frac: Annotated[float, typer.Option(min=0.01, max=0.99, help="share of transactions held out")] = 0.2,
        as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    ) -> None:
        """Train on the past of an event log and score Floyo's models and the baselines on its future."""
        import json

        from models.evaluate import evaluate_log, format_table

        result = evaluate_log(events, test_frac=test_frac)
        typer.echo(json.dumps(result) if as_json else format_table(result))

    @app.command()
    @friendly_errors
    def train(
        events: Annotated[Path | None, typer.Option(help="event log (.csv or .csv.gz) instead of the lake")] = None,
        user: Annotated[str | None, typer.Option(help="only this user's events (name or id; lake only)")] = None,
        since: Annotated[
            datetime | None, typer.Option(help="only events from this date/time on, UTC (lake only)")
        ] = None,
        test_frac: Annotated[float, typer.Option(min=0.01, max=0.99, help="share of transactions held out")] = 0.2,
        engine: Annotated[
            str | None,
            typer.Option(help="local, or spark: rules and workflows mined on Spark (default FLOYO_TRAIN_ENGINE)"),
        ] = None,
        master: Annotated[
            str | None, typer.Option(help="Spark master URL for --engine spark (default FLOYO_SPARK_MASTER)")
        ] = None,
    ) -> None:
        """Train every model family, log it to MLflow, promote it to champion only if it beats the current one.

        Only a run over the whole lake registers the global floyo-* models; --user and --events runs register
        under names of their own (floyo-<family>-user-<name>, floyo-<family>-log-<file>). With --engine spark,
        Spark mines the rules and workflows over the whole lake; next action and co-change train locally."""
        import sys

        from floyo.settings import get_settings
        from models.lakedata import train_from_lake
        from models.train import FAMILIES, train_from_log

        if events is not None and (user is not None or since is not None):
            raise typer.BadParameter("--user and --since read the lake: leave out --events")
        # FLOYO_TRAIN_ENGINE is the lake's engine: an event log is always trained locally unless --engine says spark
        chosen = engine or (get_settings().train_engine if events is None else "local")
        if chosen not in ("local", "spark"):
            raise typer.BadParameter(f"--engine must be local or spark, not {chosen!r}")
        if events is not None and chosen == "spark":
            raise typer.BadParameter("--engine spark reads the lake: leave out --events")
        if master is not None and chosen != "spark":
            raise typer.BadParameter("--master is for --engine spark")
        with progress_bar("training", len(FAMILIES) + 1, enabled=sys.stderr.isatty()) as bar:
            if events is not None:
                bar.step("data")
                results = train_from_log(events, test_frac=test_frac, progress=bar.step)
            else:
                when = since.replace(tzinfo=UTC) if since and since.tzinfo is None else since
                results = train_from_lake(get_settings(), user=user, since=when, test_frac=test_frac,
                                          progress=bar.step, engine=chosen, master=master)  # fmt: skip
        if results and results[0]["scope"] != "lake":
            typer.echo(
                f"scope {results[0]['scope']}: registered under names of its own; the global champions stay", err=True
            )
        _record_after_training(lake=bool(results) and results[0]["scope"] == "lake")
        for r in results:
            before = "none" if r["champion_before"] is None else f"v{r['champion_before']} mrr {r['champion_mrr']:.3f}"
            verdict = "promoted to champion" if r["promoted"] else "kept the champion"
            by = f" [engine {r['engine']}]" if chosen != "local" else ""  # a spark run says which family ran where
            typer.echo(f"{r['name']} v{r['version']}: mrr {r['mrr']:.3f} (champion before: {before}) -> {verdict}{by}")

    def _record_after_training(*, lake: bool) -> None:
        """What ``floyo patterns`` and ``floyo models list`` read: after a lake run the patterns too (the champions
        may have moved); a run on a log may have no database at all, so only a warning then."""
        from sqlalchemy.exc import SQLAlchemyError

        from floyo.db import get_engine
        from models.pattern_store import record_models, refresh_patterns

        try:
            if lake:
                refresh_patterns(get_engine())
            else:
                record_models(get_engine())
        except SQLAlchemyError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            typer.echo(f"warning: the model list in PostgreSQL was not updated ({first})", err=True)

    models_app = typer.Typer(help="Registered models (as the last training recorded them).", no_args_is_help=True)
    app.add_typer(models_app, name="models")

    @models_app.command("list")
    @friendly_errors
    def models_list(as_json: Annotated[bool, typer.Option("--json", help="print one JSON list")] = False) -> None:
        """Registered floyo-* models: versions, aliases, key metrics (read from PostgreSQL, written by the job)."""
        import json

        from floyo.db import get_engine
        from floyo.errors import NotFound
        from models.pattern_store import read_models

        with get_engine().connect() as conn:
            found = read_models(conn)
        if not found:
            raise NotFound(
                "no_models", "no model recorded in PostgreSQL yet: `floyo patterns refresh` (or `floyo job run`)"
            )
        if as_json:
            typer.echo(json.dumps(found))
            return
        for m in found:
            keys = ("mrr", "hr1", "hr5", "r1", "r10")
            metrics = "  ".join(f"{k} {m['metrics'][k]:.3f}" for k in keys if k in m["metrics"])
            aliases = ",".join(m["aliases"]) or "-"
            typer.echo(f"{m['name']:20} v{m['version']:<4} {aliases:10} {metrics}")

    patterns_app = typer.Typer(
        help="What the champion models found (or what an event log holds).", no_args_is_help=True
    )
    app.add_typer(patterns_app, name="patterns")

    @patterns_app.command("rules")
    @friendly_errors
    def patterns_rules(
        events: Annotated[Path | None, typer.Option(help="mine this event log afresh instead")] = None,
        user: Annotated[str | None, typer.Option(help="this user's own rules first (name or id)")] = None,
        limit: Annotated[int, typer.Option(min=0, help="global rules shown at most")] = 20,
        as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    ) -> None:
        """Rules "when you touch these, you also touch those": a user's own first, then a few global ones, with
        their evidence (times and files). Read from PostgreSQL, where the job put them after training."""
        import json

        if events is not None:
            from models.patterns import rules_in_log

            mined = rules_in_log(events, user=user)
            if as_json:
                typer.echo(json.dumps(mined, default=str))
                return
            for r in mined:
                typer.echo(
                    f"{', '.join(r['antecedents'])} -> {', '.join(r['consequents'])}: support {r['support']:.3f} "
                    f"confidence {r['confidence']:.2f} lift {r['lift']:.2f} ({r['count']} transactions)"
                )
            return
        _show_patterns("rules", user=user, limit=limit, as_json=as_json)

    @patterns_app.command("workflows")
    @friendly_errors
    def patterns_workflows(
        events: Annotated[Path | None, typer.Option(help="mine this event log afresh instead")] = None,
        user: Annotated[str | None, typer.Option(help="only this user (name or id)")] = None,
        limit: Annotated[int, typer.Option(min=1, help="workflows shown at most")] = 200,
        as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    ) -> None:
        """Workflows "A, then B within N s (then C…)" the job found per person, with how often and when. Read from
        PostgreSQL, where the job put them after training."""
        import json

        if events is not None:
            from models.patterns import describe_workflow, workflows_in_log

            found = workflows_in_log(events, user=user)
            if as_json:
                typer.echo(json.dumps(found))
                return
            for w in found:
                typer.echo(describe_workflow(w))
            return
        _show_patterns("workflows", user=user, limit=limit, as_json=as_json)

    @patterns_app.command("refresh")
    @friendly_errors
    def patterns_refresh() -> None:
        """Rewrite the patterns and the model list in PostgreSQL from the current champions (the job does it after
        every training)."""
        from floyo.db import get_engine
        from models.pattern_store import refresh_patterns

        done = refresh_patterns(get_engine())
        typer.echo(
            f"{done['rules']} rules, {done['workflows']} workflows, activity of {done['users']} users, "
            f"{done['models']} model versions written"
        )

    def _show_patterns(family: str, *, user: str | None, limit: int, as_json: bool) -> None:
        import json

        from floyo.db import get_engine
        from floyo.errors import NotFound
        from models import wording
        from models.pattern_store import find_user, read_activity, read_patterns, refreshed

        with get_engine().connect() as conn:
            if not refreshed(conn, family):
                raise NotFound(
                    "no_patterns",
                    f"no {family} in PostgreSQL yet: `floyo patterns refresh` writes them from the champions "
                    "(the job does after every training; no champion yet: `floyo job run`)",
                )
            user_id, name = find_user(conn, user) if user is not None else (None, None)
            if family == "rules":
                rows, left_out = read_patterns(conn, family, user_id=user_id, global_limit=limit)
            else:
                rows, left_out = read_patterns(conn, family, user_id=user_id, global_limit=0, limit=limit)
            message = None
            if user_id is not None and not any(r["scope"] == "user" for r in rows):
                activity, needed = read_activity(conn, user_id)
                message = wording.activity_message(str(name), activity, needed.get(family, {}), family)
        if as_json:
            out: dict[str, object] = {"user": name, family: rows, "global_left_out": left_out}
            if message is not None:
                out["activity"] = {"message": message}
            typer.echo(json.dumps(out))
            return
        if message is not None:
            typer.echo(message)
        describe = wording.describe_rule if family == "rules" else wording.describe_workflow_body
        for r in rows:
            scope = "[global] " if user_id is not None and r["scope"] == "global" else ""
            who = f"{r['user']}: " if user_id is None and r["user"] is not None else ""
            typer.echo(f"{scope}{who}{describe(r)}")
        if left_out > 0:
            typer.echo(f"(and {left_out} more global {family}: --limit to see more)")

    mlflow_app = typer.Typer(help="MLflow on Floyo's tracking store.", no_args_is_help=True)
    app.add_typer(mlflow_app, name="mlflow")

    @mlflow_app.command("ui")
    @friendly_errors
    def mlflow_ui(
        port: Annotated[int, typer.Option(min=1, max=65535, help="port of the UI")] = 5000,
        host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    ) -> None:
        """Open the MLflow UI on the configured store (FLOYO_MLFLOW_URI, default $FLOYO_DATA_DIR/mlflow/mlflow.db)."""
        import sys

        from models.tracking import run_ui, ui_command

        argv = ui_command(host=host, port=port, python=sys.executable)
        typer.echo(f"MLflow UI on http://{host}:{port} (store {argv[argv.index('--backend-store-uri') + 1]})", err=True)
        raise typer.Exit(run_ui(argv))
