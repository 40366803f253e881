"""What the scoring assets show: the score histogram, the realized performance of each day
and of the week ending on it, and that series as Markdown with sparklines."""

from dataclasses import fields
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from fraud_assets.common.scores import ALERT, HISTOGRAM_BINS, MODEL_VERSION, SCORE
from fraud_assets.metadata import markdown_table
from fraud_assets.model.training import LABEL
from fraud_assets.scoring.monitoring import Performance, realized_performance, sparkline


def day_offset(key: str, offset: int) -> str:
    return (date.fromisoformat(key) + timedelta(days=offset)).isoformat()


def score_histogram(observed: dict[str, Any]) -> str:
    counts = [int(observed.get(f"score_bin_{i}", 0)) for i in range(HISTOGRAM_BINS)]
    total = max(sum(counts), 1)
    width = 1 / HISTOGRAM_BINS
    return markdown_table(
        [
            {
                "score": f"[{i * width:.1f}, {(i + 1) * width:.1f}"
                + ("]" if i == len(counts) - 1 else ")"),
                "rows": count,
                "share": f"{count / total:.2%}",
                "": "█" * round(40 * count / total),
            }
            for i, count in enumerate(counts)
        ]
    )


PERFORMANCE_COLUMNS = tuple(field.name for field in fields(Performance))


def performance_rows(
    table: pd.DataFrame, days: list[str], k: int, trailing_days: int
) -> pd.DataFrame:
    """Per day, the realized metrics of the day and of the trailing_days days ending on it, and
    the model version that served most of the day's scores."""
    rows = []
    for day in days:
        trailing = [day_offset(day, -offset) for offset in range(trailing_days)]
        window = table[table["day"].isin(trailing)]
        today = window[window["day"] == day]
        row: dict[str, Any] = {
            "day": day,
            MODEL_VERSION: today[MODEL_VERSION].mode().iloc[0] if len(today) else None,
            "rolling_days": int(window["day"].nunique()),
        }
        for prefix, part in (("", today), ("rolling_", window)):
            if len(part):
                measured = realized_performance(
                    part[SCORE].to_numpy(),
                    part[LABEL].to_numpy(),
                    part["CUSTOMER_ID"].to_numpy(),
                    pd.factorize(part["day"], sort=True)[0],
                    part[ALERT].to_numpy(),
                    k,
                ).as_dict()
            else:
                measured = dict.fromkeys(PERFORMANCE_COLUMNS, float("nan"))
            row.update({f"{prefix}{name}": value for name, value in measured.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def series_labels(trailing_days: int) -> dict[str, str]:
    """The metrics of the series and their short names."""
    return {
        "average_precision": "AP",
        "rolling_average_precision": f"AP {trailing_days} d",
        "roc_auc": "ROC AUC",
        "card_precision_at_k": "CP@k",
        "precision_at_threshold": "precision",
        "recall_at_threshold": "recall",
    }


def series_markdown(series: pd.DataFrame, trailing_days: int) -> str:
    """One row per metric with its sparkline over the days, then one row per day."""
    labels = series_labels(trailing_days)
    trend = markdown_table(
        [
            {
                "metric": label,
                f"{series['day'].iloc[0]} .. {series['day'].iloc[-1]}": sparkline(
                    series[name].tolist()
                ),
                "last": f"{series[name].iloc[-1]:.4f}",
            }
            for name, label in labels.items()
        ]
    )
    days = markdown_table(
        [
            {
                "day": row["day"],
                "version": row[MODEL_VERSION],
                "frauds": int(row["frauds"]) if np.isfinite(row["frauds"]) else "",
                "alerts": int(row["alerts"]) if np.isfinite(row["alerts"]) else "",
                **{label: f"{row[name]:.4f}" for name, label in labels.items()},
            }
            for row in series.to_dict("records")
        ]
    )
    return f"{trend}\n\n{days}"
