"""Bad input through the real CLI: one paragraph naming the key or file, the right exit code, no traceback, and
not one new or changed file in the results directory (or anywhere under the case's folder).

Each case runs the CLI's entry point (``poolbench.cli.main``, what ``python -m poolbench`` and the ``poolbench``
script call) in its own child process with its own argv, cwd and environment. The children are forked by
tests/cli_fork_server.py, which imports torch, Hydra and poolbench once, so 35 cases cost seconds instead of 35
interpreter starts; a few cases also go through ``python -m poolbench`` itself (``test_real_subprocess``).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from poolbench.record import read_result
from tests.conftest import cli_env, run_cli

pytestmark = pytest.mark.slow
needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="the case runner forks (POSIX only)")

SYNTHETIC = [
    "dataset=synthetic",
    "dataset.train_size=400",
    "dataset.test_size=200",
    "dataset.image_size=12",
    "backbone.widths=[8,16]",
    "trainer.batch_size=32",
]
HEAD_DIR = Path("results/default/synthetic/small_cnn/gap")


def base_arguments(root: Path) -> list[str]:
    return ["progress=false", "trainer.threads=1", "trainer.epochs=1", f"data_dir={root / 'data'}"]


def plain_run_dir(root: Path) -> Path:
    """Where a case with no arguments of its own runs: seed0 plus the hash of the overrides the table adds."""
    from poolbench.sweep.rundir import variant_suffix

    return root / HEAD_DIR / ("seed0" + variant_suffix([*SYNTHETIC, *base_arguments(root)]))


@dataclass
class Case:
    id: str
    args: list[str]
    code: int
    says: list[str]  # substrings the message must contain ("{root}" is the case's folder)
    setup: Callable[[Path], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    synthetic: bool = True


# ----------------------------------------------------------------------------------------------- fixtures on disk
def write_idx_header(path: Path, shape: tuple[int, ...], truncate_to: int | None = None) -> None:
    """An IDX header promising ``shape``, with a body cut to ``truncate_to`` bytes (zeros)."""
    header = bytes([0, 0, 0x08, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
    body_size = 1
    for n in shape:
        body_size *= n
    data = header + bytes(body_size if truncate_to is None else truncate_to)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def truncated_fashion_mnist(root: Path) -> None:
    raw = root / "data" / "FashionMNIST" / "raw"
    write_idx_header(raw / "train-images-idx3-ubyte", (60000, 28, 28), truncate_to=1000)
    write_idx_header(raw / "train-labels-idx1-ubyte", (60000,))
    write_idx_header(raw / "t10k-images-idx3-ubyte", (10000, 28, 28), truncate_to=10)
    write_idx_header(raw / "t10k-labels-idx1-ubyte", (10000,))


def truncated_cifar(root: Path) -> None:
    batches = root / "data" / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]:
        full = pickle.dumps({"data": bytes(3072 * 4), "labels": [0, 1, 2, 3]})
        (batches / name).write_bytes(full if name != "data_batch_3" else full[: len(full) // 2])
    (batches / "batches.meta").write_bytes(pickle.dumps({"label_names": [str(i) for i in range(10)]}))


def image_folder_with(broken: str | None = None, classes: tuple[str, ...] = ("cat", "dog")) -> Callable[[Path], None]:
    """Real PNG/JPEG class folders under ROOT/images, plus a damaged file at ``broken`` (relative), if any."""

    def setup(root: Path) -> None:
        from tests.test_image_folder import write_class_folders

        write_class_folders(root / "images", per_class=3, classes=classes)
        if broken is not None:
            (root / "images" / broken).write_bytes(b"\x89PNG\r\n\x1a\n truncated")

    return setup


IMAGE_FOLDER = ["dataset=image_folder", "dataset.root=images", "dataset.num_classes=2", "dataset.image_size=12"]


def in_run_dir(name: str, content: bytes) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        plain_run_dir(root).mkdir(parents=True)
        (plain_run_dir(root) / name).write_bytes(content)

    return setup


class Exploit:
    """A pickle that would run a shell command if a checkpoint were loaded with full pickle."""

    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


MARKER = Path(os.environ.get("TMPDIR", "/tmp")) / f"poolbench-pwned-{os.getpid()}"


def file_at(relative: str, content: bytes = b"not a folder") -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(content)

    return setup


CASES = [
    # --- config values (exit 2)
    Case("lr_zero", ["trainer.lr=0"], 2, ["trainer.lr=0", "> 0"]),
    Case("lr_not_a_number", ["trainer.lr=fast"], 2, ["trainer.lr='fast'", "a number"]),
    Case("batch_size_zero", ["trainer.batch_size=0"], 2, ["trainer.batch_size=0", "integer >= 1"]),
    Case("batch_size_float", ["trainer.batch_size=12.5"], 2, ["trainer.batch_size=12.5"]),
    Case("epochs_negative", ["trainer.epochs=-1"], 2, ["trainer.epochs=-1"]),
    Case("epochs_zero", ["trainer.epochs=0"], 2, ["trainer.epochs=0", "integer >= 1"]),
    Case("val_fraction_zero", ["dataset.val_fraction=0"], 2, ["dataset.val_fraction=0", "at least 4 validation"]),
    Case("gem_p_zero", ["head=gem", "head.p=0"], 2, ["head.p=0"]),
    Case("lse_r_negative", ["head=lse", "head.r=-1"], 2, ["head.r=-1"]),
    Case("val_fraction_one", ["dataset.val_fraction=1.0"], 2, ["dataset.val_fraction=1.0", "[0, 1)"]),
    Case("train_samples_too_many", ["dataset.train_samples=5000"], 2, ["dataset.train_samples=5000", "at most 360"]),
    Case("test_samples_too_many", ["dataset.test_samples=201"], 2, ["dataset.test_samples=201", "at most 200"]),
    Case("unknown_optimizer", ["trainer.optimizer=adam"], 2, ["trainer.optimizer='adam'", "sgd, adamw"]),
    Case("unknown_schedule", ["trainer.schedule=linear"], 2, ["trainer.schedule='linear'", "cosine"]),
    Case(
        "flatten_other_size",
        ["head=flatten", "dataset.eval_image_size=16"],
        2,
        ["dataset.eval_image_size=16", "flatten"],
    ),
    Case(
        "shift_beyond_image",
        ["dataset.eval_shifts=[2,12]"],
        2,
        ["dataset.eval_shifts=[2, 12]", "below the test image size (12)"],
    ),
    Case("shift_negative", ["dataset.eval_shifts=[-2]"], 2, ["dataset.eval_shifts=[-2]"]),
    Case("typo_added_key", ["+trainer.lrr=0.1"], 2, ["trainer.lrr", "did you mean trainer.lr=0.1"]),
    Case("typo_head_arg", ["head=gem", "+head.pp=2"], 2, ["head.pp", "did you mean head.p=2"]),
    Case("typo_key_hydra", ["trainer.lrr=0.1"], 2, ["trainer.lrr", "+trainer.lrr"]),
    Case("unknown_group_option", ["head=gapp"], 2, ["head/gapp", "Available options", "gem"]),
    Case("bad_override_syntax", ["trainer.lr=["], 2, ["override_grammar"]),
    Case("negative_seed", ["seed=-1"], 2, ["seed=-1"]),
    Case("device_unknown", ["trainer.device=tpu"], 2, ["trainer.device='tpu'"]),
    Case("mean_per_channel", ["dataset.mean=[0.5,0.5]"], 2, ["dataset.mean", "one value per channel"]),
    Case("backbone_depth_zero", ["backbone.depth=0"], 2, ["backbone.depth=0"]),
    Case("bad_interpolation", ["trainer.lr=${nowhere}"], 2, ["trainer.lr", "nowhere"]),
    Case("sweep_one_bad_job", ["-m", "trainer.lr=0.1,-1"], 2, ["trainer.lr=-1"]),
    # --- environment (exit 1)
    Case(
        "fashion_mnist_offline",
        ["dataset=fashion_mnist", "dataset.download=false"],
        1,
        ["FashionMNIST not found", "dataset-fashion-mnist", "data_dir="],
        env={"POOLBENCH_SYSTEM_FASHION_MNIST": ""},
        synthetic=False,
    ),
    Case(
        "fashion_mnist_truncated",
        ["dataset=fashion_mnist", "dataset.download=false"],
        1,
        ["train-images-idx3-ubyte", "truncated", "Delete"],
        setup=truncated_fashion_mnist,
        env={"POOLBENCH_SYSTEM_FASHION_MNIST": ""},
        synthetic=False,
    ),
    Case(
        "cifar10_offline",
        ["dataset=cifar10", "dataset.download=false"],
        1,
        ["CIFAR-10 not found", "cifar-10-python.tar.gz"],
        synthetic=False,
    ),
    Case(
        "cifar10_checksum",
        ["dataset=cifar10", "dataset.download=false"],
        1,
        ["data_batch_1", "MD5", "Delete"],
        setup=truncated_cifar,
        synthetic=False,
    ),
    Case(
        "cifar10_truncated_unverified",
        ["dataset=cifar10", "dataset.download=false", "dataset.verify_checksums=false"],
        1,
        ["data_batch_3", "truncated", "Delete"],
        setup=truncated_cifar,
        synthetic=False,
    ),
    Case(
        "image_folder_unreadable_image",
        IMAGE_FOLDER,
        1,
        ["Cannot read the image", "images/dog/broken.png", "replace or remove the file"],
        setup=image_folder_with(broken="dog/broken.png"),
        synthetic=False,
    ),
    Case(
        "image_folder_single_class",
        IMAGE_FOLDER,
        1,
        ["only the class folder 'cat'", "at least two classes"],
        setup=image_folder_with(classes=("cat",)),
        synthetic=False,
    ),
    Case(
        "image_folder_wrong_class_count",
        IMAGE_FOLDER,
        2,
        ["dataset.num_classes=2", "3: the class folders of", "(cat, dog, fox)", "set dataset.num_classes=3"],
        setup=image_folder_with(classes=("cat", "dog", "fox")),
        synthetic=False,
    ),
    Case(
        "image_folder_without_root",
        ["dataset=image_folder"],
        2,
        ["dataset.root", "required by dataset.kind=image_folder"],
        synthetic=False,
    ),
    Case("results_dir_is_a_file", [], 1, ["not a directory", "paths.results_dir"], setup=file_at("results")),
    Case(
        "data_dir_is_a_file",
        ["dataset=fashion_mnist"],
        1,
        ["data_dir=", "not a directory"],
        setup=file_at("data"),
        synthetic=False,
    ),
    Case("results_dir_not_writable", ["paths.results_dir=/proc/poolbench-results"], 1, ["not writable", "/proc"]),
    Case(
        "corrupt_checkpoint",
        [],
        1,
        ["checkpoint.pt", "unreadable", "it was not loaded", "delete it", "force=true"],
        setup=in_run_dir("checkpoint.pt", b"\x80garbage"),
    ),
    Case(
        "pickle_exploit_checkpoint",
        [],
        1,
        ["checkpoint.pt", "it was not loaded", "delete it", "force=true"],
        setup=in_run_dir("checkpoint.pt", pickle.dumps(Exploit())),
    ),
    Case(
        "corrupt_result_json", [], 1, ["result.json", "Delete"], setup=in_run_dir("result.json", b'{"status": "ok", ')
    ),
]


# ----------------------------------------------------------------------------------------------- running
def snapshot(root: Path) -> dict[str, tuple]:
    """Every file and folder under ``root`` with its size, mtime and content hash."""
    state: dict[str, tuple] = {}
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        if path.is_dir():
            state[relative + "/"] = ()
        else:
            stat = path.stat()
            state[relative] = (stat.st_size, stat.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
    return state


@dataclass
class Outcome:
    code: int
    stderr: str
    before: dict[str, tuple]
    after: dict[str, tuple]
    root: Path


def prepare_case(case: Case, root: Path) -> list[str]:
    """Make the case's folder (and its faulty files); return the CLI arguments."""
    root.mkdir(parents=True)
    if case.setup is not None:
        case.setup(root)
    base = base_arguments(root)
    if not any(arg.startswith("paths.results_dir=") for arg in case.args):
        base.append(f"paths.results_dir={root / 'results'}")
    flags = [arg for arg in case.args if arg.startswith("-")]
    overrides = [arg for arg in case.args if not arg.startswith("-")]
    return [*flags, *(SYNTHETIC if case.synthetic else []), *base, *overrides]


