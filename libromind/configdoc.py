"""Every configuration variable, from the pydantic-settings classes themselves.

``python -m libromind.configdoc`` prints the README's configuration table; the settings test checks
that README.md and .env.example name every variable, so documentation cannot drift from code.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

from pydantic_settings import BaseSettings

__all__ = ["SETTINGS_CLASSES", "variables", "markdown_table"]

SETTINGS_CLASSES = (
    ("memory.settings", "Settings", "core"),
    ("channels.mcp.auth", "McpSettings", "mcp"),
    ("channels.slack.settings", "SlackSettings", "slack"),
    ("channels.discord.settings", "DiscordSettings", "discord"),
)


def _classes() -> Iterator[tuple[type[BaseSettings], str]]:
    for module, name, area in SETTINGS_CLASSES:
        yield getattr(importlib.import_module(module), name), area


def variables() -> list[dict[str, Any]]:
    out = []
    for cls, area in _classes():
        prefix = cls.model_config.get("env_prefix", "")
        for field_name, info in cls.model_fields.items():
            default = "(computed)" if info.default_factory is not None else info.default
            secret = "Secret" in str(info.annotation)
            out.append(
                {
                    "var": f"{prefix}{field_name}".upper(),
                    "area": area,
                    "secret": secret,
                    "default": "" if default is None else str(default),
                    "description": info.description or "",
                }
            )
    return out


def markdown_table() -> str:
    rows = ["| variable | area | default | notes |", "| --- | --- | --- | --- |"]
    for v in variables():
        default = "secret" if v["secret"] else (v["default"] or "unset")
        default = default.replace("|", "\\|")
        rows.append(f"| `{v['var']}` | {v['area']} | `{default}` | {v['description'].replace('|', '/')} |")
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover
    print(markdown_table())
