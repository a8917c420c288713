"""Why a console could not be found, read or run; each message says how to fix it."""

from __future__ import annotations

from headwater.errors import TerminalError


class ConsoleError(TerminalError):
    """Root of the errors of `headwater.consoles`."""


class ConsoleNotFoundError(ConsoleError):
    """No console of that name in project.yml; the message lists the known ones."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = sorted(known)
        super().__init__(
            f"no console '{name}' in project.yml; known consoles: "
            f"{', '.join(self.known) or 'none (add one under `consoles:`)'}"
        )


class ConsoleSqlFileError(ConsoleError):
    """The console's `file` is missing or unreadable."""


class ConsoleOutputError(ConsoleError):
    """Materializing or exporting the result failed."""


class ConsoleAssertionError(ConsoleError):
    """One or more assertions failed; the message lists them."""
