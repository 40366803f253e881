"""Small helpers that turn results into metadata a person reads in the Dagster UI."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from dagster import MetadataValue
from pyspark.sql import DataFrame

MAX_CELL_CHARACTERS = 120
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MARKDOWN_SIGNS = re.compile(r"([\\|`*\[\]])")


def markdown_cell(value: Any) -> str:
    """A value as inert text in a Markdown table: raw lines come from the feed, so HTML, links,
    pipes and control characters are escaped, and a huge value is cut short."""
    text = str(value)
    if len(text) > MAX_CELL_CHARACTERS:
        text = text[:MAX_CELL_CHARACTERS] + f"... ({len(text):,} characters)"
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
    return _MARKDOWN_SIGNS.sub(r"\\\1", text)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "none"
    columns = list(rows[0])
    lines = [
        "| " + " | ".join(markdown_cell(c) for c in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    lines += [
        "| " + " | ".join(markdown_cell(row.get(c, "")) for c in columns) + " |" for row in rows
    ]
    return "\n".join(lines)


def without_credentials(uri: str) -> str:
    """A URI fit to show: a password (or a token in the user part) becomes `***`."""
    parts = urlsplit(uri)
    if not parts.password and not (parts.username and "@" in parts.netloc):
        return uri
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***" if parts.password else "***"
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


def preview(frame: DataFrame, rows: int = 5) -> str:
    return markdown_table([row.asDict() for row in frame.limit(rows).collect()])


def observed_metadata(values: dict[str, Any]) -> dict[str, Any]:
    """Metrics observed during a write as metadata entries (numbers the UI plots over time),
    plus a `summary` table of the ones named `column.statistic`, one row per column."""
    entries: dict[str, Any] = {
        name: float(value) if isinstance(value, Decimal | float) else value
        for name, value in values.items()
    }
    rows: dict[str, dict[str, Any]] = {}
    for name, value in entries.items():
        if "." in name:
            column, statistic = name.split(".", 1)
            shown = f"{value:.6g}" if isinstance(value, float) else value
            rows.setdefault(column, {"column": column})[statistic] = shown
    if rows:
        entries["summary"] = MetadataValue.md(markdown_table(list(rows.values())))
    return entries
