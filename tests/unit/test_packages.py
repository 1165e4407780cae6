"""Our top-level package names are generic (agent, tools, memory...): prove they resolve inside this
repository and that no installed distribution ships a package of the same name that could shadow them."""

from __future__ import annotations

import importlib
import importlib.metadata as md
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OURS = ["agent", "tools", "memory", "channels", "workers", "evals", "libromind"]


@pytest.mark.parametrize("name", OURS)
def test_package_resolves_inside_repo(name: str) -> None:
    module = importlib.import_module(name)
    path = Path(module.__file__ or next(iter(module.__path__))).resolve()
    assert REPO in path.parents, f"{name} resolved to {path}, outside {REPO}"


def test_no_installed_distribution_shadows_our_packages() -> None:
    owners = md.packages_distributions()
    clashes = {
        name: dists for name in OURS if (dists := [d for d in owners.get(name, []) if d != "libromind"])
    }
    assert not clashes, f"installed distributions provide our top-level names: {clashes}"
