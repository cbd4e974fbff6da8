"""The analysis plan as data: the shipped plan loads and names cells the claims grid runs; claims.md prints the
plan and its hash (sha256 of the canonical plan, blind to comments); ``poolbench-report DIR --plan FILE``
re-judges with an edited plan; a wrong plan field gets one message naming it; the files and figures the
verdict writes (readable size, titles inside the figure, one dot per seed)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from poolbench.config.presets import claims_presets
from poolbench.errors import ConfigError
from poolbench.report.claims.figures import claim_figure
from poolbench.report.claims.output import write_claims
from poolbench.report.claims.plan import default_plan_path, load_plan
from poolbench.report.collect import collect_runs
from poolbench.report.command import main as report_main
from tests.claims_records import endpoint, write_plan
from tests.conftest import compose_settings
from tests.test_claims import FOUR_VERDICTS, write_records


def grid_configs() -> list[dict[str, str]]:
    """The flattened config of every cell the claims presets sweep (their depth overrides too)."""
    from poolbench.config.run_folder import flatten
    from poolbench.report.variants import value_text

    configs = []
    for preset in claims_presets():
        params = yaml.safe_load((default_plan_path().parents[1] / "experiment" / f"{preset}.yaml").read_text())
        sweep = params["hydra"]["sweeper"]["params"]
        fixed = [f"{k}={v}" for k, v in sweep.items() if k not in ("claims_cell", "head", "seed")]
        for cell in str(sweep["claims_cell"]).split(","):
            settings = compose_settings([f"experiment={preset}", f"claims_cell={cell.strip()}", *fixed])
            flat = {k: value_text(v) for k, v in flatten(settings.resolved).items()}
            flat["dataset"] = settings.dataset.name
            configs.append(flat)
    return configs


def test_the_shipped_plan_loads_and_every_primary_selector_names_a_cell_the_grid_runs() -> None:
    plan = load_plan()
    assert [claim.id for claim in plan.claims] == ["1", "2", "3", "4", "5", "5b"]
    configs = grid_configs()
    for claim in plan.claims:
        for spec in claim.primary:
            for selector in (spec.cells, spec.versus or {}):
                hits = [c for c in configs if all(c.get(k) in values for k, values in selector.items())]
                assert hits, f"claim {claim.id}, {spec.name}: no grid cell has {dict(selector)}"
    assert all(sesoi.reason for sesoi in plan.sesois)


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
