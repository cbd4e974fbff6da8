"""The shape a newcomer can read: no module over 300 lines, and the two entry points (``run`` and ``train``)
short enough to read in one screen."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

MAX_MODULE_LINES = 300
MAX_ENTRY_LINES = 40
MODULES = sorted(
    [
        *(REPO_ROOT / "poolbench").rglob("*.py"),
        *(REPO_ROOT / "hydra_plugins").rglob("*.py"),
        *(REPO_ROOT / "scripts").glob("*.py"),
    ]
)


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(REPO_ROOT)) for p in MODULES])
def test_module_is_small_enough_to_read_in_one_sitting(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.relative_to(REPO_ROOT)} has {lines} lines; split it by concept"


@pytest.mark.parametrize("module, function", [("poolbench/run.py", "run"), ("poolbench/training/loop.py", "train")])
def test_entry_points_stay_short(module: str, function: str) -> None:
    tree = ast.parse((REPO_ROOT / module).read_text(encoding="utf-8"))
    (node,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function]
    assert node.end_lineno is not None
    length = node.end_lineno - node.lineno + 1
    assert length <= MAX_ENTRY_LINES, f"{function}() in {module} is {length} lines"


MAX_TOP_LEVEL_MODULES = 12


def test_the_top_floor_stays_small() -> None:
    """Modules directly in poolbench/ are the run's own rooms; configuration, sweeps, data, models, training and
    reports live in their packages (each ``__init__`` names its job and what it may import)."""
    top = sorted(p.name for p in (REPO_ROOT / "poolbench").glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top
    for init in (REPO_ROOT / "poolbench").glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc, f"{init.relative_to(REPO_ROOT)} needs a docstring naming its one job"


def test_packages_are_discovered_not_listed() -> None:
    """No hand-kept package list to forget: setuptools finds every package (and conf/'s YAML folders)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    setuptools = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "packages" in setuptools and set(setuptools["packages"]) == {"find"}
    assert setuptools["packages"]["find"]["include"] == ["poolbench*", "hydra_plugins*"]


@pytest.mark.slow
def test_the_wheel_holds_every_module_and_config(tmp_path: Path) -> None:
    """What a non-editable install gets: every .py under poolbench/ and every shipped YAML."""
    import subprocess
    import sys
    import zipfile

    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-v", "-w", str(tmp_path), "."],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    warnings = [line for line in (built.stdout + built.stderr).splitlines() if "Warning" in line]
    assert not warnings, warnings[:5]  # e.g. "Package 'poolbench.conf.backbone' is absent from ..."
    (wheel,) = tmp_path.glob("poolbench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = [*(REPO_ROOT / "poolbench").rglob("*.py"), *(REPO_ROOT / "hydra_plugins").rglob("*.py")]
    modules = {str(p.relative_to(REPO_ROOT)) for p in sources}
    configs = {str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "poolbench" / "conf").rglob("*.yaml")}
    assert not (modules | configs) - names, sorted((modules | configs) - names)[:10]
