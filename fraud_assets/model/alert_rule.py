"""The alert threshold of a model version, chosen on its validation days."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fraud_assets.model.metrics import EvaluationSet, RankedScores


@dataclass(frozen=True)
class AlertRule:
    """Alert on score >= the threshold that keeps the false positive rate under `max_fpr` on
    the validation days, or, with a `daily_budget` > 0, that raises at most that many
    transaction alerts a day on average there."""

    max_fpr: float = 0.05
    daily_budget: int = 0

    def describe(self) -> str:
        if self.daily_budget:
            return f"at most {self.daily_budget} alerts a day on the validation days"
        return f"false positive rate under {self.max_fpr:.1%} on the validation days"

    def threshold(self, scores: np.ndarray, evaluation: EvaluationSet) -> float:
        if self.daily_budget:
            days = evaluation.unit_day[evaluation.unit_of_row]
            return threshold_for_budget(scores, len(np.unique(days)), self.daily_budget)
        return RankedScores.build(scores, evaluation).threshold_at_fpr(self.max_fpr)


def threshold_for_budget(scores: np.ndarray, days: int, daily_budget: int) -> float:
    """The lowest threshold (alert at score >= it) raising at most `daily_budget` alerts a day
    on average over `days` days; a tie at the limit is left out whole."""
    ranked = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    allowed = daily_budget * days
    if allowed >= len(ranked):
        return float(ranked[-1])
    return float(np.nextafter(ranked[allowed], np.inf))
