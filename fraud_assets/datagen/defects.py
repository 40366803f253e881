"""Defects a real feed has (DATA.md §1), injected at configurable rates.

Row-level rates are probabilities per row; file-level defects apply to a whole file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DefectRates:
    midnight_as_24h: float = 3e-6
    empty_terminal_id: float = 3e-6
    sentinel_customer_id: float = 3e-6
    duplicate_row: float = 3e-6
    non_positive_amount: float = 3e-6
    wrong_column_count: float = 1e-6
    non_numeric_field: float = 1e-6
    bad_encoding: float = 1e-6
    truncated_last_line: float = 0.0

    @classmethod
    def none(cls) -> DefectRates:
        return cls(**{name: 0.0 for name in cls.__dataclass_fields__})

    def scaled(self, factor: float) -> DefectRates:
        return DefectRates(
            **{name: min(1.0, getattr(self, name) * factor) for name in self.__dataclass_fields__}
        )


def pick(n: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of the rows that get a defect of the given per-row rate."""
    if rate <= 0 or n == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(rng.random(n) < rate)


def break_line(line: bytes, kind: str, rng: np.random.Generator) -> bytes:
    """One line damaged the way a feed damages lines."""
    fields = line.split(b",")
    if kind == "wrong_column_count":
        if rng.random() < 0.5:
            return b",".join(fields[:-1])
        return line + b",0"
    if kind == "non_numeric_field":
        column = int(rng.choice([0, 2, 4, 5]))
        fields[column] = fields[column][:1] + b"x" + fields[column][1:]
        return b",".join(fields)
    if kind == "bad_encoding":
        fields[4] = fields[4] + b"\xff\xfe"
        return b",".join(fields)
    raise ValueError(f"unknown line defect {kind!r}")
