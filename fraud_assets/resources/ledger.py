"""The landing ledger: one record per landed file that was ingested (key, version, size,
rows, days covered). The raw step writes it, the cleaning step marks it `cleaned` once every
check passed. The sensor skips files whose current version is cleaned; the row conservation
check compares raw rows with the lines counted here."""

from dataclasses import asdict, dataclass, replace

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
    cleaned: bool = False


class LandingLedger(ConfigurableResource):
    root: ResourceDependency[StorageRoot]

    def record(self, record: LandingRecord) -> None:
        self.root.store().write_json(f"{_FOLDER}/{record.key}.json", asdict(record))

    def get(self, key: str) -> LandingRecord | None:
        document = self.root.store().read_json(f"{_FOLDER}/{key}.json")
        return LandingRecord(**document) if document else None

    def mark_cleaned(self, key: str) -> None:
        record = self.get(key)
        if record is not None:
            self.record(replace(record, cleaned=True))

    def cleaned_versions(self) -> dict[str, str]:
        """Key -> version of the files ingested through cleaning with every check passing."""
        return {record.key: record.version for record in self.records() if record.cleaned}

    def records(self) -> list[LandingRecord]:
        documents = self.root.store().list_json(_FOLDER)
        return sorted((LandingRecord(**d) for d in documents), key=lambda r: r.key)
