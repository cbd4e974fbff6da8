"""The README and docs/ stay walkable: every relative link points at a file (and heading) that exists, the README
stays short, and every place that names the main job names the same `make` target. Reads text files only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
README = REPO_ROOT / "README.md"
DOCS = sorted((REPO_ROOT / "docs").glob("*.md"))
README_MAX_LINES = 250
MAKE = re.compile(r"\bmake (\w[\w-]*)")

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
EXTERNAL = ("http://", "https://", "mailto:")
REPO_PATH = re.compile(r"`((?:poolbench|tests|scripts|conf|hydra_plugins|results/reference|docs|\.ci)/[^`\s]*)`")
MODULE = re.compile(r"(?:`|python -m )(poolbench(?:\.\w+)+)")
PLACEHOLDER = re.compile(r"[*{<…]|NAME|PATH")


def prose(path: Path) -> str:
    """The file without its fenced code blocks (a `[x](y)` inside code is not a link)."""
    return FENCE.sub("", path.read_text(encoding="utf-8"))


def links(path: Path) -> list[str]:
    return [target for target in LINK.findall(prose(path)) if not target.startswith(EXTERNAL)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (hyphens and underscores kept), spaces to
    hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for heading in HEADING.findall(prose(path)):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def broken_links(path: Path) -> list[str]:
    broken = []
    for target in links(path):
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        if not destination.exists():
            broken.append(f"{target}: no such file {destination}")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no heading #{anchor} in {destination.name}")
    return broken


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken_links(page) == []


def named_paths(path: Path) -> list[str]:
    """Repository paths and poolbench modules a page names in backticks (``poolbench/run.py``,
    ``python -m poolbench.sweep.tuned_protocol``), leaving out patterns (``conf/head/NAME.yaml``, ``*.yaml``)."""
    text = path.read_text(encoding="utf-8")
    names = [name for name in REPO_PATH.findall(text) if not PLACEHOLDER.search(name)]
    return names + [name for name in MODULE.findall(text) if not PLACEHOLDER.search(name)]


def exists(name: str) -> bool:
    if "/" in name:
        return (REPO_ROOT / name).exists()
    parts = name.split(".")  # a module, or a name inside one: the longest prefix that is a module must be deeper
    while parts and not any((REPO_ROOT.joinpath(*parts[:-1]) / f"{parts[-1]}{end}").exists() for end in (".py", "")):
        parts.pop()
    return len(parts) >= 2


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_every_named_path_and_module_exists(page: Path) -> None:
    assert [name for name in named_paths(page) if not exists(name)] == []


def test_the_checks_see_links_and_catch_broken_ones(tmp_path: Path) -> None:
    assert "docs/results.md" in links(README)  # the pattern finds the README's links at all
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [gone](missing.md) [no heading](#nowhere)\n```\n[code](x.md)\n```\n")
    assert len(broken_links(page)) == 2
    assert not exists("poolbench/settings.py") and not exists("poolbench.tuned")  # paths from before the move
    assert exists("poolbench/config/settings.py") and exists("poolbench.sweep.tuned_protocol")


def test_the_docs_folder_has_one_page_per_topic() -> None:
    names = {path.stem for path in DOCS}
    expected = {"results", "running", "reports", "sweeps", "slurm", "performance", "architecture", "testing"}
    assert expected | {"contributing", "troubleshooting"} <= names
    for page in DOCS:
        assert f"docs/{page.name}" in links(README), f"the README does not link {page.name}"


def test_the_readme_stays_short() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail into docs/"


def main_job_clauses(path: Path) -> list[str]:
    """Each clause (a line, up to a semicolon) of ``path`` that speaks of the main job."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [clause.strip() for line in lines for clause in line.split(";") if "main job" in clause.lower()]


