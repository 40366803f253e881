"""The champion as the real-time scorers hold it: loaded by its registry alias, re-read when
the alias moves, without a restart."""

import logging
import threading
import time
from dataclasses import dataclass

from mlflow import MlflowClient

from fraud_assets.model.portable import PortableModel, load_portable
from fraud_assets.model.registry import champion_version, serving

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedChampion:
    version: str
    threshold: float
    model: PortableModel


class ChampionWatch:
    """The serving champion, checked against the registry at most every `check_seconds`."""

    def __init__(self, client: MlflowClient, check_seconds: float = 30.0) -> None:
        self.client = client
        self.check_seconds = check_seconds
        self._loaded: LoadedChampion | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def current(self) -> LoadedChampion:
        """The champion to score with; loads it on first use and when the alias has moved.
        Raises NoChampionError (or NotPortableError) when there is none that can serve."""
        now = time.monotonic()
        if self._loaded is not None and now - self._checked_at < self.check_seconds:
            return self._loaded
        with self._lock:
            if self._loaded is None or now - self._checked_at >= self.check_seconds:
                self._refresh()
                self._checked_at = now
        assert self._loaded is not None
        return self._loaded

    @property
    def loaded(self) -> LoadedChampion | None:
        return self._loaded

    def _refresh(self) -> None:
        found = champion_version(self.client)
        current = self._loaded.version if self._loaded is not None else None
        if found is not None and str(found.version) == current:
            return
        version = serving(self.client, str(found.version) if found is not None else None)
        self._loaded = LoadedChampion(
            version=version.version,
            threshold=version.threshold,
            model=load_portable(version.run_id),
        )
        logger.info(
            "serving champion version %s (%s, threshold %.6f)",
            version.version,
            self._loaded.model.family,
            version.threshold,
        )
