"""Charts: each builds a titled, labelled figure with alt text from metrics frames, without pyplot."""

from __future__ import annotations

import matplotlib
import pandas as pd
import pytest
from matplotlib.figure import Figure

from fleetanalysis import plots

WEEKS = pd.to_datetime(["2026-01-04", "2026-01-11", "2026-01-18"]).astype("datetime64[us]")


def status_by(column: str, names: list[str], rates: list[float]) -> pd.DataFrame:
    """A ``metrics.status``-shaped frame with a Total row."""
    devices = [10] * len(names)
    frame = pd.DataFrame({column: names + ["Total"], "devices": devices + [sum(devices)],
                          "outdated_rate": rates + [sum(rates) / len(rates)]})
    for verdict in plots.VERDICT_COLOURS:
        frame[verdict] = 2
    return frame


def history_by_office() -> pd.DataFrame:
    rows = [(week, office, rate, 5) for week, step in zip(WEEKS, range(3))
            for office, rate in [("Oslo", 0.5 - 0.1 * step), ("Lima", 0.2), ("Total", 0.3)]]
    return pd.DataFrame(rows, columns=["as_of", "office", "outdated_rate", "devices"])


def charts() -> dict[str, Figure]:
    totals = pd.DataFrame({"as_of": list(WEEKS) + ["Total"], "outdated_rate": [0.4, 0.3, 0.2, 0.3]})
    grid = pd.DataFrame({"office": ["Oslo", "Oslo", "Lima", "Total"],
                         "platform": ["iOS", "Windows", "iOS", "Total"],
                         "devices": [3, 2, 4, 9], "outdated_rate": [0.0, 0.5, None, 0.2]})
    return {
        "trend": plots.trend(totals),
        "rates": plots.rates(status_by("platform", ["iOS", "Windows", "macOS"], [0.1, 0.6, 0.3]), "platform"),
        "office_trend": plots.office_trend(history_by_office()),
        "heatmap": plots.heatmap(grid),
        "time_to_patch": plots.time_to_patch(pd.DataFrame({"days": [2, 4, 9, 40],
                                                           "patched": [True, True, True, False]})),
        "verdict_mix": plots.verdict_mix(status_by("office", ["Oslo", "Lima"], [0.1, 0.2]), "office"),
    }


@pytest.mark.parametrize("name", ["trend", "rates", "office_trend", "heatmap", "time_to_patch", "verdict_mix"])
def test_every_chart_has_title_axis_labels_alt_text_and_renders(name):
    fig = charts()[name]
    ax = fig.axes[0]
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    assert len(plots.alt_text(fig)) > 20 and plots.alt_text(fig).endswith(".")
    assert plots.to_png(fig).startswith(b"\x89PNG")


def test_charts_leave_pyplot_alone():
    import matplotlib.pyplot as pyplot

    before = pyplot.get_fignums()
    charts()
    assert pyplot.get_fignums() == before
    assert matplotlib.get_backend()  # unchanged and usable


def test_trend_draws_the_share_behind_and_a_dashed_goal_line():
    ax = plots.trend(pd.DataFrame({"as_of": WEEKS, "outdated_rate": [0.4, 0.3, 0.2]}), goal=0.05).axes[0]
    share, goal = ax.get_lines()
    assert list(share.get_ydata()) == pytest.approx([0.4, 0.3, 0.2])
    assert goal.get_linestyle() == "--" and list(goal.get_ydata()) == [0.05, 0.05]


