"""The analysis plan as data: the shipped plan loads and names cells the claims grid runs; claims.md prints the
plan and its hash (sha256 of the canonical plan, blind to comments); ``poolbench-report DIR --plan FILE``
re-judges with an edited plan; a wrong plan field gets one message naming it; the files and figures the
verdict writes (readable size, titles inside the figure, one dot per seed)."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from poolbench.errors import ConfigError
from poolbench.report.claims.figures import claim_figure
from poolbench.report.claims.output import write_claims
from poolbench.report.claims.plan import default_plan_path
from poolbench.report.claims.plan_load import load_plan
from poolbench.report.collect import collect_runs
from poolbench.report.command import main as report_main
from tests.claims_records import endpoint, write_plan
from tests.conftest import compose_settings
from tests.test_claims import FOUR_VERDICTS, write_records

SEED = Path(__file__).parent / "data" / "seed.txt"  # the claims' source text, as the project was given it


def grid_runs(folders: tuple[str, ...] = ("claims",)) -> list[tuple[dict[str, str], str, int]]:
    """(flattened config, head, seed) of every run ``make claims`` sweeps into results/claims/ (its presets,
    overrides included; the robustness presets write to results/claims_robust/, which the verdict never reads)."""
    from poolbench.config.run_folder import flatten
    from poolbench.report.variants import value_text
    from tests.test_claims_grid import CLAIMS_PRESETS, params

    runs = []
    for preset in CLAIMS_PRESETS:
        if compose_settings([f"experiment={preset}"]).name not in folders:
            continue
        sweep = params(preset)
        axes = [[f"{k}={v}" for v in values] for k, values in sweep.items() if k not in ("head", "seed")]
        for overrides in itertools.product(*axes):
            settings = compose_settings([f"experiment={preset}", *overrides])
            flat = {k: value_text(v) for k, v in flatten(settings.resolved).items()}
            flat["dataset"], flat["backbone"] = settings.dataset.name, str(settings.backbone["name"])
            runs += [(flat, head, int(seed)) for head in sweep["head"] for seed in sweep["seed"]]
    return runs


def test_the_shipped_plan_declares_the_grid_make_claims_runs() -> None:
    """Every declared cell (``$real``: FashionMNIST in make claims) is one configuration the presets run, with at
    least its declared heads x seeds; no two cells are the same configuration."""
    plan = load_plan()
    assert [claim.id for claim in plan.claims] == ["1", "2", "3", "4", "5", "5b"]
    runs = grid_runs()
    matched = []
    for cell in plan.cells:
        pins = {k: ("fashion_mnist" if v == "$real" else v) for k, v in cell.pins.items()}
        hits = [(c, h, s) for c, h, s in runs if all(c.get(k) == v for k, v in pins.items())]
        configs = {tuple(sorted((k, v) for k, v in c.items() if k != "seed")) for c, _, _ in hits}
        assert len(configs) == 1, f"cell {cell.name}: {len(configs)} configurations match its pins"
        ran = {(h, s) for _, h, s in hits}
        assert {(h, s) for h, n in cell.heads.items() for s in range(n)} <= ran, cell.name
        matched.append(configs.pop())
    assert len(set(matched)) == len(matched)
    assert all(sesoi.reason for sesoi in plan.sesois)


def test_each_claim_quotes_the_seed_whole_and_each_primary_names_its_phrase() -> None:
    """The words are the seed's full sentences, verbatim; claim 2 has its accuracy-gap, loss-gap and
    easier-to-train parts; claim 4 its in-distribution accuracy and both paddings; claim 5 its memory, compute and
    native-size accuracy parts and no input-size primary."""
    seed = " ".join(SEED.read_text(encoding="utf-8").split())
    plan = load_plan()
    for claim in plan.claims:
        assert claim.words in seed, claim.id
        assert claim.words.endswith(".") and claim.words[0].isupper()  # whole sentences
        assert all(spec.phrase and spec.phrase in claim.words for spec in claim.primary)
    claims = {claim.id: claim for claim in plan.claims}
    metrics = {key: [spec.metric for spec in claim.primary] for key, claim in claims.items()}
    assert metrics["2"] == ["overfit_acc", "overfit_loss", "epochs_to_train_acc_90"] and claims["2"].combine == "all"
    assert {"model_bytes", "macs_per_image", "test_acc"} <= set(metrics["5"])
    assert not any(m.startswith("size_acc") for m in metrics["5"])
    [native] = [s for s in claims["5"].primary if s.metric == "test_acc"]
    assert native.direction == "noninferior" and native.against == "flatten" and native.sesoi.reason
    assert [s.direction for s in claims["4"].primary if s.effect == "difference" and not s.minus] == ["noninferior"]
    assert {s.cells[0] for s in claims["4"].primary if s.effect == "interaction"} == {"presence", "presence_zeros"}
    assert claims["3"].combine == "any" and all(spec.cells == ("presence",) for spec in claims["3"].primary)


def canonical(path: Path) -> str:
    data = yaml.safe_load(path.read_text())
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def test_claims_md_prints_the_plan_and_its_hash_and_comments_do_not_change_it(tmp_path: Path) -> None:
    plan_path = write_plan(tmp_path / "plan.yaml", FOUR_VERDICTS)
    result = write_claims(collect_runs([write_records(tmp_path / "runs")]), tmp_path / "out", False, plan_path)
    assert result is not None
    text = (tmp_path / "out" / "claims.md").read_text()
    assert f"sha256 `{canonical(plan_path)}`" in text
    assert text.index("## Analysis plan") < text.index("## Verdict, one row per claim")  # the plan comes first
    assert "`accuracy` = 1 pp: one point" in text  # each SESOI with its reason
    commented = tmp_path / "commented.yaml"
    commented.write_text("# another comment\n" + plan_path.read_text())
    assert load_plan(commented).sha256 == load_plan(plan_path).sha256


def test_report_cli_rejudges_with_an_edited_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Widen claim A's SESOI to 10 pp: +5.5 +- 0.5 pp is now negligible (inside +-10 pp), and the hash changes."""
    runs = write_records(tmp_path / "runs")
    first = write_plan(tmp_path / "a.yaml", FOUR_VERDICTS)
    data = yaml.safe_load(first.read_text())
    data["sesoi"]["wide"] = {"value": 0.10, "unit": "pp", "reason": "ten points"}
    data["claims"][0]["primary"][0]["sesoi"] = "wide"
    edited = tmp_path / "b.yaml"
    edited.write_text(yaml.safe_dump(data))
    verdicts = {}
    for name, plan in (("a", first), ("b", edited)):
        code = report_main([str(runs), "--out", str(tmp_path / name), "--plan", str(plan), "--no-figures"])
        assert code == 0
        summary = pd.read_csv(tmp_path / name / "claims.csv", dtype={"claim": str}).set_index("claim")
        verdicts[name] = summary.loc["A", "verdict"]
        assert canonical(plan) in (tmp_path / name / "claims.md").read_text()
    assert verdicts == {"a": "supported", "b": "negligible"}


