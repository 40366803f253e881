"""Malformed files never crash ingestion: each is refused as a whole with a message naming the
file, or every line becomes exactly one raw row and every row is cleaned, dropped as a
duplicate or quarantined with a reason. (bench/fuzz_ingestion.py runs the same over 10,000+
files.)"""

import os
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraud_assets_tests.test_ingestion.malformed import DAMAGES, account, malformed_file

damages = st.lists(st.sampled_from(DAMAGES), unique=True, max_size=4)


@settings(
    # FRAUD_LONG_FAULTS=1 draws 300 files; bench/fuzz_ingestion.py runs 10,000.
    max_examples=300 if os.environ.get("FRAUD_LONG_FAULTS") == "1" else 20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 2**32), damage=damages, lines=st.integers(0, 12))
def test_a_malformed_file_is_refused_clearly_or_fully_accounted_for(
    spark, tmp_path, seed, damage, lines
):
    path = tmp_path / f"{seed}.txt"
    path.write_bytes(malformed_file(random.Random(seed), damage, lines, huge=200_000))
    outcome = account(spark, path)
    if outcome.refused is not None:
        assert {"renamed_header", "truncated"} & set(damage), "only a damaged header refuses a file"
        assert "2019-08-22.txt" in outcome.refused and "header" in outcome.refused
        return
    assert outcome.raw_rows == outcome.lines, "every line is one raw row"
    assert outcome.conserved, outcome.statuses
    assert outcome.quarantined_without_reason == 0
