"""Small helpers that turn results into metadata a person reads in the Dagster UI."""

from __future__ import annotations

from typing import Any

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
