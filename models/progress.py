"""A step progress bar for long commands: rich on a terminal, silent otherwise."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_bar(total: int, label: str, *, enabled: bool) -> Iterator[Callable[[str], None]]:
    """Yield ``step(name)``: advances the bar by one step and shows what finished last."""
    if not enabled:
        yield lambda _name: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=total)

        def step(name: str) -> None:
            bar.update(task, advance=1, description=f"{label}: {name} done")

        yield step
