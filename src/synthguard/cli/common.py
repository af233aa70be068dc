"""What every CLI verb shares: one-line errors with meaningful exit codes, and the console."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console

from synthguard.errors import SynthguardError

EXIT_OK = 0
EXIT_NON_COMPLIANT = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def fail(error: SynthguardError) -> NoReturn:
    """Print one line naming the file and the problem, then exit with the error's code."""
    err_console.print(f"synthguard: error: {error}", markup=False, soft_wrap=True)
    raise typer.Exit(error.exit_code)


@contextmanager
def reported(path: str | None = None) -> Iterator[None]:
    """Turn a SynthguardError raised inside into a one-line message and exit."""
    try:
        yield
    except SynthguardError as exc:
        if path:
            exc.at(path)
        fail(exc)


def guard(main: Callable[[], object]) -> int:
    """Run the Typer app; anything unexpected becomes one line and exit code 70, never a traceback."""
    try:
        main()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except SynthguardError as exc:
        err_console.print(f"synthguard: error: {exc}", markup=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("synthguard: interrupted", markup=False)
        return 130
    except Exception as exc:  # the last line of defence: no traceback reaches the user
        err_console.print(f"synthguard: internal error: {type(exc).__name__}: {exc}", markup=False, soft_wrap=True)
        return EXIT_INTERNAL
    return 0


def write_stdout(text: str) -> None:
    """Write text to standard output as is (for JSON and machine output)."""
    sys.stdout.write(text)
    if not text.endswith("\n"):
        sys.stdout.write("\n")
