"""escapade.plot: each function draws what the command line's plot draws (series, bands,
titles, log axes) on the axes it is given. Needs matplotlib (an optional extra): skipped without
it, except the test of the message a missing matplotlib gives."""

import importlib
import sys

import numpy as np
import pytest

import escapade
import escapade.plot as eplot

# Octopus d = 5 in f64 from Unif[-1, 1]^5: GD stalls at several saddles (several labels).
BASE = dict(objective="octopus", dim=5, chains=128, steps=2000, seed=1, init="uniform:1", state="f64", backend="cpu")


@pytest.fixture(scope="module")
def plt():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    if "matplotlib.pyplot" in sys.modules and sys.modules["matplotlib.pyplot"] is not None:
        sys.modules["matplotlib.pyplot"].close("all")


@pytest.fixture(scope="module")
def gd():
    return escapade.run(method="gd", trace_chains=3, trace_every=10, **BASE)


@pytest.fixture(scope="module")
def pgd():
    return escapade.run(method="pgd", **BASE)


def saddle_labels(run):
    return sorted(int(l) for l, s in run.summary["survival"]["by_label"].items() if s["saddle_stalls"] > 0)


def legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_import_works_without_matplotlib_and_calls_say_how_to_get_it(monkeypatch, gd):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    mod = importlib.reload(eplot)
    try:
        for draw in [mod.survival, mod.incidence, mod.histogram, mod.traces, mod.trajectories]:
            with pytest.raises(ImportError, match="pip install matplotlib"):
                draw(gd)
        with pytest.raises(ImportError, match="pip install matplotlib"):
            mod.compare([gd])
    finally:
        monkeypatch.undo()
        importlib.reload(eplot)


def test_survival_draws_all_stalls_then_one_curve_per_label_with_bands(plt, gd):
    labels = saddle_labels(gd)
    assert len(labels) >= 3, labels
    fig, ax = plt.subplots()
    assert eplot.survival(gd, ax=ax) is ax
    # A curve and two dashed band lines per series: all saddle stalls, then each label.
    assert len(ax.lines) == 3 * (1 + len(labels))
    assert legend(ax) == ["all saddle stalls"] + [f"label {l}" for l in labels]
    assert ax.get_title() == "Escape-time survival (Kaplan-Meier): octopus gd d=5"
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "steps since the stall (log)"
    assert ax.get_ylabel() == "fraction not yet escaped"
    assert ax.get_ylim() == pytest.approx((0.0, 1.02))
    curve, lower, upper = ax.lines[:3]
    assert curve.get_color() == lower.get_color() == eplot.COLORS[0]
    assert lower.get_linestyle() == "--" and curve.get_linestyle() == "-"
    # The curve is the Kaplan-Meier estimate: from 1, down to its last value, bands around it.
    km = gd.survival()["kaplan_meier"]
    y = curve.get_ydata()
    assert y[0] == 1.0 and y[-1] == pytest.approx(km["survival"][-1])
    assert np.all(lower.get_ydata() <= y + 1e-12) and np.all(y <= upper.get_ydata() + 1e-12)
    assert np.all(np.diff(y) <= 1e-12)  # non-increasing
    # Label colours follow in the command line's order.
    assert [ax.lines[3 * k].get_color() for k in range(1 + len(labels))] == list(eplot.COLORS[: 1 + len(labels)])


def test_survival_options(plt, gd):
    labels = saddle_labels(gd)
    ax = eplot.survival(gd, ax=plt.subplots()[1], bands=False)
    assert len(ax.lines) == 1 + len(labels)
    ax = eplot.survival(gd, labels[-1], ax=plt.subplots()[1])
    assert len(ax.lines) == 3 and legend(ax) == [f"label {labels[-1]}"]
    ax = eplot.survival(gd, labels[:2], ax=plt.subplots()[1], overall=True, title="mine")
    assert legend(ax) == ["all saddle stalls", f"label {labels[0]}", f"label {labels[1]}"] and ax.get_title() == "mine"
    ax = eplot.survival(gd, ax=plt.subplots()[1], overall=False)
    assert len(ax.lines) == 3 * len(labels)
    with pytest.raises(ValueError, match="label"):
        eplot.survival(gd, 99, ax=plt.subplots()[1])


def test_a_function_without_ax_makes_a_figure(plt, gd):
    ax = eplot.survival(gd)
    assert ax.figure is not None and ax.figure.get_size_inches() == pytest.approx((9, 6))


def test_incidence_is_one_minus_the_cumulative_incidence_per_label(plt, gd):
    labels = saddle_labels(gd)
    ax = eplot.incidence(gd, ax=plt.subplots()[1])
    assert len(ax.lines) == 3 * len(labels)
    assert legend(ax) == [f"label {l}" for l in labels]
    assert ax.get_title().startswith("Saddle stalls not yet escaped (1 - cumulative incidence): ")
    for k, l in enumerate(labels):
        cif = gd.summary["survival"]["by_label"][str(l)]["escape_cif"]
        assert ax.lines[3 * k].get_ydata()[-1] == pytest.approx(1 - cif, abs=1e-9)
    ax = eplot.incidence(gd, labels[0], cause="diverged", bands=False, ax=plt.subplots()[1])
    assert len(ax.lines) == 1 and np.all(ax.lines[0].get_ydata() == 1.0)  # nothing diverged
    with pytest.raises(ValueError, match="cause"):
        eplot.incidence(gd, cause="bored", ax=plt.subplots()[1])


