"""Pieces every command shares: the --project option, error printing, the console."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console, ConsoleDimensions
from rich.rule import Rule

from headwater.errors import HeadwaterError

REDIRECTED_WIDTH = 10_000
"""Line width when output goes to a file or a pipe: wide enough that no table is cut."""


class CliConsole(Console):
    """A console that cuts tables and wraps lines to the terminal's width only when there
    is a terminal: output sent to a file or a pipe is read by scripts and other people,
    who would otherwise get rich's default 80 columns. `COLUMNS` still wins."""

    @property
    def size(self) -> ConsoleDimensions:
        """The terminal's size, or REDIRECTED_WIDTH columns when output is redirected."""
        dimensions = super().size
        if self.is_terminal or self._width is not None or "COLUMNS" in os.environ:
            return dimensions
        return ConsoleDimensions(REDIRECTED_WIDTH, dimensions.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


console = CliConsole()
"""Standard output."""
err_console = CliConsole(stderr=True)
"""Standard error, for messages about failures."""


def heading(title: str) -> None:
    """A rule with `title` across the terminal (at most 100 columns when redirected)."""
    console.print(Rule(title), width=min(console.width, 100))

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
