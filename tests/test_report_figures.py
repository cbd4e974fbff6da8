"""Figures at print size: one colour and marker per head in every figure, fonts >= 7 pt at the width they are
made at (3.4 in or 7 in, saved at exactly that size), honest n, GeM p from its initial value, no hidden points."""

from __future__ import annotations

import json
import struct
from collections import defaultdict
from pathlib import Path

import matplotlib.colors
import matplotlib.style
import pytest
from matplotlib.collections import Collection
from matplotlib.lines import Line2D
from matplotlib.text import Text
from test_report import write_run
from test_report_latex import REAL_HEADS, write_realistic_sweep

from poolbench.record import RESULT_FILE
from poolbench.report.aggregate import auto_group_keys, deduplicate, runs_frame
from poolbench.report.build import write_report
from poolbench.report.canvas import DOUBLE_COLUMN_IN, MIN_FONT_PT, SINGLE_COLUMN_IN, save_figure, slug, style_path
from poolbench.report.collect import collect_runs
from poolbench.report.curves import curves_frame
from poolbench.report.figures import build_figures
from poolbench.report.names import HEAD_STYLES, head_styles
from poolbench.report.shift import shift_table
from poolbench.report.summary import summary_table


def built_figures(root: Path):
    collection = collect_runs([root])
    extra = auto_group_keys(collection)
    runs, _ = deduplicate(runs_frame(collection, extra), extra)
    return build_figures(
        summary_table(runs, extra), runs, curves_frame(collection, runs, extra), extra, shift_table(runs, extra)
    )


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory):
    return built_figures(write_realistic_sweep(tmp_path_factory.mktemp("figs") / "sweep"))


def head_artists(figure) -> list[tuple[str, object]]:
    return [
        (artist.get_gid()[len("head:") :], artist)
        for artist in figure.findobj()
        if isinstance(artist.get_gid(), str) and artist.get_gid().startswith("head:")
    ]


def colours_of(artist) -> set[str]:
    """Every colour an artist paints with (line, marker face/edge, collection face/edge), as #rrggbb."""
    found = []
    if isinstance(artist, Line2D):
        found += [artist.get_color(), artist.get_markerfacecolor(), artist.get_markeredgecolor()]
    elif isinstance(artist, Collection):
        found += list(artist.get_facecolors()) + list(artist.get_edgecolors())
    return {
        matplotlib.colors.to_hex(c)
        for c in found
        if not (isinstance(c, str) and c == "none") and matplotlib.colors.to_rgba(c)[3] > 0
    }


def test_each_head_has_one_colour_and_marker_in_every_figure(figures) -> None:
    colours: dict[str, set[str]] = defaultdict(set)
    markers: dict[str, set[str]] = defaultdict(set)
    heads_per_figure = []
    for item in figures:
        artists = head_artists(item.figure)
        heads_per_figure.append({head for head, _ in artists})
        for head, artist in artists:
            colours[head] |= colours_of(artist)
            if isinstance(artist, Line2D) and artist.get_marker() not in (
                None,
                "None",
                "",
                "|",
                "_",
            ):  # not caps or ticks
                markers[head].add(artist.get_marker())
    kinds = {item.kind for item in figures}
    assert kinds == {
        "accuracy_per_head",
        "generalization_gap",
        "learning_curves",
        "gem_p",
        "accuracy_vs_params",
        "accuracy_vs_shift",
    }
    # CIFAR-10 panels hold 3 heads, Fashion-MNIST 7: a position-based palette would recolour them
    assert {"gap", "gem", "my_head"} in heads_per_figure and set(REAL_HEAD_NAMES) in heads_per_figure
    styles = head_styles(colours)
    for head, seen in colours.items():
        assert seen == {styles[head].color.lower()}, f"{head} is drawn in {seen}"
        assert markers[head] <= {styles[head].marker}, f"{head} uses markers {markers[head]}"
    assert len({styles[h].color for h in colours}) == len(colours)  # and no two heads share a colour


REAL_HEAD_NAMES = ("gap", "gmp", "gem", "flatten", "avgmax", "catavgmax", "lse")


def test_known_heads_keep_their_okabe_ito_colour(figures) -> None:
    assert HEAD_STYLES["gap"].color == "#000000" and HEAD_STYLES["gem"].color == "#0072B2"
    for item in figures:
        for head, artist in head_artists(item.figure):
            if head in HEAD_STYLES:
                assert colours_of(artist) <= {HEAD_STYLES[head].color.lower()}


