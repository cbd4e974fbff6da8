"""Missing-run detection counts each expected run once and knows each sweep's own grid: presets that share one
folder (as the claims presets share results/claims/), a grid that is not heads x seeds square, a sweep killed
with SIGKILL in the middle of a run, and the committed claims reference (a complete grid: nothing missing)."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from poolbench.record import RESULT_FILE
from poolbench.report.aggregate import runs_frame
from poolbench.report.collect import Collection, collect_runs
from poolbench.report.missing import BASIC_SWEEPER, NO_RECORD, missing_table
from tests.conftest import REPO_ROOT, TINY, cli_env
from tests.test_report import write_run

# Two presets into one folder, each sweeping in its params as the claims presets do; B is not square with A.
PRESET_A = {"claims_cell": "presence,density", "head": "gap,gmp,flatten", "seed": "0,1"}
PRESET_B = {"backbone.depth": "2", "claims_cell": "presence", "head": "gap,gmp", "seed": "5,6"}
COMMAND_LINE = ["launcher=joblib", "jobs=2"]


def write_preset(root: Path, name: str, params: dict[str, str]) -> list[Path]:
    """Every run of one preset as Hydra and poolbench leave it (record, .hydra/hydra.yaml and overrides.yaml)."""
    keys = list(params)
    run_dirs = []
    for values in itertools.product(*(params[key].split(",") for key in keys)):
        point = dict(zip(keys, values))
        overrides = [f"{key}={value}" for key, value in point.items()] + [f"experiment={name}", *COMMAND_LINE]
        dataset = f"probe_{point['claims_cell']}"
        run_dir = write_run(
            root, point["head"], int(point["seed"]), 0.8, dataset=dataset, config={"seed": int(point["seed"])}
        )
        hydra = {"hydra": {"sweeper": {"_target_": BASIC_SWEEPER, "params": params}, "overrides": {"task": overrides}}}
        (run_dir / ".hydra").mkdir()
        (run_dir / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(hydra))
        (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
        run_dirs.append(run_dir)
    # the folder's multirun.yaml is the last preset's (each sweep overwrites it)
    task = [f"experiment={name}", *COMMAND_LINE]
    multirun = {"hydra": {"sweeper": {"_target_": BASIC_SWEEPER, "params": params}, "overrides": {"task": task}}}
    (root / "multirun.yaml").write_text(yaml.safe_dump(multirun))
    return run_dirs


def missing_of(collection: Collection) -> pd.DataFrame:
    return missing_table(collection, runs_frame(collection, []))


def shared_folder(root: Path) -> tuple[list[Path], list[Path]]:
    return write_preset(root, "a", PRESET_A), write_preset(root, "b", PRESET_B)


def test_presets_sharing_one_folder_each_keep_their_own_grid(tmp_path: Path) -> None:
    shared_folder(tmp_path)
    collection = collect_runs([tmp_path])
    assert len(collection.runs) == 12 + 4
    assert missing_of(collection).empty


def test_a_started_run_is_one_row_with_its_head_and_seed_and_a_lost_one_another(tmp_path: Path) -> None:
    runs_a, runs_b = shared_folder(tmp_path)
    killed = next(d for d in runs_a if "gmp" in d.parts and d.name == "seed1" and "probe_density" in d.parts)
    (killed / RESULT_FILE).unlink()  # SIGKILL mid-run: config.yaml and .hydra/ written, result.json never
    never = next(d for d in runs_b if "gap" in d.parts and d.name == "seed6")
    for path in sorted(never.rglob("*"), reverse=True):  # a run of preset a that never started: no folder at all
        path.unlink() if path.is_file() else path.rmdir()
    never.rmdir()
    missing = missing_of(collect_runs([tmp_path]))
    rows = sorted(zip(missing["head"], missing["seed"], missing["setting"], missing["reason"]))
    assert rows == [
        ("gap", "6", "", NO_RECORD),
        ("gmp", "1", "claims_cell=density", "started, not finished (running or killed)"),
    ]
    assert set(missing["dataset"]) == {"probe_presence", "probe_density"}  # named from the setting's other runs
    assert str(killed) in set(missing["where"])


@pytest.mark.parametrize(("folder", "runs"), [("claims", 190), ("claims_robust", 111)])
def test_the_committed_claims_reference_misses_nothing(folder: str, runs: int) -> None:
    """Complete grids: five presets in one folder (seeds 5-9 for gap and gmp only, presence_zeros with gap and
    flatten only), and the robustness map's six presets in another: 0 missing."""
    collection = collect_runs([REPO_ROOT / "results" / "reference" / folder])
    assert len(collection.runs) == runs
    assert missing_of(collection).empty


@pytest.mark.slow
def test_a_sweep_killed_with_sigkill_reports_exactly_the_one_unfinished_run(tmp_path: Path) -> None:
    """A real 4-run sweep killed with SIGKILL while its last run (#3) trains: 1 missing, with its head and seed."""
    results = tmp_path / "results"
    command = [sys.executable, "-m", "poolbench", "-m", "head=gap,gmp", "seed=0,1", "name=partial", *TINY]
    command += [f"paths.results_dir={results}", f"data_dir={tmp_path / 'data'}"]
    process = subprocess.Popen(command, cwd=tmp_path, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    last = results / "partial" / "synthetic" / "small_cnn" / "gmp"
    try:
        while process.poll() is None and not list(last.glob("seed1*/config.yaml")):
            time.sleep(0.02)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()
    (run_dir,) = last.glob("seed1*")
    (run_dir / RESULT_FILE).unlink(missing_ok=True)  # had the run won the race, this is the state a kill leaves
    done = subprocess.run(
        [sys.executable, "-m", "poolbench.report", str(results / "partial"), "--no-figures"],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "3 record(s) (3 ok), 0 unreadable, 1 missing" in done.stdout
    missing = pd.read_csv(results / "partial" / "report" / "missing.csv")
    assert list(zip(missing["head"], missing["seed"], missing["where"])) == [("gmp", 1, str(run_dir))]
