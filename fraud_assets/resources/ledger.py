"""The landing ledger: one record per landed file that was ingested (key, version, size,
rows, days covered). The sensor skips files whose current version is recorded; checks and
people read it to see what each file contributed."""

from dataclasses import asdict, dataclass

from dagster import ConfigurableResource, ResourceDependency

from fraud_assets.resources.storage import StorageRoot

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


class LandingLedger(ConfigurableResource):
    root: ResourceDependency[StorageRoot]

    def record(self, record: LandingRecord) -> None:
        self.root.store().write_json(f"{_FOLDER}/{record.key}.json", asdict(record))

    def get(self, key: str) -> LandingRecord | None:
        document = self.root.store().read_json(f"{_FOLDER}/{key}.json")
        return LandingRecord(**document) if document else None

    def records(self) -> list[LandingRecord]:
        documents = self.root.store().list_json(_FOLDER)
        return sorted((LandingRecord(**d) for d in documents), key=lambda r: r.key)
