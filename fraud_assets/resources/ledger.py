"""The landing ledger: what was ingested of each landed file (key, version, size, rows, days
covered, run) and whether every check on it passed.

Each run writes records of its own only, one per file, under
`_landing_ledger/<key>/<run_id>.json`: the raw step records the file, the cleaning step marks
that record `cleaned` once every check passed. An update names the key, the version and the run
it expects and is refused when the record holds others, so two runs on the same file (a file
replaced while its first run still works) never overwrite each other. A file's state is its
newest record. The sensor skips files whose current version is cleaned; the row conservation
check compares raw rows with the lines counted here; the features know from it which days hold
data.
"""

from dataclasses import asdict, dataclass, replace
from datetime import date

from dagster import ConfigurableResource, ResourceDependency

from fraud_assets.partitions import FilePeriod
from fraud_assets.resources.storage import StorageError, StorageRoot

_FOLDER = "_landing_ledger"


@dataclass(frozen=True)
class LandingRecord:
    key: str
    version: str
    size: int
    rows: int
    first_day: str
    last_day: str
    header: bool
    run_id: str
    recorded_at: str
    cleaned: bool = False


class LedgerConflictError(StorageError):
    """A ledger update found another version or run than the one it expected."""


class LandingLedger(ConfigurableResource):
    root: ResourceDependency[StorageRoot]

    @staticmethod
    def _path(key: str, run_id: str) -> str:
        return f"{_FOLDER}/{key}/{run_id}.json"

    def record(self, record: LandingRecord) -> None:
        self.root.store().write_json(self._path(record.key, record.run_id), asdict(record))

    def get(self, key: str) -> LandingRecord | None:
        """The newest record of a file."""
        history = self._history(key)
        return history[-1] if history else None

    def mark_cleaned(self, key: str, version: str, run_id: str) -> None:
        """Mark the record that run `run_id` wrote for `version` of `key` as cleaned."""
        document = self.root.store().read_json(self._path(key, run_id))
        if document is None or document["version"] != version:
            found = "no record" if document is None else f"version {document['version']}"
            raise LedgerConflictError(
                f"ledger: run {run_id} recorded {found} for {key}, not version {version}; "
                "the file is not marked cleaned"
            )
        self.record(replace(LandingRecord(**document), cleaned=True))

    def cleaned_versions(self) -> dict[str, str]:
        """Key -> version of the files whose newest record passed every check."""
        return {record.key: record.version for record in self.records() if record.cleaned}

    def records(self) -> list[LandingRecord]:
        """The newest record of each file, by key."""
        newest: dict[str, LandingRecord] = {}
        for record in self._all():
            if record.key not in newest or _order(record) > _order(newest[record.key]):
                newest[record.key] = record
        return [newest[key] for key in sorted(newest)]

    def days_with_data(self, first: date, last: date) -> dict[str, str]:
        """Day -> the file that holds rows for it, for the days in first..last."""
        low, high = first.isoformat(), last.isoformat()
        found = {}
        for record in self.records():
            if record.rows > 0 and record.first_day <= high and record.last_day >= low:
                start = date.fromisoformat(max(record.first_day, low))
                end = date.fromisoformat(min(record.last_day, high))
                found.update(dict.fromkeys(FilePeriod(start, end).partition_keys, record.key))
        return found

    def _history(self, key: str) -> list[LandingRecord]:
        documents = self.root.store().list_json(f"{_FOLDER}/{key}")
        return sorted((LandingRecord(**d) for d in documents), key=_order)

    def _all(self) -> list[LandingRecord]:
        documents = self.root.store().list_json(_FOLDER, recursive=True)
        return [LandingRecord(**d) for d in documents]


def _order(record: LandingRecord) -> tuple[str, str]:
    return record.recorded_at, record.run_id