def test_trend_ticks_sit_on_the_points_and_the_axis_fits_the_worst_week():
    # Issue 16: ticks fell between the weekly points and a 13% worst week got a 110% axis.
    weeks = pd.date_range("2026-05-05", periods=9, freq="7D")  # Tuesdays: the as-of weekday
    ax = plots.trend(pd.DataFrame({"as_of": weeks, "outdated_rate": [0.13, 0.12, 0.1, 0.11, 0.09,
                                                                      0.08, 0.08, 0.07, 0.06]})).axes[0]
    drawn = [pd.Timestamp(x) for x in matplotlib.dates.num2date(ax.get_lines()[0].get_xdata(orig=False))]
    ticks = [pd.Timestamp(x) for x in matplotlib.dates.num2date(ax.get_xticks())]
    # Every tick on a point (every other one when many), the as-of date always labelled.
    assert set(ticks) <= set(drawn) and ticks == drawn[::-2][::-1] and ticks[-1] == drawn[-1]
    assert [t.get_text() for t in ax.get_xticklabels()][-1] == "30 Jun"
    # The axis ends at 15% (a little room either side keeps a line on 0% or 15% off the frame).
    assert ax.get_ylim() == pytest.approx((-0.03 * 0.15, 1.03 * 0.15))


def test_trend_counts_only_the_points_it_draws():
    history = pd.DataFrame({"as_of": WEEKS, "outdated_rate": [float("nan"), 0.3, 0.2]})
    fig = plots.trend(history)
    assert len(fig.axes[0].get_lines()[0].get_xdata()) == 2
    assert "2 weekly points" in plots.alt_text(fig)


@pytest.mark.parametrize("name", ["$\\something$", "$x^2$ Lab", "cost $5 & $6", "\\frac{1}{0}$"])
def test_tex_like_names_are_drawn_as_text(name):
    # Issue 15: an office named like TeX math crashed matplotlib's mathtext parser.
    status = status_by("office", [name, "Oslo"], [0.2, 0.1])
    grid = pd.DataFrame({"office": [name, "Oslo"], "platform": ["iOS", "macOS"], "devices": [2, 3],
                         "outdated_rate": [0.5, 0.0]})
    history = pd.DataFrame({"as_of": list(WEEKS) * 2, "office": [name] * 3 + ["Oslo"] * 3,
                            "devices": [4] * 6, "outdated_rate": [0.5, 0.4, 0.3, 0.2, 0.2, 0.1]})
    for fig in (plots.rates(status, "office"), plots.verdict_mix(status, "office"),
                plots.heatmap(grid), plots.office_trend(history)):
        assert plots.to_png(fig).startswith(b"\x89PNG")
        shown = [text.get_text() for ax in fig.axes for text in
                 ax.get_yticklabels() + ax.get_xticklabels() + ax.texts]
        legend = fig.axes[0].get_legend()
        shown += [text.get_text() for text in legend.get_texts()] if legend else []
        assert any(text.replace("\\$", "$") == name for text in shown), shown
        assert name in plots.alt_text(fig)


def test_office_trend_leaves_out_the_unknown_office_and_fits_the_axis():
    history = pd.concat([history_by_office(), pd.DataFrame({
        "as_of": WEEKS, "office": "Unknown office", "outdated_rate": [0.0, 0.4, 0.0], "devices": 5})])
    fig = plots.office_trend(history)
    assert "Unknown office" not in [line.get_label() for line in fig.axes[0].get_lines()]
    assert fig.axes[0].get_ylim()[1] == pytest.approx(1.03 * 0.6)


def test_rates_sort_worst_on_top_and_leave_out_total_and_unjudged_groups():
    status = status_by("platform", ["iOS", "Windows", "macOS", "Linux"], [0.1, 0.6, 0.3, float("nan")])
    ax = plots.rates(status, "platform").axes[0]
    labels = [tick.get_text() for tick in ax.get_yticklabels()]
    assert labels == ["iOS", "macOS", "Windows"]  # barh draws bottom-up: worst is last, on top
    assert [bar.get_width() for bar in ax.patches] == pytest.approx([0.1, 0.3, 0.6])


def test_heatmap_keeps_missing_cells_missing():
    fig = charts()["heatmap"]
    ax = fig.axes[0]
    texts = sorted(text.get_text() for text in ax.texts)
    assert texts == sorted(["0%", "50%", "–", "–"])
    assert [tick.get_text() for tick in ax.get_yticklabels()] == ["Oslo", "Lima"]


def test_time_to_patch_draws_only_patched_devices():
    fig = charts()["time_to_patch"]
    heights = sum(bar.get_height() for bar in fig.axes[0].patches)
    assert heights == 3
    assert "1 updates still pending" in fig.axes[0].get_title()


