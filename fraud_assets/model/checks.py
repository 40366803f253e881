"""Checks on models: the candidate's quality floor, and that the champion serves."""

import numpy as np

from fraud_assets.checks import CheckOutcome


def quality_floor(metrics: dict[str, float], floors: dict[str, float]) -> CheckOutcome:
    """Every floored metric of the candidate on the test block reaches its floor."""
    below = {
        name: (metrics.get(name, float("nan")), floor)
        for name, floor in floors.items()
        if not metrics.get(name, float("nan")) >= floor
    }
    table = {f"{name}": round(metrics.get(name, float("nan")), 4) for name in floors}
    if below:
        shown = ", ".join(f"{name} {value:.4f} < {floor}" for name, (value, floor) in below.items())
        return CheckOutcome(False, f"below the quality floor: {shown}", {**table, "floors": floors})
    return CheckOutcome(True, "above the quality floor", {**table, "floors": floors})


def champion_scores(scores: np.ndarray, expected_rows: int, version: str | None) -> CheckOutcome:
    """The champion scored every sampled row with a probability."""
    if version is None:
        return CheckOutcome(False, "no version carries the champion alias")
    finite = np.isfinite(scores)
    in_range = finite & (scores >= 0) & (scores <= 1)
    metadata = {
        "champion_version": version,
        "rows_sampled": expected_rows,
        "rows_scored": len(scores),
        "mean_score": float(scores[finite].mean()) if finite.any() else float("nan"),
    }
    if len(scores) != expected_rows or not in_range.all():
        return CheckOutcome(
            False,
            f"version {version} scored {len(scores)} of {expected_rows} rows, "
            f"{int((~in_range).sum())} outside [0, 1]",
            metadata,
        )
    return CheckOutcome(True, f"version {version} loads and scores the current features", metadata)
