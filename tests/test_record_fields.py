"""One declaration per run-record field: a metric declared once reaches runs.csv, summary.csv, the Markdown and
LaTeX summary tables and the trackers; the claims' metric names are declared columns; the report says the setting
common to all its runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

import poolbench.record
from poolbench.record import CELL_TIMING_COLUMNS, RunRecord, record_fields, write_config, write_result
from poolbench.record.fields import ACCURACY, ROLES, Declared, declarations, declare
from poolbench.report.build import write_report
from poolbench.trackers.base import final_metrics

CLAIMS_PLAN = Path(poolbench.record.__file__).resolve().parents[1] / "conf" / "analysis" / "claims.yaml"
DERIVED_COLUMNS = tuple(CELL_TIMING_COLUMNS.values())  # poolbench-deploy's deploy_timing.json columns


@dataclass
class WithDummy(RunRecord):
    """The record with one more metric, declared as every field is: nothing else names it."""

    dummy_score: float | None = declare(
        "dummy score %", ACCURACY, "accuracy", "mean", ("summary", "trackers"), latex="Dummy\nscore (\\%)"
    )


def _write_runs(root: Path, epochs: int = 2) -> None:
    for head in ("gap", "gem"):
        for seed in (0, 1):
            run_dir = root / "fashion_mnist" / "small_cnn" / head / f"seed{seed}"
            config = {"seed": seed, "head": {"name": head}, "dataset": {"name": "fashion_mnist"}}
            config["trainer"] = {"epochs": epochs, "lr": 0.05, "batch_size": 128}
            write_config(run_dir, yaml.safe_dump(config))
            score = 0.5 + 0.1 * seed + (0.2 if head == "gem" else 0.0)
            record = WithDummy(
                "ok", f"{head}{seed}", "fashion_mnist", "small_cnn", head, seed, epochs, test_acc=0.8, dummy_score=score
            )
            record.params_total, record.params_head, record.params_backbone = 1000, 10, 990
            write_result(run_dir, record)


def test_a_metric_declared_once_reaches_every_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(poolbench.record, "RunRecord", WithDummy)  # the record type every reader uses
    _write_runs(tmp_path / "sweep")
    write_report([tmp_path / "sweep"], tmp_path / "out", figures=False)
    out = tmp_path / "out"
    runs = pd.read_csv(out / "runs.csv")
    assert sorted(runs["dummy_score"]) == pytest.approx([0.5, 0.6, 0.7, 0.8])
    summary = pd.read_csv(out / "summary.csv").set_index("head")
    assert summary.loc["gem", "dummy_score_mean"] == pytest.approx(0.75)
    assert summary.loc["gap", "dummy_score_std"] == pytest.approx(0.0707107, rel=1e-5)
    markdown = (out / "summary.md").read_text()
    assert "dummy score %" in markdown and "75.00 ± 7.07" in markdown
    latex = (out / "summary.tex").read_text()
    assert "Dummy" in latex and r"75.00\,$\pm$\,7.07" in latex
    record = WithDummy("ok", "k", "fashion_mnist", "small_cnn", "gap", 0, 1, dummy_score=0.25)
    assert final_metrics(record)["final_dummy_score"] == 0.25  # the trackers read the declaration too


def test_without_the_declaration_the_metric_is_nowhere(tmp_path: Path) -> None:
    """The check can fail: the plain record knows no dummy_score, so no table shows it."""
    _write_runs(tmp_path / "sweep")  # written with the field, read by the plain RunRecord
    write_report([tmp_path / "sweep"], tmp_path / "out", figures=False)
    assert "dummy_score" not in pd.read_csv(tmp_path / "out" / "runs.csv").columns
    assert "dummy" not in (tmp_path / "out" / "summary.md").read_text()


def test_every_record_field_is_declared_with_known_words() -> None:
    declared = record_fields()
    assert set(declared) == set(RunRecord.__dataclass_fields__)
    assert {item.role for item in declared.values()} <= set(ROLES)
    assert declared["test_acc"].ci and declared["overfit_acc"].aggregate == "mean"
    with pytest.raises(ValueError, match="known words"):
        Declared("x", ACCURACY, "measured")  # not a role
    with pytest.raises(ValueError, match="say how to aggregate"):
        Declared("x", ACCURACY, "accuracy", "none", ("summary",))  # a table shows aggregated values
    with pytest.raises(TypeError, match="without a declaration: plain"):

        @dataclass
        class Undeclared(RunRecord):
            plain: int | None = None

        declarations(Undeclared)


def test_the_claims_plan_names_declared_metrics_only() -> None:
    """Every metric of the analysis plan is a runs-frame column a declaration makes: a field, or FIELD_KEY of a
    {key: value} field, or a column of poolbench-deploy's timing."""
    plan = yaml.safe_load(CLAIMS_PLAN.read_text())
    metrics: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            metrics.update(str(v) for k, v in node.items() if k in ("metric", "minus") and v)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(plan)
    declared = record_fields()
    keyed = [name for name, item in declared.items() if item.keyed]
    unknown = [
        m
        for m in sorted(metrics)
        if m not in declared and m not in DERIVED_COLUMNS and not any(m.startswith(f"{k}_") for k in keyed)
    ]
    assert metrics and not unknown, unknown


def test_the_report_states_the_setting_common_to_all_runs(tmp_path: Path) -> None:
    _write_runs(tmp_path / "sweep", epochs=2)
    write_report([tmp_path / "sweep"], tmp_path / "out", figures=False)
    out = tmp_path / "out"
    line = "Setting (common to all 4 runs): dataset Fashion-MNIST; epochs 2; batch size 128; learning rate 0.05."
    assert line in (out / "report.md").read_text()
    assert (out / "summary.md").read_text().startswith(line)
    for name in ("main", "summary", "cost", "paired", "failed"):
        assert "epochs 2" in (out / f"{name}.tex").read_text(), name
    setting = pd.read_csv(out / "setting.csv").set_index("key")["value"]
    assert setting["trainer.epochs"] == "2" and "head.name" not in setting.index  # differs between runs


def test_every_figure_caption_states_the_setting(tmp_path: Path) -> None:
    from poolbench.report.canvas import FigureFile
    from poolbench.report.setting import write_figure_captions

    line = "Setting (common to all 4 runs): dataset Fashion-MNIST; epochs 2."
    figures = [
        FigureFile(kind, "Fashion-MNIST · Small CNN", tmp_path / f"{kind}.png", tmp_path / f"{kind}.pdf")
        for kind in ("accuracy_per_head", "learning_curves")
    ]
    text = write_figure_captions(figures, tmp_path, line).read_text()
    assert text.count(r"\caption{") == 2 and text.count("epochs 2.") == 2
    assert r"\begin{figure*}" in text and r"{figures/learning_curves.pdf}" in text  # 7 in wide: both columns
    assert r"Fashion-MNIST $\cdot$ Small CNN" in text and "±" not in text  # LaTeX, not display text
    assert write_figure_captions([], tmp_path, line) is None
