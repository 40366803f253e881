"""Results and checks do not depend on the time zone of the process that computes them."""

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from fraud_assets.datagen.defects import DefectRates
from fraud_assets.datagen.files import GeneratorConfig
from fraud_assets.settings import PROJECT_ROOT
from fraud_assets_tests.conftest import write_landing_files
from fraud_assets_tests.tz_digest import digest

pytestmark = pytest.mark.slow

ZONES = ("UTC", "Europe/Paris", "America/New_York")
PROCESS_TIMEOUT_SECONDS = 900

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


def _digest_process(landing: Path, work: Path, zone: str) -> subprocess.Popen:
    work.mkdir(parents=True)
    with open(work / "digest.json", "w") as output, open(work / "digest.log", "w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "fraud_assets_tests.tz_digest", str(landing), str(work)],
            env={**os.environ, "TZ": zone},
            cwd=PROJECT_ROOT,
            stdout=output,
            stderr=log,
        )


def test_results_and_checks_are_identical_in_three_time_zones(tmp_path):
    landing = tmp_path / "landing"
    write_landing_files(landing, DST_FILE)
    # A process of its own in each other zone, started first so that they and this process
    # (in its own zone) compute side by side; each writes its outcome as JSON to a file (a pipe
    # that is not read while this process computes would stop it once full).
    here = os.environ.get("TZ", "this process's zone")
    others = {
        zone: _digest_process(landing, tmp_path / zone, zone) for zone in ZONES if zone != here
    }
    try:
        outcomes = {here: json.loads(json.dumps(digest(landing, tmp_path / "here")))}
        for zone, process in others.items():
            process.wait(timeout=PROCESS_TIMEOUT_SECONDS)
            log = (tmp_path / zone / "digest.log").read_text(errors="replace")
            assert process.returncode == 0, f"{zone}:\n{log[-4000:]}"
            digest_lines = (tmp_path / zone / "digest.json").read_text().strip().splitlines()
            outcomes[zone] = json.loads(digest_lines[-1])
    finally:
        for process in others.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    reference = outcomes[here]
    assert reference["success"] and all(passed for _, passed, _ in reference["checks"])
    assert len(reference["checks"]) == 12
    assert set(ZONES) <= set(outcomes)
    for zone, outcome in outcomes.items():
        assert outcome == reference, zone
