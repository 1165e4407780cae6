"""Resources the tools use (database, embedder, index, cache), set once by an entry point.

Tools reach them with ``current()``; an entry point builds them with ``Deps.build(settings)`` and
installs them with ``use(deps)``. Graph state never holds these (they are clients, not data).
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any

from memory.db import Database
from memory.documents.embed import Embedder, get_embedder
from memory.settings import Settings

__all__ = ["Deps", "current", "use", "NotConfigured"]


class NotConfigured(RuntimeError):
    """A tool ran before an entry point installed its resources."""


@dataclass
class Deps:
    settings: Settings
    db: Database
    embedder: Embedder
    # Backends set by their factories as they are built (index, cache, queue, catalog search, ...).
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    async def build(cls, settings: Settings, *, db: Database | None = None) -> Deps:
        db = db or await Database.connect(settings)
        return cls(
            settings=settings,
            db=db,
            embedder=get_embedder(settings.embed_model_path, settings.embed_backend, settings.models_dir),
        )

    async def close(self) -> None:
        for value in list(self.extras.values()):
            closer = getattr(value, "aclose", None)
            if closer is not None:
                await closer()
        await self.db.close()


_current: contextvars.ContextVar[Deps | None] = contextvars.ContextVar("libromind_deps", default=None)
_global: list[Deps] = []


def use(deps: Deps) -> None:
    """Install resources for this process (and the current context)."""
    _current.set(deps)
    _global[:] = [deps]


def current() -> Deps:
    deps = _current.get() or (_global[0] if _global else None)
    if deps is None:
        raise NotConfigured(
            "libromind resources are not set up: call tools.deps.use(await Deps.build(settings))"
        )
    return deps
