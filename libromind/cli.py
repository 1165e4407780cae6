"""The ``libromind`` command line. Sub-commands live in ``libromind/commands/*.py``.

Each command module defines ``register(app)``; a command exists only when it works.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

from memory.logs import setup_logging
from memory.settings import get_settings

__all__ = ["app", "main"]

app = typer.Typer(
    name="libromind",
    help="libromind: a bookstore's conversational agent (docs Q&A, catalog, orders).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    settings = get_settings()
    setup_logging("DEBUG" if verbose else settings.log_level, settings.log_json)


def _discover() -> None:
    import libromind.commands as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"libromind.commands.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_discover()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
