"""``floyo job run|schedule|worker|runs``: the pipeline job from the command line; heavy imports inside."""

# no ``from __future__ import annotations``: typer must see the annotations as objects
import typer


def register(app: typer.Typer) -> None:
    """Add ``floyo job`` to the ``floyo`` app."""
    from typing import Annotated

    from floyo.cli_support import fail, friendly_errors, progress_bar

    job_app = typer.Typer(help="The background job: export, features, train, evaluate, promote.", no_args_is_help=True)
    app.add_typer(job_app, name="job")

    @job_app.command("run")
    @friendly_errors
    def job_run(
        force: Annotated[bool, typer.Option("--force", help="train even when no new event arrived")] = False,
    ) -> None:
        """Run the pipeline once (exits cleanly, saying so, when another run holds the lock)."""
        import sys

        from floyo.settings import get_settings
        from jobs.pipeline import STEPS, run_pipeline

        with progress_bar("pipeline", STEPS, enabled=sys.stderr.isatty()) as bar:
            result = run_pipeline(get_settings(), trigger="cli", force=force, progress=bar.step)
        typer.echo(result.describe())
        for m in result.summary.get("models", []):
            verdict = "promoted" if m["promoted"] else "kept"
            typer.echo(
                f"  {m['name']} v{m['version']}: mrr {m['mrr']:.3f} {verdict} [engine {m.get('engine', 'local')}]"
            )
        if "suggestions" in result.summary:
            s = result.summary["suggestions"]
            typer.echo(f"  suggestions: {s['suggestions']} active for {s['users']} users ({s['seconds']:.1f} s)")
        if result.status == "failed":
            raise typer.Exit(1)

    @job_app.command("schedule")
    @friendly_errors
    def job_schedule() -> None:
        """Run the pipeline now and every FLOYO_JOB_INTERVAL in this process (Ctrl-C or SIGTERM stops it)."""
        import signal
        import threading

        from floyo.settings import get_settings
        from jobs.schedule import parse_interval, run_schedule

        settings = get_settings()
        seconds = parse_interval(settings.job_interval)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        typer.echo(f"running the pipeline every {settings.job_interval} ({seconds} s); Ctrl-C stops", err=True)
        try:
            run_schedule(settings, stop=stop, on_result=lambda r: typer.echo(r.describe()))
        except KeyboardInterrupt:
            stop.set()

    @job_app.command("worker")
    @friendly_errors
    def job_worker(
        concurrency: Annotated[int, typer.Option(min=1, help="tasks at once (the lock runs one pipeline anyway)")] = 1,
    ) -> None:
        """Start a Celery worker with beat on FLOYO_BROKER_URL (the pipeline every FLOYO_JOB_INTERVAL)."""
        from jobs.celery_app import create_celery, worker_argv

        create_celery().worker_main(worker_argv(concurrency=concurrency))

    @job_app.command("runs")
    @friendly_errors
    def job_runs(limit: Annotated[int, typer.Option(min=1, max=1000, help="how many")] = 20) -> None:
        """The latest runs of the job: when, how long, outcome."""
        from floyo.db import get_engine
        from jobs.runs import recent_runs

        with get_engine().connect() as conn:
            rows = recent_runs(conn, limit=limit)
        if not rows:
            raise fail("no job run yet: run `floyo job run`", 0)
        for r in rows:
            took = f"{r['duration_s']:.1f} s" if r["duration_s"] is not None else "-"
            why = r["error"] or r["summary"].get("reason", "")
            typer.echo(
                f"{r['id']:>6} {r['started_at']:%Y-%m-%d %H:%M:%S} {r['trigger']:9} {r['status']:10} {took:>9} {why}"
            )
