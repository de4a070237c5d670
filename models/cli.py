"""Commands of ``models``, registered on the ``floyo`` CLI; heavy imports stay inside the commands."""

# no ``from __future__ import annotations``: the commands are defined inside ``register`` and typer must see
# their annotations as objects, imported there to keep ``floyo --help`` instant
import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to the ``floyo`` app."""
    from pathlib import Path
    from typing import Annotated

    from floyo.cli import friendly_errors

    @app.command()
    @friendly_errors
    def evaluate(
        events: Annotated[Path, typer.Option(help="event log (.csv or .csv.gz) in the format of shared/data/README")],
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
        events: Annotated[Path, typer.Option(help="event log (.csv or .csv.gz); the lake is not wired in yet")],
        test_frac: Annotated[float, typer.Option(min=0.01, max=0.99, help="share of transactions held out")] = 0.2,
    ) -> None:
        """Train every model family, log it to MLflow, promote it to champion only if it beats the current one."""
        from models.train import train_from_log

        for r in train_from_log(events, test_frac=test_frac):
            before = "none" if r["champion_before"] is None else f"v{r['champion_before']} mrr {r['champion_mrr']:.3f}"
            verdict = "promoted to champion" if r["promoted"] else "kept the champion"
            typer.echo(f"{r['name']} v{r['version']}: mrr {r['mrr']:.3f} (champion before: {before}) -> {verdict}")

    models_app = typer.Typer(help="Registered models in MLflow.", no_args_is_help=True)
    app.add_typer(models_app, name="models")

    @models_app.command("list")
    @friendly_errors
    def models_list() -> None:
        """Registered floyo-* models: versions, aliases, key metrics."""
        from models.tracking import list_models

        for m in list_models():
            keys = ("mrr", "hr1", "hr5", "r1", "r10")
            metrics = "  ".join(f"{k} {m['metrics'][k]:.3f}" for k in keys if k in m["metrics"])
            aliases = ",".join(m["aliases"]) or "-"
            typer.echo(f"{m['name']:20} v{m['version']:<4} {aliases:10} {metrics}")

    patterns_app = typer.Typer(help="What the models find in an event log.", no_args_is_help=True)
    app.add_typer(patterns_app, name="patterns")

    @patterns_app.command("rules")
    @friendly_errors
    def patterns_rules(
        events: Annotated[Path, typer.Option(help="event log (.csv or .csv.gz); the lake is not wired in yet")],
        user: Annotated[str | None, typer.Option(help="only this user's transactions")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print one JSON list")] = False,
    ) -> None:
        """Association rules between the items changed together (FLOYO_RULES_* caps), with their evidence."""
        import json

        from models.patterns import rules_in_log

        rules = rules_in_log(events, user=user)
        if as_json:
            typer.echo(json.dumps(rules, default=str))
            return
        for r in rules:
            typer.echo(
                f"{', '.join(r['antecedents'])} -> {', '.join(r['consequents'])}: support {r['support']:.3f} "
                f"confidence {r['confidence']:.2f} lift {r['lift']:.2f} ({r['count']} transactions, "
                f"latest {', '.join(map(str, r['evidence'][-3:]))})"
            )

    @patterns_app.command("workflows")
    @friendly_errors
    def patterns_workflows(
        events: Annotated[Path, typer.Option(help="event log (.csv or .csv.gz); the lake is not wired in yet")],
        user: Annotated[str | None, typer.Option(help="only this user")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print one JSON list")] = False,
    ) -> None:
        """Repeated workflows "A, then B within N s" with support, confidence, lift and typical delay."""
        import json

        from models.patterns import workflows_in_log

        found = workflows_in_log(events, user=user)
        if as_json:
            typer.echo(json.dumps(found))
            return
        for w in found:
            typer.echo(
                f"{w['user_id']}: {w['a']} -> {w['b']} within {w['window_s']:.0f} s: {w['support']} times, "
                f"confidence {w['confidence']:.2f} lift {w['lift']:.1f}, typical delay {w['delay_median_s']:.0f} s "
                f"on {w['days']} days, last {w['last_seen']}"
            )
