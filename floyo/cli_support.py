"""What every command line part shares: one-line errors (``fail``, ``friendly_errors``) and one progress bar.

A leaf of the kernel: it imports nothing of Floyo but ``floyo.errors``, so every part's CLI can use it without
importing the composition root (``floyo.cli``) back.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer

from floyo.errors import FloyoError

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one line to stderr and return the exit to raise."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def friendly_errors(func: F) -> F:
    """Turn expected failures into one line on stderr and a non-zero exit, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import psycopg
        from psycopg.errors import UndefinedFunction, UndefinedTable
        from pydantic import ValidationError
        from sqlalchemy.exc import OperationalError, ProgrammingError

        try:
            return func(*args, **kwargs)
        except FloyoError as exc:
            raise fail(f"{exc.message} [{exc.code}]") from None
        except OperationalError as exc:
            raise fail(f"the database is unreachable: {str(exc.orig).strip().splitlines()[0]}") from None
        except (ProgrammingError, UndefinedTable, UndefinedFunction) as exc:
            orig = getattr(exc, "orig", exc)
            if not isinstance(orig, UndefinedTable | UndefinedFunction):
                raise
            first = str(orig).strip().splitlines()[0]
            raise fail(f"the database schema is missing or old ({first}): run `floyo db migrate`") from None
        except psycopg.OperationalError as exc:  # commands that talk to PostgreSQL through psycopg directly
            raise fail(f"the database is unreachable: {str(exc).strip().splitlines()[0]}") from None
        except ValidationError as exc:  # settings refused: name the variable, not pydantic's headline
            err = exc.errors()[0]
            where = "FLOYO_" + "_".join(str(p) for p in err["loc"]).upper() + ": " if err["loc"] else ""
            raise fail(f"invalid setting: {where}{err['msg'].removeprefix('Value error, ')}") from None
        except ValueError as exc:
            raise fail(str(exc).splitlines()[0]) from None

    return wrapper  # type: ignore[return-value]


class ProgressBar:
    """What a progress bar hands to the work: ``advance(n)`` for counts, ``step(name)`` for named steps."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.done = 0
        self._update: Callable[[int, str | None], object] = lambda n, description: None

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more units done."""
        self.done += n
        self._update(n, None)

    def step(self, name: str) -> None:
        """One more step done; the bar shows which finished last."""
        self.done += 1
        self._update(1, f"{self.label}: {name} done")


@contextmanager
def progress_bar(label: str, total: int | None = None, *, enabled: bool) -> Iterator[ProgressBar]:
    """A rich progress bar on a terminal (``enabled``), silent otherwise; ``total`` None: a count without an end."""
    bar = ProgressBar(label)
    if not enabled:
        yield bar
        return
    from rich.progress import Progress

    with Progress(transient=True) as progress:
        task = progress.add_task(label, total=total)

        def update(n: int, description: str | None) -> None:
            if description is None:
                progress.advance(task, n)
            else:
                progress.update(task, advance=n, description=description)

        bar._update = update
        yield bar
