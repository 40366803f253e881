"""The package's dependencies point one way (README, Layout): a shared layer at the bottom,
then ingestion <- features <- model <- scoring <- serving; the composition root and the
command lines on top. The imports of every module are parsed, nothing is imported."""

import ast
from pathlib import Path

import fraud_assets

PACKAGE = Path(fraud_assets.__file__).parent
# The shared layer: settings, errors, checks, metadata, partitions, common/, resources/.
SHARED = 0
DOMAINS = {"ingestion": 1, "features": 2, "model": 3, "scoring": 4, "serving": 5}
# Tools that stand beside the pipeline: they may use the shared layer only.
TOOLS = {"datagen", "stack"}
# What may import anything: the composition root and the command lines.
ROOTS = {
    "fraud_assets.definitions",
    "fraud_assets.cli",
    "fraud_assets.serving.cli",
    "fraud_assets.stack.cli",
    "fraud_assets.datagen.cli",
}
TOP = 10


def module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> tuple[int, str]:
    """A module's rank and the group it belongs to."""
    if module in ROOTS:
        return TOP, module
    parts = module.split(".")
    group = parts[1] if len(parts) > 1 else ""
    if group in DOMAINS:
        return DOMAINS[group], group
    if group in TOOLS:
        return SHARED, group
    return SHARED, "shared"


def imported(path: Path) -> set[str]:
    """The fraud_assets modules a file imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] == "fraud_assets"}


def existing(name: str, package: Path) -> str | None:
    """The module a dotted name refers to (a `from m import f` names m.f, which is no module)."""
    path = package.parent.joinpath(*name.split("."))
    if path.with_suffix(".py").exists() or (path / "__init__.py").exists():
        return name
    return None


def violations(package: Path = PACKAGE) -> list[str]:
    """Every import of a module of `package` that goes against the layers."""
    found = []
    for path in sorted(package.rglob("*.py")):
        module = module_name(path, package)
        rank, group = layer(module)
        modules = {existing(name, package) for name in imported(path)} - {None}
        for name in sorted(modules):
            target_rank, target_group = layer(name)
            if target_rank == TOP and rank != TOP:
                found.append(f"{module} imports the wiring {name}")
            elif group in TOOLS and target_group not in (group, "shared"):
                found.append(f"{module} (a tool) imports {name}")
            elif target_rank > rank:
                found.append(f"{module} imports downstream {name}")
            elif target_group in TOOLS and target_group != group and rank != TOP:
                found.append(f"{module} imports the tool {name}")
    return found


def test_dependencies_point_one_way():
    assert violations() == []


def test_the_rule_sees_each_kind_of_import_against_it(tmp_path):
    package = tmp_path / "fraud_assets"
    sources = {
        "definitions.py": "from fraud_assets.scoring.assets import SCORED\n",
        "resources/storage.py": "",
        "scoring/assets.py": "from fraud_assets.resources.storage import Store\n",
        "ingestion/assets.py": "from fraud_assets.scoring.assets import SCORED\n",
        "features/assets.py": "def later():\n    import fraud_assets.definitions\n",
        "stack/core.py": "from fraud_assets.ingestion import assets\n",
        "model/assets.py": "from fraud_assets.stack.core import Stack\n",
    }
    for name, text in sources.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(text)
    assert violations(package) == [
        "fraud_assets.features.assets imports the wiring fraud_assets.definitions",
        "fraud_assets.ingestion.assets imports downstream fraud_assets.scoring.assets",
        "fraud_assets.model.assets imports the tool fraud_assets.stack.core",
        "fraud_assets.stack.core (a tool) imports fraud_assets.ingestion",
        "fraud_assets.stack.core (a tool) imports fraud_assets.ingestion.assets",
    ]


def test_the_rule_sees_the_wiring_and_the_tools():
    assert layer("fraud_assets.definitions") == (TOP, "fraud_assets.definitions")
    assert layer("fraud_assets.resources.storage") == (SHARED, "shared")
    assert layer("fraud_assets.stack.services") == (SHARED, "stack")
    assert layer("fraud_assets.serving.state") == (DOMAINS["serving"], "serving")