def test_verdict_mix_uses_the_verdict_colours():
    ax = charts()["verdict_mix"].axes[0]
    colours = {matplotlib.colors.to_hex(bar.get_facecolor()) for bar in ax.patches}
    assert colours == set(plots.VERDICT_COLOURS.values())


def test_office_trend_draws_one_line_per_office_plus_the_goal():
    ax = charts()["office_trend"].axes[0]
    assert sorted(line.get_label() for line in ax.get_lines()) == ["Lima", "Oslo", "goal 0%"]


def test_img_tag_escapes_office_names_in_the_alt_text():
    status = status_by("office", ['"><script>alert(1)</script>'], [0.5])
    tag = plots.img_tag(plots.rates(status, "office"))
    assert "<script>" not in tag and "&lt;script&gt;" in tag and "&quot;&gt;" in tag
    assert tag.startswith('<img alt="') and tag.count("<") == 1


def test_empty_frames_still_give_a_figure():
    empty = pd.DataFrame({"as_of": pd.Series([], dtype="datetime64[us]"),
                          "outdated_rate": pd.Series([], dtype="float64")})
    assert plots.alt_text(plots.trend(empty)) == "Share of judged devices behind: no data."
    patches = pd.DataFrame({"days": pd.Series([], dtype="int64"), "patched": pd.Series([], dtype="bool")})
    assert "no updates seen" in plots.alt_text(plots.time_to_patch(patches))


@pytest.mark.parametrize("worst", [0.0, 0.01, 0.02, 0.04, 0.1, 0.13, 0.19, 0.3, 0.55, 0.9, 1.0])
def test_rate_axes_tick_at_percents_that_print_exactly(worst):
    # A trial: the Platforms chart read "0% 2% 5% 8% 10% 12% 15% 18%" (2.5% steps, rounded).
    status = status_by("platform", ["iOS", "Windows"], [worst / 2, worst])
    ax = plots.rates(status, "platform").axes[0]
    low, high = ax.get_xlim()
    ticks = [tick for tick in ax.get_xticks() if low - 1e-9 <= tick <= high + 1e-9]
    labels = ax.xaxis.get_major_formatter().format_ticks(ticks)
    assert len(ticks) >= 3
    assert all(abs(tick * 100 - round(tick * 100)) < 1e-6 for tick in ticks), labels
    assert labels == [f"{round(tick * 100)}%" for tick in ticks]


def test_every_device_behind_is_drawn_inside_the_frame():
    # Found by a new user: at 100% behind, the trend ran along the top edge of the frame.
    ax = plots.trend(pd.DataFrame({"as_of": WEEKS, "outdated_rate": [1.0, 1.0, 1.0]})).axes[0]
    low, high = ax.get_ylim()
    assert low < 0 < 1.0 < high
    assert max(tick for tick in ax.get_yticks() if low <= tick <= high) == pytest.approx(1.0)


def test_the_verdict_legend_sits_beside_the_bars():
    # Found by a new user: the legend covered the longest bar.
    status = pd.DataFrame({"platform": ["iOS", "macOS"], "devices": [2, 1], "current": [0, 0], "grace": [0, 0],
                           "outdated": [1, 1], "unsupported": [1, 0], "unknown": [0, 0]})
    fig = plots.verdict_mix(status, "platform")
    plots.to_png(fig)  # laid out as the report draws it
    legend = fig.axes[0].get_legend().get_window_extent()
    plot = fig.axes[0].get_window_extent()
    assert legend.x0 >= plot.x1


def test_a_name_the_charts_font_cannot_draw_prints_no_warning_into_the_report():
    # An outside trial: offices named 東京 and 서울 put matplotlib's "Glyph ... missing from
    # font(s)" warnings, with the server's paths, into the management report.
    import warnings

    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1), layout="constrained")
    fig.add_subplot().set_title("東京 서울")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert plots.to_png(fig)[:4] == b"\x89PNG"