def test_a_wrong_plan_field_is_named_with_its_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    claims = [{"id": "A", "words": "x", "primary": [endpoint("acc", direction="bigger")]}]
    plan = write_plan(tmp_path / "plan.yaml", claims)
    with pytest.raises(ConfigError, match=r"claims\[0\]\.primary\[0\]\.direction='bigger'.*greater, less"):
        load_plan(plan)
    runs = write_records(tmp_path / "runs")
    assert report_main([str(runs), "--out", str(tmp_path / "out"), "--plan", str(plan), "--no-figures"]) == 2
    message = capsys.readouterr().err
    assert "Invalid analysis plan" in message and "Fix: edit" in message and "Traceback" not in message
    wrong_unit = [{"id": "A", "words": "x", "primary": [endpoint("p", metric="params_total", effect="reduction")]}]
    with pytest.raises(ConfigError, match=r"sesoi='accuracy'.*unit \('%'\)"):
        load_plan(write_plan(tmp_path / "unit.yaml", wrong_unit))


def test_the_plan_hash_covers_the_grid_and_the_robustness_section(tmp_path: Path) -> None:
    """Adding a seed, pinning a cell elsewhere or adding a robustness level is a new plan (a new hash)."""
    shipped = yaml.safe_load(default_plan_path().read_text())
    base = load_plan(default_plan_path()).sha256

    def sha_of(data: dict) -> str:
        path = tmp_path / "edited.yaml"
        path.write_text(yaml.safe_dump(data))
        return load_plan(path).sha256

    assert sha_of(shipped) == base
    more_seeds = yaml.safe_load(default_plan_path().read_text())
    more_seeds["cells"]["fmnist_1k"]["seeds"] = 10
    repinned = yaml.safe_load(default_plan_path().read_text())
    repinned["cells"]["presence"]["pins"]["backbone.depth"] = 2
    robust = yaml.safe_load(default_plan_path().read_text())
    robust.pop("robustness")
    robust_more = yaml.safe_load(default_plan_path().read_text())
    decay = next(f for f in robust_more["robustness"]["factors"] if f["name"] == "weight decay")
    decay["levels"].append({"name": "1e-2", "pins": {"trainer.weight_decay": 0.01}})
    hashes = {base, *(sha_of(d) for d in (more_seeds, repinned, robust, robust_more))}
    assert len(hashes) == 5
    section = load_plan(tmp_path / "edited.yaml").robustness  # read, every field checked
    assert section is not None and "1e-2" in [level.name for level in section.factor("weight decay").levels]


