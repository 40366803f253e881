import stat
import subprocess
import sys

import pytest

from fraud_assets.resources.spark import JavaNotFoundError, check_java, default_spark_config
from fraud_assets.settings import Settings


def _fake_java(folder, version_line: str, modules: str = "jdk.incubator.vector@17") -> str:
    java = folder / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "--list-modules" ]; then echo "{modules}"; exit 0; fi\n'
        f"echo '{version_line}' >&2\n"
    )
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    return str(folder)


def test_the_machine_java_is_accepted():
    assert check_java().name == "java"


def test_java_home_without_java_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(JavaNotFoundError, match=r"openjdk-17-jre-headless"):
        check_java()


def test_no_java_at_all(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(JavaNotFoundError, match="No `java` on PATH"):
        check_java()


def test_old_java_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", _fake_java(tmp_path, 'openjdk version "1.8.0_392"'))
    with pytest.raises(JavaNotFoundError, match="Java 8"):
        check_java()


def test_runtime_without_the_vector_module_is_refused(monkeypatch, tmp_path):
    home = _fake_java(tmp_path, 'openjdk version "17.0.2"', modules="java.base@17")
    monkeypatch.setenv("JAVA_HOME", home)
    with pytest.raises(JavaNotFoundError, match=r"jdk\.incubator\.vector"):
        check_java()


def test_spark_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("FRAUD_SPARK_MASTER", "spark://cluster:7077")
    monkeypatch.setenv("FRAUD_SPARK_CONF", '{"spark.executor.memory": "8g"}')
    config = default_spark_config(Settings.from_env())
    assert config["spark.master"] == "spark://cluster:7077"
    assert config["spark.executor.memory"] == "8g"


def test_bad_spark_conf_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("FRAUD_SPARK_CONF", "spark.executor.memory=8g")
    with pytest.raises(ValueError, match="JSON object"):
        Settings.from_env()


@pytest.mark.parametrize(
    ("mode", "outcomes"),
    [("plain", {"ended silently"}), ("prepared", {"imported", "ImportError"})],
)
def test_a_spawned_run_survives_importing_spark_connect(mode, outcomes):
    probe = "from fraud_assets_tests.test_resources.spawned_run import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", probe, mode], capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip() in outcomes, result.stderr
