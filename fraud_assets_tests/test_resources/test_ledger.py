from datetime import date

import pytest

from fraud_assets.resources.ledger import LandingLedger, LandingRecord, LedgerConflictError
from fraud_assets.resources.storage import LocalStorageRoot


def _record(version: str, run_id: str, at: str, rows: int = 10) -> LandingRecord:
    return LandingRecord(
        key="2019-08-22.txt",
        version=version,
        size=100,
        rows=rows,
        first_day="2019-08-22",
        last_day="2019-09-20",
        header=True,
        run_id=run_id,
        recorded_at=at,
    )


@pytest.fixture
def ledger(tmp_path) -> LandingLedger:
    return LandingLedger(root=LocalStorageRoot(base_path=str(tmp_path)))


def test_two_runs_on_one_file_never_overwrite_each_other(ledger):
    # A file replaced while its first run still works: both runs record their version.
    ledger.record(_record("v1", "run-a", "2019-10-01T00:00:00"))
    ledger.record(_record("v2", "run-b", "2019-10-01T00:05:00"))
    # The first run finishes: it marks its own record, not the newer version.
    ledger.mark_cleaned("2019-08-22.txt", "v1", "run-a")
    assert ledger.get("2019-08-22.txt").version == "v2"
    assert ledger.cleaned_versions() == {}, "v2 has not passed its checks"
    ledger.mark_cleaned("2019-08-22.txt", "v2", "run-b")
    assert ledger.cleaned_versions() == {"2019-08-22.txt": "v2"}


def test_an_update_for_another_version_is_refused(ledger):
    ledger.record(_record("v1", "run-a", "2019-10-01T00:00:00"))
    with pytest.raises(LedgerConflictError, match="not version v2"):
        ledger.mark_cleaned("2019-08-22.txt", "v2", "run-a")
    with pytest.raises(LedgerConflictError, match="no record"):
        ledger.mark_cleaned("2019-08-22.txt", "v1", "run-z")
    assert ledger.cleaned_versions() == {}


def test_days_with_data_come_from_the_newest_record(ledger):
    ledger.record(_record("v1", "run-a", "2019-10-01T00:00:00"))
    days = ledger.days_with_data(date(2019, 9, 19), date(2019, 9, 25))
    assert days == {"2019-09-19": "2019-08-22.txt", "2019-09-20": "2019-08-22.txt"}
    ledger.record(_record("v2", "run-b", "2019-10-02T00:00:00", rows=0))
    assert ledger.days_with_data(date(2019, 9, 19), date(2019, 9, 25)) == {}