def shipped_with(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(default_plan_path().read_text())
    edit(data)
    path = tmp_path / "my_plan.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def four_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_records(tmp_path_factory.mktemp("records") / "runs")


@pytest.mark.parametrize(
    ("edit", "field", "says"),
    [
        (
            lambda d: d["claims"][0]["primary"][0].update(metric="params_heads"),
            r"primary\[0\]\.metric='params_heads'",
            "runs-frame column",
        ),
        (
            lambda d: d["claims"][1]["primary"][0].update(minus="shift_acc_x"),
            r"primary\[0\]\.minus='shift_acc_x'",
            "runs-frame column",
        ),
        (
            lambda d: d["cells"]["fmnist_1k"]["pins"].update({"dataset.train_sample": 1000}),
            r"cells\.fmnist_1k\.pins\.dataset\.train_sample=1000",
            "a config key",
        ),
        (
            lambda d: d["cells"]["fmnist_1k"]["pins"].update({"backbone.depth": "two"}),
            r"cells\.fmnist_1k\.pins\.backbone\.depth='two'",
            "kind its config has",
        ),
        (
            lambda d: d["cells"]["presence"]["pins"].update(dataset="probe_presense"),
            r"dataset='probe_presense'",
            "conf/dataset",
        ),
        (lambda d: d["cells"]["fmnist_1k"]["pins"].update(dataset="$mine"), r"dataset='\$mine'", "or $real"),
        (lambda d: d["claims"][1]["primary"][0].update(directon="less"), r"primary\[0\]\.directon='less'", "keys name"),
        (lambda d: d.update(alpah=0.05), r"alpah=0\.05", "keys alpha"),
        (lambda d: d["cells"]["presence"].update(head=["gap"]), r"cells\.presence\.head=", "keys pins"),
        (
            lambda d: d["claims"][0]["primary"][0].update(cell="fmnist_2k"),
            r"primary\[0\]\.cell='fmnist_2k'",
            "declared",
        ),
        (lambda d: d["claims"][0]["primary"][0].update(head="gapp"), r"primary\[0\]\.head='gapp'", "conf/head"),
        (lambda d: d["claims"][0].update(combine="both"), r"claims\[0\]\.combine='both'", "all"),
        (
            lambda d: d["claims"][0]["primary"][0].update(phrase="removes flattening"),
            r"phrase='removes flattening'",
            "verbatim",
        ),
        (
            lambda d: d["claims"][3]["secondary"][0].update(cells=["fmnist_2k"]),
            r"secondary\[0\]\.cells='fmnist_2k'",
            "declared",
        ),
        (lambda d: d["cells"]["presence_zeros"].update(heads=["gap"]), r"primary\[3\]\.head='flatten'", "heads cell"),
    ],
)
def test_an_edited_plan_with_a_wrong_field_is_refused_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], four_runs: Path, edit, field: str, says: str
) -> None:
    """A misspelt metric, cell key, field or head, an undeclared cell, a phrase not in the seed's words: each is
    refused before anything is read, with one line naming the field and the fix (exit 2), never ignored."""
    plan = shipped_with(tmp_path, edit)
    with pytest.raises(ConfigError, match=field) as caught:
        load_plan(plan)
    assert says in str(caught.value) and "Fix:" in str(caught.value)
    if "params_heads" in field or "train_sample" in field or "directon" in field:
        assert re.search(r"did you mean (params_head|dataset\.train_samples|direction)\?", str(caught.value))
    assert report_main([str(four_runs), "--out", str(tmp_path / "out"), "--plan", str(plan), "--no-figures"]) == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1 and "Invalid analysis plan" in message and "Traceback" not in message
    assert not (tmp_path / "out" / "claims.md").exists()