def test_readme_makefile_and_configs_name_one_main_job() -> None:
    """Every mention of "the main job" in the README, the Makefile and the shipped configs names its `make`
    target, and it is the same target everywhere (the demo once was the main job in two of them)."""
    configs = sorted((REPO_ROOT / "poolbench" / "conf").rglob("*.yaml"))
    places = [README, REPO_ROOT / "Makefile", *configs]
    clauses = {str(path.relative_to(REPO_ROOT)): main_job_clauses(path) for path in places}
    assert clauses["README.md"] and clauses["Makefile"], clauses
    targets = set()
    for where, found in clauses.items():
        for clause in found:
            named = MAKE.findall(clause)
            assert len(named) == 1, f"{where}: {clause!r} should name the main job's make target"
            targets.update(named)
    assert len(targets) == 1, clauses
    (target,) = targets
    assert re.search(rf"^{re.escape(target)}:", (REPO_ROOT / "Makefile").read_text(), re.MULTILINE)


# ----------------------------------------------------------------------------------------------- command blocks
SHELL_BLOCK = re.compile(r"^```(?:bash|sh|shell)\n(.*?)^```", re.MULTILINE | re.DOTALL)
PLACEHOLDERS = re.compile(r"\b(?:PATH|NAME|DIR|FILE|ROOT|OTHER_NAME|NEW_NAME|N)\b|\.\.\.|…|<|\$\(")


def shell_blocks(path: Path) -> list[str]:
    return SHELL_BLOCK.findall(path.read_text(encoding="utf-8"))


def poolbench_commands(block: str) -> list[list[str]]:
    """The arguments of every ``poolbench ...`` command in a block (continuation lines joined, comments and a
    ``$ `` prompt dropped); lines with placeholders (PATH, NAME, ...) or shell substitutions are left out."""
    import shlex

    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        line = line.strip().removeprefix("$ ")
        if not line.startswith("poolbench ") or PLACEHOLDERS.search(line.split("#", 1)[0]):
            continue
        commands.append(shlex.split(line, comments=True)[1:])
    return commands


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_every_shell_block_parses_and_quotes_its_brackets(page: Path) -> None:
    """``bash -n`` on every bash block; and a ``poolbench`` argument holding ``[...]`` is quoted, since zsh (the
    macOS shell) would glob it ("no matches found")."""
    import shlex
    import subprocess

    for block in shell_blocks(page):
        parsed = subprocess.run(["bash", "-n"], input=block, capture_output=True, text=True)
        assert parsed.returncode == 0, f"{page.name}: {parsed.stderr}\n{block}"
        for line in block.replace("\\\n", " ").splitlines():
            if not line.strip().removeprefix("$ ").startswith("poolbench"):
                continue
            code = line.split(" #", 1)[0]
            for argument in shlex.split(code, comments=True):
                if "[" in argument:
                    quoted = f"'{argument}'" in code or f'"{argument}"' in code
                    assert quoted, f"{page.name}: quote {argument!r} (zsh globs [...]): {line.strip()}"


def first_job(arguments: list[str]) -> list[str]:
    """The overrides of a command's first job: flags dropped, each swept key at its first value (an interval,
    which an Optuna sweeper samples, left out)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = [a for a in arguments if not a.startswith("-") and a != "job" and not a.startswith("hydra.")]
    first = []
    for override in OverridesParser.create().parse_overrides(overrides):
        if override.is_interval_sweep():
            continue  # an Optuna range: the sweeper picks the value
        if override.is_sweep_override():
            first.append(f"{override.get_key_element()}={next(override.sweep_string_iterator())}")
        else:
            first.append(override.input_line)
    return first


def test_every_documented_poolbench_command_composes() -> None:
    """Each ``poolbench ...`` line of README.md and docs/ composes with Hydra's compose API (its first job, for a
    sweep): no group option, key or override syntax that the shipped configs do not have."""
    from hydra import compose, initialize_config_dir

    commands = [
        (page.name, arguments)
        for page in [README, *DOCS]
        for block in shell_blocks(page)
        for arguments in poolbench_commands(block)
        if not any(a.startswith("hydra.searchpath") for a in arguments)  # a user's own configs
    ]
    assert len(commands) >= 20, commands  # the extraction finds the commands at all
    failures = []
    with initialize_config_dir(config_dir=str(REPO_ROOT / "poolbench" / "conf"), version_base="1.3"):
        for where, arguments in commands:
            try:
                compose(config_name="config", overrides=first_job(arguments))
            except Exception as error:
                failures.append(f"{where}: poolbench {' '.join(arguments)}: {str(error).splitlines()[0]}")
    assert failures == []