def test_compare_overlays_runs(plt, gd, pgd):
    ax = eplot.compare({"GD": gd, "PGD": pgd}, ax=plt.subplots()[1])
    assert len(ax.lines) == 6 and legend(ax) == ["GD", "PGD"]
    assert ax.get_title() == "Escape-time survival"
    ax = eplot.compare([gd, pgd], label=saddle_labels(gd)[-1], bands=False, ax=plt.subplots()[1])
    assert len(ax.lines) == 2 and legend(ax) == ["octopus gd d=5", "octopus pgd d=5"]
    assert ax.get_title().endswith(f"at label {saddle_labels(gd)[-1]}")
    # GD waits longer at the last saddle: its curve lies above PGD's at PGD's median.
    gd_y, pgd_y = ax.lines[0].get_ydata(), ax.lines[1].get_ydata()
    assert gd_y.mean() > pgd_y.mean()


def test_histogram_bins_match_the_summarys(plt, gd):
    ax = eplot.histogram(gd, ax=plt.subplots()[1])
    want = gd.summary["escape_time_histogram"]
    assert len(ax.patches) == len(want)
    for bar, b in zip(ax.patches, want):
        assert bar.get_height() == b["count"]
        assert bar.get_x() == pytest.approx(max(b["lo"], 0.5))
        assert bar.get_x() + bar.get_width() == pytest.approx(b["hi"])
    assert ax.get_xscale() == "log" and ax.get_title() == "Escape times: octopus gd d=5"
    assert ax.get_xlabel() == "escape time, steps (log bins)" and ax.get_ylabel() == "escapes"
    # One label: only its escapes.
    l = saddle_labels(gd)[-1]
    ax = eplot.histogram(gd, l, ax=plt.subplots()[1])
    assert sum(p.get_height() for p in ax.patches) == gd.summary["survival"]["by_label"][str(l)]["escapes"]


def test_traces_draw_one_line_per_traced_chain(plt, gd):
    ax = eplot.traces(gd, ax=plt.subplots()[1])
    assert len(ax.lines) == 3 and legend(ax) == ["chain 0", "chain 1", "chain 2"]
    assert ax.get_xscale() == "log" and ax.get_ylabel() == "f(x)" and ax.get_xlabel() == "step + 1 (log)"
    tr = gd.trace[gd.trace["chain"] == 1]
    np.testing.assert_allclose(ax.lines[1].get_xdata(), tr["step"] + 1.0)
    np.testing.assert_allclose(ax.lines[1].get_ydata(), tr["f"])
    ax = eplot.traces(gd, [2], value="x1", ax=plt.subplots()[1])
    assert len(ax.lines) == 1 and ax.get_ylabel() == "x1"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), gd.trace[gd.trace["chain"] == 2]["x1"])
    with pytest.raises(ValueError, match="value is f or a coordinate"):
        eplot.traces(gd, value="x9", ax=plt.subplots()[1])
    with pytest.raises(ValueError, match=r"chains \[7\] were not traced"):
        eplot.traces(gd, [7], ax=plt.subplots()[1])


def test_trajectories_draw_two_coordinates(plt, gd):
    ax = eplot.trajectories(gd, ax=plt.subplots()[1])
    assert len(ax.lines) == 3 and len(ax.collections) == 0
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x1", "x2")
    assert ax.lines[0].get_color() == eplot.COLORS[1]
    ax = eplot.trajectories(gd, [0], coords=(2, 4), objective=lambda x, y: x**2 - y**2, ax=plt.subplots()[1])
    assert len(ax.lines) == 1 and len(ax.collections) == 1  # the shaded value map
    np.testing.assert_allclose(ax.lines[0].get_xdata(), gd.trace[gd.trace["chain"] == 0]["x2"])
    with pytest.raises(ValueError, match="coords"):
        eplot.trajectories(gd, coords=(0, 5), ax=plt.subplots()[1])


def test_a_run_without_trace_gets_a_clear_error(plt, pgd):
    for draw in [eplot.traces, eplot.trajectories]:
        with pytest.raises(ValueError, match="no trace: run it with trace_chains=N"):
            draw(pgd, ax=plt.subplots()[1])


def test_a_loaded_run_plots_the_same(plt, gd, tmp_path):
    gd.save(tmp_path / "gd", plots="none")
    back = escapade.load(tmp_path / "gd")
    a = eplot.survival(gd, ax=plt.subplots()[1])
    b = eplot.survival(back, ax=plt.subplots()[1])
    assert legend(a) == legend(b) and a.get_title() == b.get_title()
    for la, lb in zip(a.lines, b.lines):
        np.testing.assert_array_equal(la.get_ydata(), lb.get_ydata())
    assert len(eplot.traces(back, ax=plt.subplots()[1]).lines) == 3


def test_a_figure_saves(plt, gd, tmp_path):
    fig, axes = plt.subplots(2, 2)
    eplot.survival(gd, ax=axes[0, 0])
    eplot.incidence(gd, ax=axes[0, 1])
    eplot.histogram(gd, ax=axes[1, 0])
    eplot.traces(gd, ax=axes[1, 1])
    fig.savefig(tmp_path / "all.png")
    assert (tmp_path / "all.png").stat().st_size > 10_000
