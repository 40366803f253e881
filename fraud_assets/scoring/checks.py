"""The scoring group's checks as pure functions over pandas frames: drift of a day's inputs
and score, the shape of the alert queue, realized performance against the validation bound."""

import numpy as np
import pandas as pd

from fraud_assets.checks import CheckOutcome
from fraud_assets.common.profiles import ColumnProfile, Drift, drift, largest_first
from fraud_assets.common.scores import MODEL_VERSION
from fraud_assets.metadata import markdown_table

# Columns equal on every row of a day: a day's distribution of them is a single point.
SAME_ALL_DAY = ("TX_DURING_WEEKEND",)


def day_drift(
    profile: dict[str, ColumnProfile], samples: list[pd.DataFrame]
) -> dict[str, list[Drift]]:
    """Drift of every profiled column but SAME_ALL_DAY, per day of the samples (each a frame
    of `day` and some columns), the largest PSI first."""
    found: dict[str, list[Drift]] = {}
    for sample in samples:
        columns = [n for n in profile if n in sample.columns and n not in SAME_ALL_DAY]
        for day, group in sample.groupby("day"):
            values = {name: group[name].to_numpy(np.float64) for name in columns}
            found.setdefault(day, []).extend(drift(profile, values))
    return {day: largest_first(drifts) for day, drifts in found.items()}


def drift_outcome(
    drift_by_day: dict[str, list[Drift]], psi_threshold: float, ks_threshold: float
) -> CheckOutcome:
    """Fails when a column of a day drifts beyond a threshold; names the top drifting ones."""
    drifted = {
        day: [d for d in found if d.exceeds(psi_threshold, ks_threshold)]
        for day, found in drift_by_day.items()
    }
    drifted = {day: found for day, found in drifted.items() if found}
    worst_day = max(drift_by_day, key=lambda day: drift_by_day[day][0].psi)
    top = [
        {
            "column": d.column,
            "psi": f"{d.psi:.3f}",
            "ks": f"{d.ks_statistic:.3f}",
            "ks p": f"{d.ks_p_value:.2g}",
        }
        for d in drift_by_day[worst_day][:5]
    ]
    per_day = [
        {
            "day": day,
            "max psi": f"{found[0].psi:.3f}",
            "top column": found[0].column,
            "drifting columns": len(drifted.get(day, [])),
        }
        for day, found in sorted(drift_by_day.items())
    ]
    metadata = {
        f"top_drifting_columns_{worst_day}": markdown_table(top),
        "per_day": markdown_table(per_day),
        "max_psi": round(drift_by_day[worst_day][0].psi, 4),
        "days_drifting": len(drifted),
    }
    if drifted:
        names = sorted({d.column for found in drifted.values() for d in found})
        return CheckOutcome(
            False,
            f"{len(drifted)} of {len(drift_by_day)} days drift from the champion's training "
            f"window (PSI > {psi_threshold} or KS > {ks_threshold}) in {', '.join(names[:6])}"
            f"{' and more' if len(names) > 6 else ''}",
            metadata,
        )
    return CheckOutcome(
        True,
        f"every column of {len(drift_by_day)} days stays within PSI {psi_threshold} and KS "
        f"{ks_threshold} of the champion's training window",
        metadata,
    )


def queue_outcome(queue: pd.DataFrame, scored_days: set[str], k: int) -> CheckOutcome:
    """Per day at most k cards, each once, ranked 1..n by score; a scored day has a queue."""
    problems = []
    for day, rows in queue.groupby("day"):
        ranks = sorted(rows["rank"])
        if len(rows) > k or ranks != list(range(1, len(rows) + 1)):
            problems.append(f"{day}: ranks {ranks[:3]}.. for {len(rows)} cards (k = {k})")
        if rows["CUSTOMER_ID"].duplicated().any():
            problems.append(f"{day}: a card appears twice")
        ordered = rows.sort_values("rank")["max_score"].to_numpy()
        if (np.diff(ordered) > 0).any():
            problems.append(f"{day}: scores do not fall with the rank")
    without = sorted(scored_days - set(queue["day"]))
    if without:
        problems.append(f"{len(without)} scored days have no queue ({without[0]}..)")
    if problems:
        return CheckOutcome(False, "; ".join(problems[:5]))
    return CheckOutcome(
        True, f"{len(queue)} cards over {queue['day'].nunique()} days, <= {k} a day"
    )


def performance_outcome(
    rows: pd.DataFrame, bounds: dict[str, float | None], trailing_days: int
) -> CheckOutcome:
    """Fails when the trailing average precision of a day with a full trailing window falls
    below the lower bound of its serving version's validation interval."""
    full = rows[rows["rolling_days"] == trailing_days]
    below = [
        f"{r['day']}: {r['rolling_average_precision']:.4f} < {bounds[r[MODEL_VERSION]]:.4f} "
        f"(version {r[MODEL_VERSION]})"
        for r in full.to_dict("records")
        if bounds.get(r[MODEL_VERSION]) is not None
        and r["rolling_average_precision"] < bounds[r[MODEL_VERSION]]
    ]
    unbounded = sorted({str(v) for v in full[MODEL_VERSION] if bounds.get(v) is None})
    metadata = {"days_measured": len(full), "days_below_bound": len(below)}
    if below:
        return CheckOutcome(
            False,
            f"the average precision over the last {trailing_days} days fell below the champion's "
            f"validation interval on {len(below)} days: {'; '.join(below[:5])}",
            metadata,
        )
    # Too few scored days (or no recorded interval) is no evidence of a fall: no warning.
    compared = int(sum(str(v) not in unbounded for v in full[MODEL_VERSION]))
    unknown = (
        f"; versions {', '.join(unbounded)} record no validation interval" if unbounded else ""
    )
    return CheckOutcome(
        True,
        f"on {compared} days the average precision over the last {trailing_days} days stayed "
        f"within the serving version's validation interval; {len(rows) - len(full)} days have "
        f"fewer than {trailing_days} scored days behind them{unknown}",
        metadata,
    )
