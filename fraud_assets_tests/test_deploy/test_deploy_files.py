"""The deploy files users start from are valid: the compose file against the Compose
specification (and `docker compose config` where Docker's compose plugin exists), the Kubernetes
manifests against the API's schemas, the workflow against GitHub's, the Dagster instance files
against Dagster's own config schema, the Helm values against the chart keys they set, and the
Dockerfile against the project it copies. No file carries a secret value."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config

from fraud_assets.settings import PROJECT_ROOT, Settings
from fraud_assets.stack.core import Stack
from fraud_assets.stack.services import dagster_yaml

INFRA = PROJECT_ROOT / "infra"
COMPOSE = INFRA / "docker-compose.yaml"
WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "ci.yaml"
KUBERNETES_VERSION = "1.30.0"
SECRET_NAMES = ("AWS_SECRET_ACCESS_KEY", "POSTGRES_PASSWORD", "AWS_SESSION_TOKEN")


def _check_jsonschema(schema: str, path: Path) -> None:
    tool = str(Path(sys.executable).parent / "check-jsonschema")
    result = subprocess.run(
        [tool, "--builtin-schema", schema, str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_file_follows_the_compose_specification():
    _check_jsonschema("vendor.compose-spec", COMPOSE)
    docker = shutil.which("docker")
    has_compose = (
        docker is not None
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    )
    if has_compose:
        env = {
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x",
            "POSTGRES_PASSWORD": "x",
            "PATH": "/usr/bin:/bin",
        }
        result = subprocess.run(
            [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"],
            capture_output=True,
            text=True,
            env=env,
        )
        assert result.returncode == 0, result.stderr


def test_the_compose_stack_publishes_on_loopback_and_keeps_secrets_out():
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {"seaweedfs", "postgres", "mlflow", "spark-master", "spark-worker"} <= set(services)
    assert {"code-location", "dagster-webserver", "dagster-daemon", "fraud-serve"} <= set(services)
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("./"):
                assert (INFRA / source).exists(), f"{name} mounts a missing {source}"
    text = COMPOSE.read_text()
    for secret in SECRET_NAMES:
        for value in re.findall(rf"{secret}: (\S+)", text):
            assert value.startswith("${"), f"{secret} is written in the compose file"


def test_instance_files_pass_dagsters_config_schema(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", "postgresql+psycopg2://u:p@db/dagster")
    config, _ = dagster_instance_config(str(INFRA), "dagster.yaml")
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["run_monitoring"]["enabled"] is True

    monkeypatch.setenv("FRAUD_STACK_DIR", str(tmp_path))
    stack_home = tmp_path / "home"
    stack_home.mkdir()
    (stack_home / "dagster.yaml").write_text(dagster_yaml(Stack(Settings.from_env())))
    monkeypatch.setenv("FRAUD_STACK_DAGSTER_DATABASE_URL", "postgresql+psycopg2://u:p@db/d")
    config, _ = dagster_instance_config(str(stack_home), "dagster.yaml")
    assert "postgres_url" in config["storage"]["postgres"]


def test_kubernetes_manifests_follow_the_api_schemas():
    documents = list(yaml.safe_load_all((INFRA / "k8s" / "fraud-serve.yaml").read_text()))
    kinds = {document["kind"] for document in documents}
    assert kinds == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert all("value" not in e or e["name"] not in SECRET_NAMES for e in container["env"])


def test_the_workflow_follows_githubs_schema_and_runs_ci():
    _check_jsonschema("vendor.github-workflows", WORKFLOW)
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps = [step.get("run", "") for step in workflow["jobs"]["test"]["steps"]]
    assert any(".ci/run" in step for step in steps)
    assert "image" in workflow["jobs"]


# The keys these values set, as the official chart's values.yaml names them.
CHART_KEYS = {
    "global": {"postgresqlSecretName"},
    "generatePostgresqlPasswordSecret": None,
    "dagsterWebserver": {"replicaCount", "envSecrets"},
    "dagster-user-deployments": {"enabled", "deployments"},
    "runLauncher": {"type", "config"},
    "dagsterDaemon": {"enabled", "runCoordinator", "runMonitoring"},
    "postgresql": {"enabled", "postgresqlHost", "postgresqlUsername", "postgresqlDatabase"}
    | {"service"},
}
DEPLOYMENT_KEYS = {"name", "image", "dagsterApiGrpcArgs", "port", "env", "envSecrets"} | {
    "resources"
}


def test_helm_values_use_the_charts_keys_and_this_code_location():
    values = yaml.safe_load((INFRA / "helm" / "values.yaml").read_text())
    assert set(values) <= set(CHART_KEYS)
    for key, allowed in CHART_KEYS.items():
        if allowed is not None and key in values:
            assert set(values[key]) <= allowed, key
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert set(deployment) <= DEPLOYMENT_KEYS
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "fraud_assets.definitions"]
    env = {item["name"]: item["value"] for item in deployment["env"]}
    assert env["FRAUD_ENV"] == "prod"
    assert not set(env) & set(SECRET_NAMES), "secrets come from envSecrets"
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"


def test_the_dockerfile_copies_what_exists_and_serves_the_code_location():
    instructions = [
        line.split(None, 1)
        for line in (PROJECT_ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    commands = [name for name, *_ in instructions]
    assert commands[0] == "FROM"
    for name, argument in instructions:
        if name == "COPY":
            *sources, _ = argument.split()
            for source in sources:
                assert (PROJECT_ROOT / source).exists(), f"COPY of a missing {source}"
        if name == "RUN" and "uv sync" in argument:
            assert "--locked" in argument, "the image installs from the lock file"
    cmd = next(argument for name, argument in instructions if name == "CMD")
    assert "fraud_assets.definitions" in cmd
    assert "USER" in commands, "the image does not run as root"


@pytest.mark.parametrize("path", [INFRA / "helm" / "values.yaml", COMPOSE, WORKFLOW])
def test_no_deploy_file_holds_a_credential(path):
    text = path.read_text()
    assert not re.search(r"AKIA[0-9A-Z]{16}", text)
    assert not re.search(r"(password|secret)\s*[:=]\s*['\"]?[A-Za-z0-9/+]{12,}", text, re.I)
