"""Commands of ``serving``: ``floyo suggestions …``, ``floyo workflows …``, ``floyo catalog …``.

They act as the named user under row level security (a scoped connection, as a request does), read what the
refresh wrote to PostgreSQL (never MLflow) and answer in one line when something is wrong. Heavy imports stay
inside the commands so ``floyo --help`` is instant.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from floyo.cli_support import fail, friendly_errors

if TYPE_CHECKING:
    from floyo.db.scoping import ScopedConnection

suggestions_app = typer.Typer(help="Suggested automations: list them, answer them, refresh them.", no_args_is_help=True)
workflows_app = typer.Typer(help="Workflows (automations) accepted or created.", no_args_is_help=True)
catalog_app = typer.Typer(help="The integration catalog suggestions are made from.", no_args_is_help=True)

UserOption = Annotated[
    str | None, typer.Option("--user", help="act as this user (default: the only user, when there is one)")
]


class FeedbackAction(StrEnum):
    """What one may answer to a suggestion."""

    accept = "accept"
    dismiss = "dismiss"
    snooze = "snooze"


def _user_id(name: str | None) -> tuple[int, str]:
    """The user's (id, name): the one named, or the only user of the database."""
    from sqlalchemy import text

    from floyo.db import get_engine
    from floyo.errors import NotFound

    with get_engine().connect() as conn:
        if name is not None:
            row = conn.execute(text("SELECT id, name FROM users WHERE name = :n"), {"n": name}).first()
            if row is None:
                raise NotFound("no_such_user", f"no user named {name!r}")
            return int(row.id), str(row.name)
        rows = conn.execute(text("SELECT id, name FROM users ORDER BY id LIMIT 2")).all()
    if len(rows) != 1:
        raise fail("name the user with --user" if rows else "there are no users yet: `floyo token create` adds one")
    return int(rows[0].id), str(rows[0].name)


def _scoped(user_id: int) -> Any:
    from floyo.db import get_engine
    from floyo.db.scoping import scoped_connection

    return scoped_connection(get_engine(), user_id)


def _answer(scoped: ScopedConnection, user_id: int) -> dict[str, Any]:
    """The user's answer as the API computes it (transparent order: the CLI does not load the ranker)."""
    from serving.answers import suggestions_answer
    from serving.cache import NoCache

    return suggestions_answer(scoped.conn, user_id, cache=NoCache(), ranker=None)


def _describe(i: int, s: dict[str, Any]) -> str:
    ev, saved = s.get("evidence") or {}, s.get("savings") or {}
    said = f"{ev.get('occurrences', '?')} times on {ev.get('days', '?')} days"
    if "minutes_per_week" in saved:
        said += f", saves about {saved['minutes_per_week']:.1f} min/week"
    snoozed = " (back from a snooze)" if s["state"] == "snoozed" else ""
    return f"{i:2}. {s['title']}{snoozed}\n    {said}; confidence {s['confidence']:.2f}, score {s['score']:.2f}\n" + (
        f"    [{s['template']}] {s['id']}"
    )


@friendly_errors
def suggestions_list(
    user: UserOption = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="how many, best first")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="print the API's JSON answer")] = False,
) -> None:
    """A user's suggestions, best first, with their evidence and the time they would save."""
    from serving.answers import limited

    user_id, name = _user_id(user)
    with _scoped(user_id) as scoped:
        answer = limited(_answer(scoped, user_id), limit)
    if as_json:
        typer.echo(json.dumps(answer, default=str))
        return
    if not answer["suggestions"]:
        typer.echo(f"no suggestions for {name}: {(answer.get('activity') or {}).get('message', 'nothing found')}")
        return
    for i, s in enumerate(answer["suggestions"], 1):
        typer.echo(_describe(i, s))
    typer.echo(f"answer one: floyo suggestions feedback ID accept|dismiss|snooze --user {name}")


@friendly_errors
def suggestions_feedback(
    suggestion_id: Annotated[str, typer.Argument(metavar="ID", help="the suggestion's id (s_…)")],
    action: Annotated[FeedbackAction, typer.Argument(help="accept, dismiss or snooze")],
    reason: Annotated[str | None, typer.Option(help="why (kept with the answer, at most 2,000 characters)")] = None,
    days: Annotated[int | None, typer.Option(min=1, max=365, help="snooze: days until it comes back (7)")] = None,
    user: UserOption = None,
) -> None:
    """Accept (creates its workflow), dismiss (back only if it happens twice as often) or snooze a suggestion."""
    from serving.answers import give_feedback

    if days is not None and action is not FeedbackAction.snooze:
        raise fail("--days applies to snooze only")
    if reason is not None and len(reason) > 2000:
        raise fail("--reason is at most 2,000 characters")
    user_id, _ = _user_id(user)
    with _scoped(user_id) as scoped:
        created = give_feedback(
            scoped.conn, user_id, suggestion_id, action=action.value, reason=reason, days=days or 7,
            answer=_answer(scoped, user_id),
        )  # fmt: skip
    if created is not None:
        typer.echo(f"accepted: workflow {created['id']} {created['name']!r} created (version 1)")
    elif action is FeedbackAction.snooze:
        typer.echo(f"snoozed for {days or 7} days")
    else:
        typer.echo("dismissed: it comes back only if it happens twice as often")