def run_all(cases: list[Case], base: Path) -> dict[str, Outcome]:
    """Run every case through tests/cli_fork_server.py (one child process per case) and snapshot around it."""
    jobs, befores = [], {}
    for case in cases:
        root = base / case.id
        args = prepare_case(case, root)
        befores[case.id] = snapshot(root)
        jobs.append(
            {"args": args, "cwd": str(root), "env": cli_env(**case.env), "output": str(base / f"{case.id}.out")}
        )
    (base / "jobs.json").write_text(json.dumps(jobs))
    server = Path(__file__).with_name("cli_fork_server.py")
    subprocess.run(
        [sys.executable, str(server), str(base / "jobs.json"), str(base / "codes.json")],
        env=cli_env(),
        check=True,
        timeout=900,
    )
    codes = json.loads((base / "codes.json").read_text())
    return {
        case.id: Outcome(
            code, (base / f"{case.id}.out").read_text(), befores[case.id], snapshot(base / case.id), base / case.id
        )
        for case, code in zip(cases, codes)
    }


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    MARKER.unlink(missing_ok=True)
    return run_all(CASES, tmp_path_factory.mktemp("bad_input"))


@needs_fork
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_reported_cleanly(case: Case, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[case.id]
    message = outcome.stderr
    assert outcome.code == case.code, message
    assert "Traceback" not in message, message
    for text in case.says:
        assert text.format(root=outcome.root) in message, f"{text!r} not in: {message}"
    changed = sorted(
        set(outcome.after) ^ set(outcome.before)
        | {k for k in outcome.after if outcome.before.get(k) != outcome.after[k]}
    )
    assert not changed, f"new or changed files: {changed}"


@needs_fork
def test_checkpoint_is_never_unpickled(outcomes: dict[str, Outcome]) -> None:
    assert outcomes["pickle_exploit_checkpoint"].code == 1
    assert not MARKER.exists(), "a checkpoint was loaded with full pickle"


@needs_fork
@pytest.mark.parametrize("case_id", ["corrupt_checkpoint", "pickle_exploit_checkpoint"])
def test_a_checkpoint_message_never_advises_unsafe_loading(case_id: str, outcomes: dict[str, Outcome]) -> None:
    """torch's own message suggests weights_only=False (running the file's code): never passed on."""
    message = outcomes[case_id].stderr
    assert "weights_only" not in message and "can still be loaded" not in message, message
    assert len(message.strip().splitlines()) == 1, message


@needs_fork
@pytest.mark.parametrize("case_id", ["epochs_zero", "val_fraction_zero"])
def test_a_degenerate_setting_is_one_line(case_id: str, outcomes: dict[str, Outcome]) -> None:
    assert outcomes[case_id].code == 2 and len(outcomes[case_id].stderr.strip().splitlines()) == 1


REAL_SUBPROCESS_CASES = ["lr_not_a_number", "unknown_group_option", "results_dir_is_a_file"]


@pytest.mark.parametrize("case_id", REAL_SUBPROCESS_CASES)
def test_real_subprocess(case_id: str, tmp_path: Path) -> None:
    """The same checks through ``python -m poolbench`` in a fresh interpreter."""
    case = next(c for c in CASES if c.id == case_id)
    args = prepare_case(case, tmp_path / case.id)
    before = snapshot(tmp_path / case.id)
    process = run_cli(args, cwd=tmp_path / case.id, env=cli_env(**case.env))
    assert process.returncode == case.code, process.stderr
    assert "Traceback" not in process.stderr and all(text in process.stderr for text in case.says), process.stderr
    assert snapshot(tmp_path / case.id) == before


@needs_fork
def test_valid_runs_still_get_hydra_records(tmp_path: Path) -> None:
    """The preflight must not cost valid runs anything: a run and a sweep keep Hydra's .hydra/ records."""
    cases = [Case("single", [], 0, []), Case("sweep", ["-m", "head=gap,gmp"], 0, [])]
    outcomes = run_all(cases, tmp_path)
    assert [outcomes[c.id].code for c in cases] == [0, 0], outcomes["single"].stderr + outcomes["sweep"].stderr
    single = plain_run_dir(tmp_path / "single")
    assert (single / ".hydra" / "config.yaml").is_file() and read_result(single).status == "ok"
    sweep = tmp_path / "sweep" / "results" / "default"
    assert (sweep / "multirun.yaml").is_file()
    for head in ("gap", "gmp"):
        (run_dir,) = (sweep / "synthetic" / "small_cnn" / head).glob("seed0*")
        assert (run_dir / ".hydra" / "overrides.yaml").is_file()
        assert read_result(run_dir).status == "ok"
