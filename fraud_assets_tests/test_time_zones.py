"""Results and checks do not depend on the time zone of the process that computes them."""

import json
import os
import subprocess
import sys
from datetime import date

import pytest

from fraud_assets.datagen.defects import DefectRates
from fraud_assets.datagen.files import GeneratorConfig
from fraud_assets.settings import PROJECT_ROOT
from fraud_assets_tests.conftest import write_landing_files
from fraud_assets_tests.tz_digest import digest

pytestmark = pytest.mark.slow

ZONES = ("UTC", "Europe/Paris", "America/New_York")

# 2019-10-21 .. 2019-11-19 holds both daylight-saving changes of Paris (10-27) and New York
# (11-03); the feed counts its time from 2019-08-22, as the pipeline's default origin.
DST_FILE = GeneratorConfig(
    customers=150,
    terminals=60,
    files=1,
    start_date=date(2019, 10, 21),
    time_origin=date(2019, 8, 22),
    seed=3,
    defects=DefectRates().scaled(300),
)


def test_results_and_checks_are_identical_in_three_time_zones(tmp_path):
    landing = tmp_path / "landing"
    write_landing_files(landing, DST_FILE)
    # This process computes in its own zone, a process of its own in each other zone; the
    # outcomes are compared as the JSON the other processes print.
    here = os.environ.get("TZ", "this process's zone")
    outcomes = {here: json.loads(json.dumps(digest(landing, tmp_path / "here")))}
    for zone in (zone for zone in ZONES if zone != here):
        finished = subprocess.run(
            [
                sys.executable,
                "-m",
                "fraud_assets_tests.tz_digest",
                str(landing),
                str(tmp_path / zone),
            ],
            env={**os.environ, "TZ": zone},
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        outcomes[zone] = json.loads(finished.stdout.strip().splitlines()[-1])
    reference = outcomes[here]
    assert reference["success"] and all(passed for _, passed, _ in reference["checks"])
    assert len(reference["checks"]) == 12
    assert set(ZONES) <= set(outcomes)
    for zone, outcome in outcomes.items():
        assert outcome == reference, zone
