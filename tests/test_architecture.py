"""The package's seams, checked: no import cycle, no entry point importing another, no
modality branch in an entry point, data/ not reaching up into reporting or the models."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "sports_rec"
ENTRY_POINTS = (
    "train", "evaluate", "predict", "explain", "export", "report", "tables", "dashboard",
    "download", "convert_checkpoint", "pose", "app",
)  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path) -> set[str]:
    """Modules ``path`` imports when it is imported (not inside functions or
    ``if TYPE_CHECKING:``), as dotted names within sports_rec."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for child in [node] if not isinstance(node, ast.If | ast.Try) else ast.walk(node):
            if isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                base = child.module
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in child.names)
            elif isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
    return {name for name in found if name.startswith("sports_rec")}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: top_level_imports(path) & set(modules) - {name} for name, path in modules.items()}


def test_no_import_cycle(graph: dict[str, set[str]]) -> None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            # a package imports its submodules in __init__; a submodule importing its package
            # is the package's own business (Python loads the submodule first)
            if node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if state.get(nxt) is None:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_no_entry_point_imports_another(graph: dict[str, set[str]]) -> None:
    entries = {f"sports_rec.{name}" for name in ENTRY_POINTS}
    crossing = {e: sorted(graph[e] & entries) for e in entries if graph[e] & entries}
    assert not crossing, crossing


def test_entry_points_hold_no_modality_branch() -> None:
    branch = re.compile(r'"(video|keypoints|image)" in |is_video')
    for name in ("train", "evaluate", "predict", "explain", "export", "app"):
        text = (PACKAGE / f"{name}.py").read_text()
        assert not branch.search(text), f"{name}.py branches on a modality"


def test_data_does_not_reach_up(graph: dict[str, set[str]]) -> None:
    """data/ is below the models, the run layer and the reports; utils/ below everything."""
    upward = ("sports_rec.reporting", "sports_rec.models", "sports_rec.callbacks")
    for module, imports in graph.items():
        if module.startswith(("sports_rec.data", "sports_rec.utils")):
            bad = sorted(i for i in imports if i.startswith(upward))
            assert not bad, f"{module} imports {bad}"


def test_a_run_folder_writer_knows_nothing_of_reports(graph: dict[str, set[str]]) -> None:
    """reporting/per_run (what one run writes) never imports reporting/across_runs (what a
    report reads from many runs): the run folder is the only contract between them."""
    for module, imports in graph.items():
        if module.startswith("sports_rec.reporting.per_run"):
            bad = sorted(i for i in imports if i.startswith("sports_rec.reporting.across_runs"))
            assert not bad, f"{module} imports {bad}"
