"""What a report is a report of: every config key whose value is the same in all of its runs.

A table of 2-epoch smoke runs and one of a full FashionMNIST sweep look alike; the common setting tells them
apart. ``setting.csv`` lists every common key (dotted, the resolved config's value; keys that change nothing
computed, ``poolbench.record.NON_SEMANTIC_KEYS``, are left out); report.md shows the line and the table, and the
line goes on top of summary.md and paired.md, into the caption of every LaTeX table and into every figure's
caption in ``figures/captions.tex`` (an ``\\includegraphics`` with its caption per figure, to paste).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from poolbench.atomic import atomic_write_text
from poolbench.report.aggregate import run_config
from poolbench.report.canvas import FigureFile
from poolbench.report.collect import Collection
from poolbench.report.latex import tex
from poolbench.report.names import NAMERS, key_name
from poolbench.report.variants import ABSENT, semantic_flat_config, value_text

# The keys of the one-line setting, in reading order (where common to all runs and set): what a reader needs to
# judge a number (how long, on how much data, how trained, in which precision).
LINE_KEYS = (
    "dataset.name",
    "backbone.name",
    "trainer.epochs",
    "dataset.train_samples",
    "dataset.val_fraction",
    "trainer.batch_size",
    "trainer.optimizer",
    "trainer.lr",
    "trainer.weight_decay",
    "trainer.schedule",
    "dataset.augment.crop_padding",
    "dataset.augment.flip",
    "precision",
)
LINE_NAMES = {"dataset.name": "dataset", "backbone.name": "backbone", "dataset.val_fraction": "validation fraction"}
ALL_TRAINING_IMAGES = "all"  # dataset.train_samples null: every training image (minus the validation split)


def common_setting(collection: Collection) -> dict[str, str]:
    """Every config key (and the precision the runs computed in) with one value across all runs that hold a
    config, in config order; {} when no run has one."""
    configs = [
        {
            **semantic_flat_config(run_config(run)),
            **({"precision": run.record.precision} if run.record.precision else {}),
        }
        for run in collection.runs
        if run_config(run)
    ]
    if not configs:
        return {}
    common: dict[str, str] = {}
    for key in configs[0]:
        values = {value_text(config.get(key)) for config in configs}
        if len(values) == 1 and key in configs[0]:
            common[key] = values.pop()
    return common


def _value(key: str, value: str) -> str:
    if key == "dataset.train_samples" and value == ABSENT:
        return ALL_TRAINING_IMAGES
    namer = NAMERS.get(key.split(".")[0]) if key.endswith(".name") else None
    return namer(value) if namer else value


def setting_line(common: dict[str, str], n_runs: int) -> str:
    """``Setting (common to all 12 runs): dataset Fashion-MNIST; epochs 2; ...``; "" when nothing is common."""
    parts = [
        f"{LINE_NAMES.get(key, key_name(key))} {_value(key, common[key])}"
        for key in LINE_KEYS
        if key in common and (common[key] != ABSENT or key == "dataset.train_samples")
    ]
    return f"Setting (common to all {n_runs} runs): " + "; ".join(parts) + "." if parts else ""


def setting_table(common: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({"key": list(common), "value": list(common.values())})


def setting_section(common: dict[str, str], line: str) -> list[str]:
    """report.md's section: the line, then every common key in a folded table (``setting.csv``)."""
    if not common:
        return ["## Setting", "", "No run holds its config.yaml, so the common setting is unknown.", ""]
    rows = "\n".join(f"| `{key}` | {_cell(value)} |" for key, value in common.items())
    return [
        "## Setting",
        "",
        line or "No key of the short setting is common to all runs (see the table).",
        "",
        f"<details><summary>All {len(common)} config keys common to every run (setting.csv)</summary>",
        "",
        "| key | value |",
        "|---|---|",
        rows,
        "",
        "</details>",
        "",
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def write_setting(common: dict[str, str], out: Path) -> None:
    atomic_write_text(out / "setting.csv", setting_table(common).to_csv(index=False))


# What each figure kind shows, for its caption; a kind not listed is captioned by its title alone.
FIGURE_CAPTIONS = {
    "accuracy_per_head": "Test accuracy per head, mean ± sample std over seeds (dots: single seeds)",
    "generalization_gap": "Generalization gap per head: train − test accuracy (pp), mean ± sample std over seeds",
    "learning_curves": "Learning curves per head: accuracy per epoch, train dashed, test solid",
    "gem_p": "GeM's learned p per epoch",
    "accuracy_vs_shift": "Test accuracy with the test images moved by N pixels (zero fill)",
    "accuracy_vs_params": "Test accuracy against total parameters (log scale)",
}
DOUBLE_COLUMN_KINDS = ("learning_curves",)  # 7 in wide: figure* in a two-column paper


def figure_caption(figure: FigureFile, setting: str) -> str:
    """``What it shows: panel title. Setting (common to all N runs): ...`` as LaTeX."""
    what = FIGURE_CAPTIONS.get(figure.kind, figure.kind.replace("_", " "))
    title = " ".join(figure.title.split())  # a wrapped title on one line
    return tex(f"{what}: {title}." + (f" {setting}" if setting else ""))


def write_figure_captions(figures: list[FigureFile], out: Path, setting: str) -> Path | None:
    """``figures/captions.tex``: per figure the LaTeX that places it with its caption (the setting included)."""
    if not figures:
        return None
    blocks = []
    for figure in figures:
        star = "*" if figure.kind in DOUBLE_COLUMN_KINDS else ""
        width = r"\textwidth" if star else r"\columnwidth"
        blocks.append(
            f"% {figure.pdf.name}\n\\begin{{figure{star}}}\\centering\\includegraphics[width={width}]"
            f"{{figures/{figure.pdf.name}}}\n\\caption{{{figure_caption(figure, setting)}}}\n\\end{{figure{star}}}\n"
        )
    path = out / "captions.tex"
    atomic_write_text(
        path, "% poolbench: the report's figures with captions. Needs \\usepackage{graphicx}.\n\n" + "\n".join(blocks)
    )
    return path