def test_fonts_and_widths_at_print_size(figures, tmp_path: Path) -> None:
    for item in figures:
        width, _ = item.figure.get_size_inches()
        assert width in (SINGLE_COLUMN_IN, DOUBLE_COLUMN_IN), (item.kind, width)
        texts = [t for t in item.figure.findobj(Text) if t.get_visible() and t.get_text().strip()]
        assert texts
        small = [(t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() < MIN_FONT_PT]
        assert not small, f"{item.kind}: text below {MIN_FONT_PT} pt: {small}"
    assert {item.figure.get_size_inches()[0] for item in figures if item.kind == "learning_curves"} == {7.0}


def test_saved_files_are_exactly_the_print_width(tmp_path: Path) -> None:
    """No tight bounding box: the PNG is width x 300 dpi pixels wide, the PDF page width x 72 pt."""
    root = tmp_path / "sweep"
    for head in ("gap", "gem"):
        for seed in (0, 1, 2):
            write_run(root, head, seed, 0.8 + 0.01 * seed, pool_params={"gem_p": 3.5} if head == "gem" else None)
    result = write_report([root], tmp_path / "out")
    for figure in result.figures:
        png = figure.png.read_bytes()
        width_px = struct.unpack(">I", png[16:20])[0]
        pdf = figure.pdf.read_bytes()
        media = pdf[pdf.index(b"/MediaBox") :].split(b"]")[0].split(b"[")[1].split()
        width_pt = float(media[2]) - float(media[0])
        assert width_px / 300 == pytest.approx(width_pt / 72, abs=0.01)
        assert width_pt / 72 in (pytest.approx(SINGLE_COLUMN_IN, abs=0.01), pytest.approx(DOUBLE_COLUMN_IN, abs=0.01))


def test_single_seed_is_called_a_single_run_without_spread(tmp_path: Path) -> None:
    for head in ("gap", "gem"):
        write_run(tmp_path, head, 0, 0.8, pool_params={"gem_p": 3.5} if head == "gem" else None)
    figures = built_figures(tmp_path)
    for item in figures:
        titles = " ".join(t.get_text() for t in item.figure.findobj(Text))
        assert "single run (1 seed)" in titles and "n=1" not in titles and "n = 1" not in titles, item.kind
        bands = [
            a
            for _, a in head_artists(item.figure)
            if type(a).__name__ in ("PolyCollection", "FillBetweenPolyCollection")
        ]
        error_bars = [a for _, a in head_artists(item.figure) if type(a).__name__ == "LineCollection"]
        assert not bands and not error_bars, item.kind


def test_gem_p_starts_at_the_configured_initial_value(tmp_path: Path) -> None:
    for seed in (0, 1):
        write_run(
            tmp_path,
            "gem",
            seed,
            0.8,
            pool_params={"gem_p": 4.0},
            epochs=3,
            config={"seed": seed, "head": {"name": "gem", "p": 2.5}},
        )
    gem = next(item for item in built_figures(tmp_path) if item.kind == "gem_p")
    line = next(a for _, a in head_artists(gem.figure) if isinstance(a, Line2D) and len(a.get_xdata()) > 1)
    assert list(line.get_xdata())[:2] == [0, 1] and line.get_ydata()[0] == pytest.approx(2.5)
    assert line.get_ydata()[-1] == pytest.approx(4.0)  # write_run moves p linearly from 3.0 to the final value


def titles_outside(figure) -> list[str]:
    """The titles (the figure's, each axes') that run past an edge of the figure as it is laid out and saved."""
    figure.draw_without_rendering()
    edges = figure.bbox
    texts = [*figure.texts, *(axes.title for axes in figure.axes if axes.get_visible())]
    return [
        t.get_text()
        for t in texts
        if t.get_text() and (t.get_window_extent().x0 < edges.x0 - 0.5 or t.get_window_extent().x1 > edges.x1 + 0.5)
    ]


def test_titles_are_wrapped_to_fit_never_clipped(tmp_path: Path) -> None:
    """Long panel titles (two grouping keys) and two heads: before saving some title runs past the figure's
    edges; saved, every title lies inside it, on more lines."""
    for samples, decay in ((1000, 0.0005), (2000, 0.0001)):
        for head in ("gap", "gmp"):
            for seed in (0, 1):
                config = {"seed": seed, "dataset": {"train_samples": samples}, "trainer": {"weight_decay": decay}}
                run = write_run(tmp_path / f"s{samples}", head, seed, 0.8 + 0.01 * seed, config=config)
                data = json.loads((run / RESULT_FILE).read_text())
                (run / RESULT_FILE).write_text(json.dumps({**data, "run_key": f"{head}{seed}{samples}"}))
    with matplotlib.style.context(style_path()):
        figures = built_figures(tmp_path)
        assert any(titles_outside(item.figure) for item in figures)  # the check below can fail
        for item in figures:
            save_figure(item.figure, tmp_path, f"{item.kind}__{slug(item.key_values)}")
            assert not titles_outside(item.figure), (item.kind, titles_outside(item.figure))
    curves = [item for item in figures if item.kind == "learning_curves"]
    assert curves and {item.figure.get_size_inches()[0] for item in curves} == {DOUBLE_COLUMN_IN}  # as documented


def test_heads_sharing_a_parameter_count_stand_at_that_count(figures) -> None:
    """No point moved sideways, no leader line or cap that reads as an error bar; where markers would cover
    each other, the one behind is larger."""
    params = next(item for item in figures if item.kind == "accuracy_vs_params" and "Fashion" in item.title)
    (axes,) = params.figure.axes
    points = {line.get_gid(): line for line in axes.lines if line.get_marker() not in ("_", "|", "None", None, "")}
    counts = {head: backbone + head_params for head, (backbone, head_params, _) in REAL_HEADS.items()}
    assert {gid.removeprefix("head:"): float(line.get_xdata()[0]) for gid, line in points.items()} == counts
    assert not [line for line in axes.lines if len(line.get_xdata()) > 1 or line.get_marker() in ("_", "|")]
    assert "(nearly) equal counts" in axes.get_xlabel()
    sizes = {gid.removeprefix("head:"): line.get_markersize() for gid, line in points.items()}
    assert sizes["flatten"] == min(sizes.values()) < max(sizes.values())  # alone at its count: the plain size


def test_a_swept_config_key_gets_its_own_accuracy_vs_parameters_figure(tmp_path: Path) -> None:
    """After a sweep over trainer.lr, no figure holds two points of one head that differ only in lr."""
    for lr in (0.1, 0.01):
        for seed in (0, 1):
            for head in ("gap", "gem"):
                run = write_run(
                    tmp_path / f"lr{lr}", head, seed, 0.8 + lr, config={"seed": seed, "trainer": {"lr": lr}}
                )
                data = json.loads((run / RESULT_FILE).read_text())
                (run / RESULT_FILE).write_text(json.dumps({**data, "run_key": f"{head}{seed}{lr}"}))
    params = [item for item in built_figures(tmp_path) if item.kind == "accuracy_vs_params"]
    assert sorted(item.title for item in params) == [
        "Fashion-MNIST · learning rate = 0.01",
        "Fashion-MNIST · learning rate = 0.1",
    ]
    for item in params:
        (axes,) = item.figure.axes
        points = [line.get_gid() for line in axes.lines if line.get_marker() not in ("_", "|", "None", None, "")]
        assert sorted(points) == ["head:gap", "head:gem"]  # one point per head


def test_the_parameter_axis_has_a_labelled_tick_left_of_the_smallest_count(figures) -> None:
    """The global heads' count (about 24k in the shipped small CNN) reads against a labelled tick below it."""
    from poolbench.report.params_figure import tick_below

    assert (tick_below(24_058), tick_below(20_000), tick_below(10_000)) == (20_000, 10_000, 5_000)
    params = next(item for item in figures if item.kind == "accuracy_vs_params" and "Fashion" in item.title)
    (axes,) = params.figure.axes
    params.figure.canvas.draw()
    smallest = min(float(line.get_xdata()[0]) for line in axes.lines if len(line.get_xdata()))
    left, _right = axes.get_xlim()
    labelled = [label.get_position()[0] for label in axes.get_xticklabels() if label.get_text()]
    assert any(left <= loc < smallest for loc in labelled), (left, smallest, labelled)