@friendly_errors
def workflows_list(
    user: UserOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """A user's workflows: id, version, on or off, name."""
    from serving import store

    user_id, name = _user_id(user)
    with _scoped(user_id) as scoped:
        workflows = store.list_workflows(scoped.conn, user_id)
    if as_json:
        typer.echo(json.dumps(workflows, default=str))
        return
    if not workflows:
        typer.echo(f"no workflows for {name}")
    for w in workflows:
        typer.echo(f"{w['id']:>6}  v{w['version']:<3} {'on ' if w['enabled'] else 'off'}  {w['name']}")


@friendly_errors
def workflows_show(
    workflow_id: Annotated[int, typer.Argument(metavar="ID", min=1, max=2**63 - 1, help="the workflow's id")],
    user: UserOption = None,
) -> None:
    """One workflow: its definition (JSON), its versions, each device's approval and the measured outcome."""
    from serving import store
    from serving.workflow_state import with_state

    user_id, _ = _user_id(user)
    with _scoped(user_id) as scoped:
        workflow = with_state(scoped.conn, user_id, [store.get_workflow(scoped.conn, user_id, workflow_id)])[0]
        versions = store.workflow_versions(scoped.conn, user_id, workflow_id)
    origin = workflow["origin"] or {}
    typer.echo(f"workflow {workflow['id']} {workflow['name']!r}, version {workflow['version']}"
               + (f", from suggestion {origin['suggestion_id']}" if origin.get("suggestion_id") else ""))  # fmt: skip
    typer.echo(json.dumps(workflow["definition"], indent=2))
    for v in versions:
        typer.echo(f"v{v['version']} {v['change']} {v['created_at']:%Y-%m-%d %H:%M}")
    for a in workflow["approvals"]:
        why = f": {a['reason']}" if a["reason"] else ""
        typer.echo(f"{a['state']} on {a['device']} (v{a['version']}, {a['at']:%Y-%m-%d %H:%M}){why}")
    outcome = workflow["outcome"]
    adopted = workflow["adopted_at"]
    typer.echo(
        "outcome: " + (outcome["message"] if outcome else "measured at the next job run" if adopted else "not adopted")
    )


@friendly_errors
def suggestions_refresh(
    user: Annotated[str | None, typer.Option(help="only this user (name or id); default every user")] = None,
) -> None:
    """Rebuild suggestions from the lake (run `floyo export` first); ids, states and feedback survive."""
    from floyo.db import get_engine
    from floyo.settings import get_settings
    from models.users import resolve_user
    from serving.refresh import lake_events, refresh_suggestions

    settings = get_settings()
    users = [resolve_user(user, settings)] if user is not None else None
    summary = refresh_suggestions(get_engine(), lake_events(settings), users=users)
    typer.echo(summary.describe())


def catalog_check(
    path: Annotated[
        Path | None, typer.Argument(help="catalog file (default: the packaged serving/catalog.yaml)")
    ] = None,
) -> None:
    """Validate the catalog: prints OK, or the one line naming the broken entry (exit 1)."""
    from serving.catalog import CatalogError, load_catalog

    try:
        catalog = load_catalog(path)
    except CatalogError as exc:
        raise fail(exc.message) from None
    typer.echo(f"OK: {len(catalog.entries)} entries ({', '.join(e.id for e in catalog.entries)})")


def register(app: typer.Typer) -> None:
    """Add ``suggestions``, ``workflows`` and ``catalog`` to the ``floyo`` app."""
    suggestions_app.command("list")(suggestions_list)
    suggestions_app.command("feedback")(suggestions_feedback)
    suggestions_app.command("refresh")(suggestions_refresh)
    catalog_app.command("check")(catalog_check)
    workflows_app.command("list")(workflows_list)
    workflows_app.command("show")(workflows_show)
    app.add_typer(suggestions_app, name="suggestions")
    app.add_typer(workflows_app, name="workflows")
    app.add_typer(catalog_app, name="catalog")
