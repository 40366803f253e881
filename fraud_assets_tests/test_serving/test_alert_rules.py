"""The example Prometheus alert rules are well formed, read only metrics the scorers export,
and (where promtool is installed: Debian's `prometheus` package) pass promtool's check and
their unit tests."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

from fraud_assets.serving import metrics  # noqa: F401 - registers the exported metrics

RULES = Path(__file__).parents[2] / "infra" / "prometheus" / "alerts.yaml"
DURATION = re.compile(r"^[0-9]+[smhd]$")


def exported_samples() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}
        names.update(family.name + suffix for suffix in suffixes.get(family.type, []))
    return names


def test_every_rule_is_complete_and_reads_exported_metrics():
    rules = [
        rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    ]
    assert len(rules) >= 6
    exported = exported_samples()
    for rule in rules:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert DURATION.match(rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"page", "ticket"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        read = set(re.findall(r"\b(fraud_[a-z_]+)", rule["expr"]))
        assert read, rule["alert"]
        assert read <= exported, f"{rule['alert']} reads unknown metrics {read - exported}"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_checks_the_rules_and_runs_their_unit_tests():
    check = subprocess.run(
        ["promtool", "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    tests = RULES.with_name("alerts_test.yaml")
    run = subprocess.run(["promtool", "test", "rules", str(tests)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
