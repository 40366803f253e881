"""Small helpers that turn results into metadata a person reads in the Dagster UI."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dagster import MetadataValue
from pyspark.sql import DataFrame


def markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "none"
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


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
