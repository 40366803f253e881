"""Scoring transactions as they come: online features, then the champion on the whole batch
in one vectorised call. Shared by the streaming scorer and the REST API."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fraud_assets.features.transforms import STORED_FEATURES
from fraud_assets.serving.champion import ChampionWatch
from fraud_assets.serving.lines import Transaction
from fraud_assets.serving.state import OnlineFeatures

_INPUT_COLUMNS = ["TX_AMOUNT", *STORED_FEATURES]


@dataclass(frozen=True, slots=True)
class Scored:
    transaction: Transaction
    score: float
    alert: bool
    model_version: str


@dataclass(frozen=True, slots=True)
class NotScored:
    """A valid transaction the state refused: a repeat of an id it holds."""

    transaction: Transaction
    reason: str


class Scorer:
    """An online feature state and the champion that scores its transactions."""

    def __init__(self, state: OnlineFeatures, champion: ChampionWatch) -> None:
        self.state = state
        self.champion = champion

    def score(self, transactions: Sequence[Transaction]) -> list[Scored | NotScored]:
        """Each transaction in order: its features join the state, then one model call
        scores all those that were new."""
        champion = self.champion.current()
        rows: list[tuple[float, ...]] = []
        accepted: list[int] = []
        outcomes: list[Scored | NotScored | None] = []
        for index, tx in enumerate(transactions):
            values = self.state.add(tx)
            if isinstance(values, str):
                outcomes.append(NotScored(tx, values))
                continue
            rows.append((tx.amount, *values))
            accepted.append(index)
            outcomes.append(None)
        if rows:
            matrix = np.asarray(rows, dtype="float64")
            columns = {name: matrix[:, i] for i, name in enumerate(_INPUT_COLUMNS)}
            scores = champion.model.probabilities(columns)
            for index, score in zip(accepted, scores.tolist(), strict=True):
                outcomes[index] = Scored(
                    transactions[index],
                    score,
                    score >= champion.threshold,
                    champion.version,
                )
        return outcomes  # type: ignore[return-value]
