"""Small JSON records per partition (model candidates, validations, decisions), stored under
the same root as the parquet data: `<asset>/records/<partition>.json`."""

import posixpath
from typing import Any

from dagster import ConfigurableIOManager, InputContext, OutputContext, ResourceDependency

from fraud_assets.resources.storage import StorageError, StorageRoot


class JsonRecordIOManager(ConfigurableIOManager):
    root: ResourceDependency[StorageRoot]

    @staticmethod
    def _relative(asset_path: list[str], partition: str) -> str:
        return posixpath.join(*asset_path, "records", f"{partition}.json")

    def handle_output(self, context: OutputContext, obj: dict[str, Any]) -> None:
        relative = self._relative(context.asset_key.path, context.asset_partition_key)
        self.root.store().write_json(relative, obj)
        context.add_output_metadata({"path": self.root.store().path(relative)})

    def load_input(self, context: InputContext) -> dict[str, Any]:
        relative = self._relative(context.asset_key.path, context.asset_partition_key)
        record = self.root.store().read_json(relative)
        if record is None:
            raise StorageError(
                f"{'/'.join(context.asset_key.path)} has no record for partition "
                f"{context.asset_partition_key}; materialise it first"
            )
        return record
