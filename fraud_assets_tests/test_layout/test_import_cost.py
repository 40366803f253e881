"""Loading the definitions leaves the heavy libraries unloaded (README, Layout): every run
process, code server and sensor evaluation loads them, and most never train or plot."""

import json
import subprocess
import sys

from fraud_assets.settings import PROJECT_ROOT

HEAVY = ("mlflow", "scipy.stats", "matplotlib", "hyperopt", "xgboost")

PROBE = f"""
import json, sys
import fraud_assets.definitions
print(json.dumps([name for name in {list(HEAVY)!r} if name in sys.modules]))
"""


def test_loading_the_definitions_loads_no_heavy_library():
    probe = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr[-4000:]
    loaded = json.loads(probe.stdout.strip().splitlines()[-1])
    assert loaded == [], (
        f"importing fraud_assets.definitions loads {loaded}: import them in the functions "
        "that use them"
    )