def test_a_plan_that_does_not_exist_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], four_runs: Path
) -> None:
    missing = tmp_path / "missing.yaml"
    assert report_main([str(four_runs), "--out", str(tmp_path / "out"), "--plan", str(missing), "--no-figures"]) == 2
    message = capsys.readouterr().err
    assert "does not exist" in message and "missing.yaml" in message and "edit" not in message


def test_respecify_re_decides_every_primary_in_another_cell(tmp_path: Path) -> None:
    """The robustness map's entry point: the same plan with a cell pinned elsewhere decides its primaries there
    (the fashion cell moved to 3k images: the records have none, so every primary on it is not measured)."""
    from poolbench.report.claims.plan_load import respecify
    from tests.test_claims import judge_plan

    plan = load_plan(write_plan(tmp_path / "plan.yaml", FOUR_VERDICTS))
    root = write_records(tmp_path / "runs")
    assert judge_plan(root, plan)["A"].verdict == "supported"
    moved = respecify(plan, {"fashion": {"dataset.train_samples": 3000}})
    assert moved.sha256 == plan.sha256 and moved.cell("fashion").pins["dataset.train_samples"] == "3000"
    verdicts = judge_plan(root, moved)
    assert verdicts["A"].verdict == "not measured" and "fashion: no runs with its pins" in verdicts["A"].primary[0].note
    assert verdicts["C"].verdict == "negligible"  # the other cells are as they were
    with pytest.raises(ConfigError, match="cells.nowhere"):
        respecify(plan, {"nowhere": {"backbone.depth": 2}})


def test_claim_figures_show_the_primary_endpoints_with_one_dot_per_seed_and_unclipped_titles(tmp_path: Path) -> None:
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PathCollection
    from matplotlib.text import Text

    from poolbench.report.canvas import MIN_FONT_PT, SINGLE_COLUMN_IN, style_path

    result = write_claims(
        collect_runs([write_records(tmp_path / "runs")]),
        tmp_path / "out",
        False,
        write_plan(tmp_path / "p.yaml", FOUR_VERDICTS),
    )
    assert result is not None
    with matplotlib.style.context(style_path()):
        for item in result.verdicts:
            figure = claim_figure(item)
            assert figure is not None
            width, height = figure.get_size_inches()
            assert width == SINGLE_COLUMN_IN and height <= 0.5 + 1.1 * len(item.primary)
            canvas = FigureCanvasAgg(figure)
            canvas.draw()
            renderer = canvas.get_renderer()
            box = figure.bbox
            titles = [figure._suptitle, *(a.title for a in figure.axes), *(a.xaxis.label for a in figure.axes)]
            for text in [t for t in titles if t is not None and t.get_text().strip()]:
                extent = text.get_window_extent(renderer)
                assert extent.x0 >= box.x0 - 1 and extent.x1 <= box.x1 + 1, (item.claim.id, text.get_text())
                assert extent.y0 >= box.y0 - 1 and extent.y1 <= box.y1 + 1, (item.claim.id, text.get_text())
            for text in [t for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip()]:
                assert text.get_fontsize() >= MIN_FONT_PT
            dots = list(figure.findobj(PathCollection))
            if not item.primary[0].estimate.exact:
                assert sum(len(c.get_offsets()) for c in dots) == 5  # one per seed
    files = write_claims(collect_runs([tmp_path / "runs"]), tmp_path / "figs", True, tmp_path / "p.yaml")
    assert files is not None and {f.kind for f in files.figures} == {f"claim_{c}" for c in "ABCDE"}
    png = (tmp_path / "figs" / "figures" / "claim_E.png").read_bytes()
    w, h = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert w < 1200 and h < 1200, (w, h)


def test_claims_tex_compiles_and_fits_the_text_width(tmp_path: Path) -> None:
    from tests.test_report_latex import MAX_OVERFULL_PT, PDFLATEX, compile_in_two_columns, overfull_points

    if PDFLATEX is None:
        pytest.skip("pdflatex not installed (apt-get install texlive-latex-base texlive-latex-recommended)")
    plan = write_plan(tmp_path / "p.yaml", FOUR_VERDICTS)
    assert write_claims(collect_runs([write_records(tmp_path / "runs")]), tmp_path / "out", False, plan)
    code, log = compile_in_two_columns(tmp_path / "out" / "claims.tex", "text", tmp_path)
    assert code == 0, log[-3000:]
    assert all(points <= MAX_OVERFULL_PT for points in overfull_points(log)), overfull_points(log)
    assert re.search(r"supported", (tmp_path / "out" / "claims.tex").read_text())
