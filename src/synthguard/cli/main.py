"""The `synthguard` command: each module in synthguard.cli with a register(app) adds its verbs."""

from __future__ import annotations

import importlib
import pkgutil

import typer

import synthguard.cli as cli_package
from synthguard.cli.common import guard

app = typer.Typer(
    name="synthguard",
    help="GB 45438 labels, watermarks, review and tamper-evident logs for AI generation services.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_SKIP = {"main", "common"}


def _register_all() -> None:
    for info in sorted(pkgutil.iter_modules(cli_package.__path__), key=lambda i: i.name):
        if info.name in _SKIP or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"synthguard.cli.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_all()


def run() -> None:
    """Console-script entry point."""
    raise SystemExit(guard(app))


if __name__ == "__main__":
    run()
