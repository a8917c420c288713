"""Pieces every command shares: the --project option, error printing, the console."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console

from headwater.errors import HeadwaterError

console = Console()
"""Standard output."""
err_console = Console(stderr=True)
"""Standard error, for messages about failures."""

ProjectOption = Annotated[
    str | None,
    typer.Option(
        "--project",
        "-p",
        help="project.yml or its directory (default: $HEADWATER_PROJECT, else ./project.yml)",
        show_default=False,
    ),
]

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `message` as an error and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def friendly_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Show Headwater's own errors as one clear message and exit 1, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except HeadwaterError as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            err_console.print("interrupted")
            sys.exit(130)

    return wrapper
