"""docs/architecture.md stays true: every module of the package map exists, every module is in the map (under its
own package), and every file the "where to change what" table names exists (a ``module.function`` too)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from tests.conftest import REPO_ROOT

DOC = REPO_ROOT / "docs" / "architecture.md"
PACKAGE = REPO_ROOT / "poolbench"
PLUGINS = REPO_ROOT / "hydra_plugins"


def section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def package_map() -> list[str]:
    """The lines of the package map's code block."""
    return section("The package map").split("```", 2)[1].splitlines()[1:]


def blocks(lines: list[str]) -> dict[str, str]:
    """Each package of the map (``poolbench``, ``poolbench/report``, ``poolbench/report/claims``, ...) -> the text
    of its entries: a line ``name/ ...`` opens a package; the lines indented deeper than it belong to it (its
    entries, and any entry's continuation lines)."""
    found: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in lines:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        while stack and indent <= stack[-1][0]:
            stack.pop()
        first, _, rest = line.strip().partition(" ")
        if first.endswith("/"):
            name = first.rstrip("/")
            name = f"{stack[-1][1]}/{name}" if stack else name
            stack.append((indent, name))
            found[name] = rest
        elif stack:
            found[stack[-1][1]] += "\n" + line
    return found


def modules_on_disk() -> dict[str, set[str]]:
    """Each package (relative path) -> its modules' stems and its subpackages' names."""
    found: dict[str, set[str]] = {}
    for root in (PACKAGE, *sorted(p for p in PLUGINS.iterdir() if p.is_dir() and p.name != "__pycache__")):
        for init in [root / "__init__.py", *root.rglob("__init__.py")]:
            package = init.parent
            key = package.relative_to(REPO_ROOT).as_posix()
            names = {p.stem for p in package.glob("*.py") if p.name != "__init__.py"}
            names |= {d.name for d in package.iterdir() if (d / "__init__.py").is_file()}
            found[key] = names
    return found


def test_every_module_is_in_the_map_under_its_package() -> None:
    mapped = blocks(package_map())
    unmapped = []
    for package, names in modules_on_disk().items():
        text = mapped.get(package)
        if package.startswith("hydra_plugins/") and text is not None:
            continue  # a plugin package: the package itself is its entry
        if text is None:
            unmapped.append(f"{package}/ (the package)")
            continue
        for name in sorted(names):
            subpackage = (REPO_ROOT / package / name / "__init__.py").is_file()
            if not (f"{package}/{name}" in mapped if subpackage else re.search(rf"\b{re.escape(name)}\b", text)):
                unmapped.append(f"{package}/{name}")
    assert not unmapped, f"docs/architecture.md's package map lacks: {', '.join(unmapped)}"


def test_every_module_the_map_names_exists() -> None:
    on_disk = modules_on_disk()
    gone = []
    for package, text in blocks(package_map()).items():
        if package == "hydra_plugins":
            continue
        for name in re.findall(r"(?<![/\w])([A-Za-z_]\w*)\.py\b", text):  # not scripts/bench.py
            if package in on_disk and name not in on_disk[package] and name != "__main__":
                gone.append(f"{package}/{name}.py")
        assert package in on_disk, f"docs/architecture.md maps {package}/, which is not a package"
    assert not gone, f"docs/architecture.md's package map names modules that do not exist: {', '.join(gone)}"


def where_to_change_paths() -> list[str]:
    table = section("Where to change what")
    return [
        token
        for token in re.findall(r"`([^`\s]+)`", table)
        if ("/" in token or token.endswith((".py", ".toml"))) and "NAME" not in token
    ]


def resolve(token: str) -> list[Path]:
    if token.startswith("conf/") or not token.startswith(("tests/", "poolbench/", "pyproject")):
        token = f"poolbench/{token}"
    return sorted(REPO_ROOT.glob(token)) if "*" in token else [REPO_ROOT / token]


def test_where_to_change_what_names_real_files() -> None:
    missing = []
    for token in where_to_change_paths():
        module_path, dot, function = token.rpartition(".")
        if dot and "/" in module_path and function not in ("py", "yaml", "toml", "txt", "csv"):
            # report/figures.build_figures: the module file and the function in it
            files = resolve(module_path + ".py")
            module = (files[0].relative_to(REPO_ROOT).with_suffix("")).as_posix().replace("/", ".")
            if not files[0].is_file() or not hasattr(importlib.import_module(module), function):
                missing.append(token)
            continue
        if not any(p.exists() for p in resolve(token)):
            missing.append(token)
    assert not missing, f'docs/architecture.md "Where to change what" names files that do not exist: {missing}'


def test_the_layers_shown_are_the_layers_checked() -> None:
    """The layer list in the doc is pyproject.toml's import-linter layers contract, in order."""
    import tomllib

    contracts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (layers,) = [contract["layers"] for contract in contracts if contract["type"] == "layers"]
    block = section("The layers and the import graph").split("```", 2)[1].splitlines()[1:]
    shown = [line.replace(" ", "") for line in block if line.strip()]
    assert shown == [layer.replace(" ", "") for layer in layers]
