"""Paper-ready LaTeX tables: every .tex a report writes compiles in a two-column article with real pdflatex, at
the width it claims (main.tex in \\columnwidth, the full tables in \\textwidth), and numbers read as a paper prints
them (display names, real minus signs, clipped CIs, fixed p-value digits)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_report import write_run

from poolbench.record import RESULT_FILE
from poolbench.report.build import write_report
from poolbench.report.formatting import ci_text, format_p, pct, signed_text
from poolbench.report.names import display_name, head_styles, latex_escape

PDFLATEX = shutil.which("pdflatex")
needs_pdflatex = pytest.mark.skipif(
    PDFLATEX is None, reason="pdflatex not installed (apt-get install texlive-latex-base texlive-latex-recommended)"
)
OVERFULL = re.compile(r"Overfull \\hbox \(([0-9.]+)pt too wide\)")
MAX_OVERFULL_PT = 1.0

# Seven heads as the reference sweep has them: (params_backbone, params_head) of small_cnn and mean accuracies.
REAL_HEADS = {
    "gap": (23408, 650, 0.8882),
    "gmp": (23408, 650, 0.9098),
    "gem": (23408, 651, 0.9089),
    "flatten": (23408, 31370, 0.9174),
    "avgmax": (23408, 650, 0.9097),
    "catavgmax": (23408, 1290, 0.9068),
    "lse": (23408, 650, 0.9106),
}
SEED_OFFSETS = (-0.0012, 0.0003, 0.0011)
LONG_ERROR = (
    "RuntimeError: CUDA out of memory while allocating /very/long/path/to/some_checkpoint_directory/"
    "resnet20_cifar10_seed_2/checkpoint.pt at epoch 17 of 30 (tried to allocate 2.00 GiB)"
)


def write_realistic_sweep(root: Path, seeds: tuple[int, ...] = (0, 1, 2)) -> Path:
    """7 heads x 3 seeds on Fashion-MNIST / Small CNN with the translation test (shifts 2, 4, 6 px), GeM learning p
    from 3.0, a CIFAR-10 / ResNet-20 panel (published reference value exists for GAP), a near-100 % head whose CI
    would run past 100, one failed run with a long error, and an unknown plugin head."""
    for head, (backbone_params, head_params, accuracy) in REAL_HEADS.items():
        for seed in seeds:
            acc = accuracy + SEED_OFFSETS[seed % 3]
            shifts = {"2": acc - 0.08, "4": acc - 0.15 - 0.01 * seed, "6": acc - 0.3}
            pool = {"gem_p": 5.9 + 0.05 * seed} if head == "gem" else None
            config = {"seed": seed, "jobs": 2, "head": {"name": head, "p": 3.0} if head == "gem" else {"name": head}}
            run_dir = write_run(root, head, seed, acc, shift_acc=shifts, pool_params=pool, config=config, epochs=5)
            set_params(run_dir, backbone_params, head_params)
    for index, (head, accuracy) in enumerate((("gap", 0.9112), ("gem", 0.9050), ("my_head", 0.9990))):
        for seed in seeds:
            acc = min(accuracy + (index + 1) * SEED_OFFSETS[(seed + index) % 3], 0.9999)
            run_dir = write_run(
                root,
                head,
                seed,
                acc,
                dataset="cifar10",
                backbone="resnet20",
                epochs=3,
                pool_params={"gem_p": 4.1} if head == "gem" else None,
                config={"seed": seed, "jobs": 1, "head": {"name": head}},
            )
            set_params(run_dir, 272_474 - 650, 650 + index)
    write_run(
        root,
        "flatten",
        3,
        None,
        status="failed",
        error=LONG_ERROR,
        config={"seed": 3, "jobs": 2, "head": {"name": "flatten"}},
    )
    return root


def set_params(run_dir: Path, backbone: int, head: int) -> None:
    record = json.loads((run_dir / RESULT_FILE).read_text())
    record.update(params_backbone=backbone, params_head=head, params_total=backbone + head)
    (run_dir / RESULT_FILE).write_text(json.dumps(record))


@pytest.fixture(scope="module")
def realistic_report(tmp_path_factory: pytest.TempPathFactory):
    root = write_realistic_sweep(tmp_path_factory.mktemp("realistic") / "sweep")
    return write_report([root], root.parent / "out", figures=False)


def compile_in_two_columns(tex_file: Path, width: str, work_dir: Path) -> tuple[int, str]:
    """pdflatex a two-column article holding ``tex_file`` in a table (``\\columnwidth``) or a table*
    (``\\textwidth``); returns (exit code, log text)."""
    environment = "table" if width == "column" else "table*"
    document = "\n".join(
        [
            r"\documentclass[twocolumn]{article}",
            *(
                line.removeprefix("% Needs in the preamble: ").rstrip(".").replace(", ", "\n")
                for line in tex_file.read_text().splitlines()
                if line.startswith("% Needs in the preamble:")
            ),
            r"\begin{document}",
            rf"\begin{{{environment}}}\centering",
            rf"\input{{{tex_file.as_posix()}}}",
            r"\caption{A table.}",
            rf"\end{{{environment}}}",
            "Text.",
            r"\end{document}",
        ]
    )
    source = work_dir / f"{tex_file.stem}_doc.tex"
    source.write_text(document)
    done = subprocess.run(
        [PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", source.name],
        cwd=work_dir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    log = source.with_suffix(".log")
    return done.returncode, log.read_text(errors="replace") if log.is_file() else done.stdout


def overfull_points(log: str) -> list[float]:
    return [float(points) for points in OVERFULL.findall(log)]


@needs_pdflatex
def test_every_tex_fits_its_width_in_a_two_column_article(realistic_report, tmp_path: Path) -> None:
    out = realistic_report.out_dir
    tex_files = sorted(out.glob("*.tex"))
    # no claims.tex: the claims read only the cells their plan declares (test_claims_plan compiles claims.tex)
    assert {f.stem for f in tex_files} == {"main", "summary", "cost", "paired", "failed", "shift"}
    for tex_file in tex_files:
        width = "column" if tex_file.stem == "main" else "text"
        assert (r"Fits \columnwidth" if width == "column" else r"Fits \textwidth") in tex_file.read_text()
        code, log = compile_in_two_columns(tex_file, width, tmp_path)
        assert code == 0, f"{tex_file.name} does not compile:\n{log[-3000:]}"
        too_wide = [points for points in overfull_points(log) if points > MAX_OVERFULL_PT]
        assert not too_wide, f"{tex_file.name} is {max(too_wide)} pt wider than \\{width}width"


REFERENCE_TEX = sorted((Path(__file__).resolve().parents[1] / "results" / "reference").glob("*/report/*.tex"))


@needs_pdflatex
@pytest.mark.parametrize("tex_file", REFERENCE_TEX, ids=lambda p: f"{p.parents[1].name}/{p.name}")
def test_committed_reference_tables_fit_too(tex_file: Path, tmp_path: Path) -> None:
    """The reference reports under results/reference (real runs) compile at their widths as well."""
    width = "column" if tex_file.stem == "main" else "text"
    code, log = compile_in_two_columns(tex_file, width, tmp_path)
    assert code == 0, log[-3000:]
    assert all(points <= MAX_OVERFULL_PT for points in overfull_points(log)), overfull_points(log)


@needs_pdflatex
def test_the_width_check_catches_a_table_that_is_too_wide(tmp_path: Path) -> None:
    """The check above is real: a 17-column table of the old kind is reported as overfull."""
    wide = tmp_path / "wide.tex"
    cells = " & ".join(["fashion\\_mnist 88.82 $\\pm$ 0.04"] * 17)
    wide.write_text(
        "% Needs in the preamble: \\usepackage{booktabs}.\n"
        f"\\begin{{tabular}}{{{'l' * 17}}}\n\\toprule\n{cells} \\\\\n\\bottomrule\n\\end{{tabular}}\n"
    )
    code, log = compile_in_two_columns(wide, "text", tmp_path)
    assert code == 0 and max(overfull_points(log)) > 500


def test_every_tex_names_its_packages_and_shows_paper_numbers(realistic_report) -> None:
    out = realistic_report.out_dir
    for tex_file in out.glob("*.tex"):
        head = tex_file.read_text().splitlines()[:4]
        assert any(line.startswith("% Needs in the preamble: \\usepackage{booktabs}") for line in head), tex_file
    main = (out / "main.tex").read_text()
    assert "Fashion-MNIST" in main and "Small CNN" in main and "CIFAR-10" in main and "ResNet-20" in main
    assert "Flatten + FC" in main and "fashion\\_mnist" not in main and "small\\_cnn" not in main
    assert "my\\_head" in main  # unknown id: itself, escaped
    assert "$<$0.001" in main  # p below 0.001
    summary = (out / "summary.tex").read_text()
    assert "100.00]" in summary and not re.search(r"10[1-9]\.\d\d\]", summary)  # CI clipped at 100 %
    assert "Published" in summary and "91.25" in summary  # ResNet-20 + GAP on CIFAR-10: He et al. 2016
    assert "Published: 0.27M params; 164 epochs" in summary  # the published setting, in the suggested caption
    paired = (out / "paired.tex").read_text()
    assert "$-$" in paired  # GeM is below GAP on CIFAR-10: a real minus sign
    assert re.search(r"(?<![$\w])-\d", paired.replace("$-$", "")) is None  # no hyphen used as a minus
    failed = (out / "failed.tex").read_text()
    assert "\\parbox" in failed and "CUDA out of memory" in failed
    markdown = (out / "summary.md").read_text()
    assert "Published acc % (setting)".lower() in markdown.lower() and "He et al. 2016" in markdown
    assert "generalization gap pp" in markdown and "gap acc" not in markdown


def test_number_formats() -> None:
    assert signed_text(-1.5, 2) == "\u22121.50" and signed_text(1.5, 2, plus=True) == "+1.50"
    assert signed_text(-0.001, 2) == "0.00"  # rounds to zero: no sign
    assert pct(-0.0123) == "\u22121.23"
    assert format_p(0.5) == "0.50" and format_p(0.0066) == "0.0066" and format_p(0.00099) == "<0.001"
    assert format_p(0.001) == "0.0010" and format_p(1.0) == "1.0" and format_p(float("nan")) == "—"
    assert format_p(0.04449) == "0.044"
    assert ci_text(0.8079, 1.1054) == "[80.79, 100.00]"
    assert ci_text(-0.02, 0.03) == "[0.00, 3.00]"
    assert ci_text(-0.02, 0.03, bounds=(-1.0, 1.0)) == "[\u22122.00, 3.00]"


def test_names_and_styles_come_from_one_mapping() -> None:
    assert [
        display_name(i) for i in ("gap", "gmp", "gem", "flatten", "fashion_mnist", "cifar10", "resnet20", "small_cnn")
    ] == ["GAP", "GMP", "GeM", "Flatten + FC", "Fashion-MNIST", "CIFAR-10", "ResNet-20", "Small CNN"]
    assert display_name("my_head") == "my_head" and latex_escape("my_head&50%") == "my\\_head\\&50\\%"
    one = head_styles(["gap", "plugin_a"])
    both = head_styles(["gap", "gem", "plugin_a", "plugin_b", "zzz"])
    assert one["gap"] == both["gap"] and one["plugin_a"] == both["plugin_a"]  # keyed by name, not position
    assert len({(s.color, s.marker) for s in both.values()}) == len(both)  # no two heads alike


FLOAT_TOO_LARGE = re.compile(r"Float too large for page by ([0-9.]+)pt")


def write_ten_settings(root: Path) -> Path:
    """4 heads x 3 seeds in 10 settings, as the claims sweep has them: nine train-sample counts, and one
    setting whose configs do not set the key at all (it does not apply there)."""
    for index, samples in enumerate((*range(1000, 10000, 1000), None)):
        for head in ("gap", "gmp", "gem", "flatten"):
            for seed in (0, 1, 2):
                dataset = {"train_samples": samples} if samples is not None else {}
                config = {"seed": seed, "dataset": dataset, "head": {"name": head}}
                run_dir = write_run(root / f"s{index}", head, seed, 0.8 + 0.01 * index + 0.003 * seed, config=config)
                record = json.loads((run_dir / RESULT_FILE).read_text())
                (run_dir / RESULT_FILE).write_text(json.dumps({**record, "run_key": f"{head}{seed}-{index}"}))
    return root


@needs_pdflatex
def test_a_table_taller_than_a_page_is_cut_into_parts_that_fit(tmp_path: Path) -> None:
    root = write_ten_settings(tmp_path / "runs")
    out = write_report([root], tmp_path / "out", figures=False).out_dir
    parts = sorted(out.glob("main*.tex"))
    assert [p.name for p in parts][:2] == ["main.tex", "main_part2.tex"], parts
    text = "".join(part.read_text() for part in parts)
    assert text.count("train samples = ") == 9 and "= ---" not in text  # no heading for a key that does not apply
    assert text.count(r"\textit{Fashion-MNIST $\cdot$ Small CNN}") == 1
    for tex_file in [*parts, *out.glob("summary*.tex"), *out.glob("paired*.tex")]:
        width = "column" if tex_file.stem.startswith("main") else "text"
        code, log = compile_in_two_columns(tex_file, width, tmp_path)
        assert code == 0, log[-3000:]
        assert not FLOAT_TOO_LARGE.findall(log), f"{tex_file.name}: {FLOAT_TOO_LARGE.findall(log)} pt too tall"
        assert all(points <= MAX_OVERFULL_PT for points in overfull_points(log)), tex_file.name


def test_a_long_head_name_takes_two_lines_in_the_head_column() -> None:
    from poolbench.report.latex import head_cell

    assert head_cell("GAP") == "GAP"
    assert head_cell("Flatten + FC") == "Flatten + FC"
    two = head_cell("Flatten + dropout + FC")
    assert two.startswith(r"\begin{tabular}[t]") and r"Flatten +\\{}dropout + FC" in two
