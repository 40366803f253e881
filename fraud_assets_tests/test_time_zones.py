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

pytestmark = pytest.mark.slow

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
    outcomes = {}
    for zone in ("UTC", "Europe/Paris", "America/New_York"):
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
    utc = outcomes["UTC"]
    assert utc["success"] and all(passed for _, passed, _ in utc["checks"])
    assert len(utc["checks"]) == 12
    assert outcomes["Europe/Paris"] == utc
    assert outcomes["America/New_York"] == utc
