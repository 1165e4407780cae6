"""``libromind eval ...`` and ``libromind bench ...``.

Runners live in ``evals/*.py`` (define ``register_eval(app)``) and ``evals/bench/*.py``
(define ``register_bench(app)``); each adds its own sub-command.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

__all__ = ["register"]


def _collect(package: str, hook: str, app: typer.Typer) -> int:
    pkg = importlib.import_module(package)
    n = 0
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.ispkg:
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        fn = getattr(module, hook, None)
        if fn is not None:
            fn(app)
            n += 1
    return n


def register(app: typer.Typer) -> None:
    eval_app = typer.Typer(help="Quality evaluations that print numbers.", no_args_is_help=True)
    bench_app = typer.Typer(help="Speed benchmarks that print numbers.", no_args_is_help=True)
    if _collect("evals", "register_eval", eval_app):
        app.add_typer(eval_app, name="eval")
    if _collect("evals.bench", "register_bench", bench_app):
        app.add_typer(bench_app, name="bench")
