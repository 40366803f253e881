"""The Dagster UI and the MLflow registry of the services-mode stack, opened in a real headless
Chromium (Debian's) after the end-to-end run: every asset in its group's graph, every check on
its asset's page, a materialised partition's metadata, and the `champion` alias. Screenshots
go to test-artifacts/screenshots/."""

import contextlib
import os
import shutil
from collections import defaultdict

import pytest
from dagster import AssetKey
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from fraud_assets.definitions import defs
from fraud_assets.model.registry import CHAMPION
from fraud_assets.resources.mlflow import REGISTERED_MODEL
from fraud_assets.settings import PROJECT_ROOT
from fraud_assets_tests.test_services.conftest import stack_instance

pytestmark = [pytest.mark.services, pytest.mark.slow]

SCREENSHOTS = PROJECT_ROOT / "test-artifacts" / "screenshots"
PARTITION = "2019-09-25"
# Without these, Chromium keeps calling hosts that a closed network refuses.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _chromium() -> str:
    found = os.environ.get("FRAUD_CHROMIUM") or shutil.which("chromium")
    if found is None:
        pytest.fail("Chromium is missing: `apt-get install chromium` (.ci/run installs it)")
    return found


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_FLAGS)
        context = chromium.new_context(viewport={"width": 1600, "height": 1000})
        yield context.new_page()
        chromium.close()


def _open(page, url: str, expect: str) -> None:
    page.goto(url, wait_until="load", timeout=60_000)
    welcome = page.get_by_role("button", name="Skip")
    # A long name is drawn cut in the middle, its whole text kept in a hidden element the UI
    # measures it with: a name counts as shown once its element is on the page.
    page.get_by_text(expect, exact=False).first.wait_for(state="attached", timeout=60_000)
    if welcome.count():
        welcome.click()
        welcome.wait_for(state="hidden")
    # Graph nodes fill in their events and checks after the page has loaded; the screenshot
    # waits for that (a node that stays "Loading..." is then shown as it is).
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(
            "() => !document.body.innerText.includes('Loading...')", timeout=30_000
        )


def _shows(page, text: str) -> bool:
    """Whether `text` is on the page, waiting for the parts the UI fills in after loading
    (a partition's metadata comes after the partition itself)."""
    try:
        page.get_by_text(text, exact=False).first.wait_for(state="attached", timeout=30_000)
    except PlaywrightTimeout:
        return False
    return True


def _groups() -> dict[str, list[str]]:
    graph = defs.resolve_asset_graph()
    groups: dict[str, list[str]] = defaultdict(list)
    for key in graph.get_all_asset_keys():
        groups[graph.get(key).group_name].append(key.to_user_string())
    return groups


def test_the_asset_graph_shows_every_asset_and_its_checks(pipeline_outcome, browser):
    ui = pipeline_outcome.stack.ports.dagster_url
    for group, assets in sorted(_groups().items()):
        url = f"{ui}/locations/__repository__@fraud_assets/asset-groups/{group}"
        _open(browser, url, assets[0])
        for asset in assets:
            assert _shows(browser, asset), f"{asset} missing from the {group} graph"
        browser.screenshot(path=str(SCREENSHOTS / f"asset-graph-{group}.png"))

    checks: dict[str, list[str]] = defaultdict(list)
    for check in defs.resolve_asset_graph().asset_check_keys:
        checks[check.asset_key.to_user_string()].append(check.name)
    for asset, names in sorted(checks.items()):
        _open(browser, f"{ui}/assets/{asset}?view=checks", names[0])
        for name in names:
            assert _shows(browser, name), f"check {name} missing from {asset}'s page"
    browser.screenshot(path=str(SCREENSHOTS / "asset-checks.png"))


def test_a_materialised_partition_shows_its_metadata(pipeline_outcome, browser):
    asset = "cleaned_transactions"
    with stack_instance(pipeline_outcome) as instance:
        event = instance.get_latest_materialization_event(AssetKey(asset))
        records = instance.fetch_materializations(AssetKey(asset), limit=1000).records
        partition_event = next(r for r in records if r.partition_key == PARTITION)
    metadata = partition_event.asset_materialization.metadata
    assert event is not None and metadata
    ui = pipeline_outcome.stack.ports.dagster_url
    _open(browser, f"{ui}/assets/{asset}?view=partitions&partition={PARTITION}", PARTITION)
    assert _shows(browser, "Materialized")
    for label in metadata:
        assert _shows(browser, label), f"metadata entry {label} missing from partition {PARTITION}"
    browser.screenshot(path=str(SCREENSHOTS / "partition-metadata.png"), full_page=True)


def test_the_mlflow_registry_shows_the_champion_alias(pipeline_outcome, browser):
    mlflow_ui = pipeline_outcome.stack.ports.mlflow_uri
    _open(browser, f"{mlflow_ui}/#/models/{REGISTERED_MODEL}", f"@ {CHAMPION}")
    assert _shows(browser, REGISTERED_MODEL)
    browser.screenshot(path=str(SCREENSHOTS / "mlflow-registry.png"))
