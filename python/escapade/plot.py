"""Plots of a run with matplotlib: the pictures ``escapade run`` writes to OUT/plots, on your axes.

matplotlib is optional (``pip install matplotlib``); it is imported when a function is called,
so ``import escapade.plot`` works without it. Every function draws on ``ax`` (a new figure's
axes when ``ax`` is None) and returns the axes, as matplotlib's own helpers do::

    import escapade, escapade.plot
    run = escapade.run(objective="octopus", dim=5, method="pgd", chains=1024, steps=2000,
                       trace_chains=4)
    ax = escapade.plot.survival(run)           # Kaplan-Meier, all stalls and per saddle
    ax.figure.savefig("survival.png")

The functions mirror the command line's plots (``src/report/plots.rs``): the same titles, axis
labels, log axes, colours in the same order, dashed 95% bands and legends.

=============================  ==========================================================
:func:`survival`               S(t) of the saddle stalls: all of them, then each label
:func:`incidence`              1 - cumulative incidence of escape, one curve per label
:func:`compare`                S(t) of several runs overlaid (``escapade compare``)
:func:`histogram`              escape times in half-octave bins (log axis)
:func:`traces`                 f (or one coordinate) against step + 1 for traced chains
:func:`trajectories`           two coordinates of traced chains against each other
=============================  ==========================================================

The bands are :meth:`escapade.Run.survival`'s: chain-clustered for the "all saddle stalls" curve
(one chain's stalls are not independent), Greenwood's for each label, as the command line's.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from . import Run

__all__ = ["COLORS", "compare", "histogram", "incidence", "run_name", "survival", "traces", "trajectories"]

#: Series colours, in order (the command line's).
COLORS: Tuple[str, ...] = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
)

Labels = Union[None, int, Sequence[int]]


def _pyplot() -> Any:
    """matplotlib.pyplot, or an ImportError saying how to get it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("escapade.plot needs matplotlib, which is not installed: pip install matplotlib") from e
    return plt


def _axes(ax: Optional["Axes"]) -> "Axes":
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 6))
    return ax


def _tick(v: float, _pos: Any = None) -> str:
    """A tick label as a paper prints it (the command line's): 1, 10, 0.5, 2.5e-5, 1e6."""
    if v == 0 or not math.isfinite(v):
        return "0" if v == 0 else str(v)

    def trim(s: str) -> str:
        return s.rstrip("0").rstrip(".") if "." in s else s

    a = abs(v)
    if 1e-3 <= a < 1e5:
        decimals = max(5 - math.floor(math.log10(a)), 0)
        return trim(f"{v:.{decimals}f}")
    mantissa, _, exp = f"{v:.5e}".partition("e")
    return f"{trim(mantissa)}e{int(exp)}"


def _log_x(ax: "Axes") -> None:
    """A log x axis labelled 1, 10, 100 (not 10^k), as the command line labels it."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0), numticks=12))
    ax.xaxis.set_major_formatter(FuncFormatter(_tick))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _finish(ax: "Axes", title: str, xlabel: str, ylabel: str, legend: bool = True) -> None:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.yaxis.set_major_formatter(_formatter())
    ax.grid(True, which="major", color="0.85", linewidth=0.8)
    ax.grid(True, which="minor", color="0.93", linewidth=0.5)
    ax.set_axisbelow(True)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(framealpha=0.8, edgecolor="black", fancybox=False)


def _formatter() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(_tick)


def run_name(run: "Run") -> str:
    """The name the command line gives a run in titles: ``octopus pgd d=5``."""
    s = run.summary
    try:
        return f"{s['objective']['name']} {s['method']['name']} d={s['objective']['dim']}"
    except (KeyError, TypeError):
        return "run"


def _saddle_labels(run: "Run") -> List[int]:
    """The labels with saddle stalls (the run's labels without those where chains only rested)."""
    by_label = run.summary.get("survival", {}).get("by_label", {})
    out = []
    for label in run.labels:
        stats = by_label.get(str(label))
        if stats is None or stats.get("saddle_stalls", 0) > 0:
            out.append(int(label))
    return out


def _labels(run: "Run", label: Labels) -> List[int]:
    if label is None:
        return _saddle_labels(run)
    if isinstance(label, (int, np.integer)):
        return [int(label)]
    return [int(x) for x in label]


def _steps(t: np.ndarray, y: np.ndarray, end: float) -> Tuple[np.ndarray, np.ndarray]:
    """A step curve from (1, 1) through the points (t, y), held to ``end`` (log axes need t >= 1)."""
    xs = [1.0]
    ys = [1.0]
    prev = 1.0
    for ti, yi in zip(np.maximum(np.asarray(t, dtype=float), 1.0), np.asarray(y, dtype=float)):
        xs += [ti, ti]
        ys += [prev, yi]
        prev = yi
    xs.append(end)
    ys.append(prev)
    return np.array(xs), np.array(ys)


def _draw_curves(
    ax: "Axes",
    curves: Sequence[Tuple[str, Mapping[str, np.ndarray], str]],
    bands: bool,
    color_offset: int = 0,
) -> None:
    """Draws survival-like step curves (``(name, columns, value column)``) with dashed bands, on
    a log step axis from 1 to 1.5 times the last time."""
    tmax = max([2.0] + [float(c["t"][-1]) for _, c, _ in curves if len(c["t"])])
    end = tmax * 1.5
    for k, (name, cols, value) in enumerate(curves):
        color = COLORS[(k + color_offset) % len(COLORS)]
        ax.plot(*_steps(cols["t"], cols[value], end), color=color, linewidth=2, label=name)
        if bands:
            for side in ("lower", "upper"):
                ax.plot(*_steps(cols["t"], cols[side], end), color=color, alpha=0.5, linewidth=1, linestyle=(0, (4, 4)))
    _log_x(ax)
    ax.set_xlim(1.0, end)
    ax.set_ylim(0.0, 1.02)


def survival(
    run: "Run",
    label: Labels = None,
    *,
    ax: Optional["Axes"] = None,
    bands: bool = True,
    overall: Optional[bool] = None,
    title: Optional[str] = None,
) -> "Axes":
    """Kaplan-Meier survival S(t) of the saddle stalls: the fraction not yet escaped t steps
    after the stall, as OUT/plots/survival draws it.

    One step curve (width 2) per series with its 95% band (chain-clustered for all stalls,
    Greenwood's per label) as two dashed lines of the
    same colour; log step axis from 1; y from 0 to 1.02; legend.

    Args:
        run: the run (:func:`escapade.run`, :func:`escapade.load`, ...).
        label: None: every label with saddle stalls (the command line's picture); an int or a
            list of ints: those labels only.
        ax: the axes to draw on (None: a new 9 x 6 inch figure).
        bands: draw the confidence bands.
        overall: draw the "all saddle stalls" curve first. Default: when ``label`` is None.
            With ``label`` None and one label only, it is the only curve (as on the command
            line).
        title: default ``"Escape-time survival (Kaplan-Meier): <run name>"``.

    Returns:
        The axes: ``len(ax.lines)`` is 3 per curve with bands, 1 per curve without.

    Raises:
        ValueError: a label the run has no saddle stalls at; a run without saddle stalls.
    """
    labels = _labels(run, label)
    if overall is None:
        overall = label is None
    curves: List[Tuple[str, Mapping[str, np.ndarray], str]] = []
    if overall:
        curves.append(("all saddle stalls", run.survival()["kaplan_meier"], "survival"))
    if not overall or label is not None or len(labels) > 1:
        curves += [(f"label {l}", run.survival(l)["kaplan_meier"], "survival") for l in labels]
    if not curves:
        raise ValueError("survival plot: the run has no saddle stalls (no stall label with an episode)")
    ax = _axes(ax)
    _draw_curves(ax, curves, bands)
    _finish(ax, title or f"Escape-time survival (Kaplan-Meier): {run_name(run)}", "steps since the stall (log)", "fraction not yet escaped")
    return ax


def incidence(
    run: "Run",
    label: Labels = None,
    *,
    cause: str = "escaped",
    ax: Optional["Axes"] = None,
    bands: bool = True,
    title: Optional[str] = None,
) -> "Axes":
    """Saddle stalls not yet escaped: 1 - the Aalen-Johansen cumulative incidence of escape,
    one curve per label, as OUT/plots/incidence draws it.

    Where stalls end by divergence or precision limits, the Kaplan-Meier curve answers "had they
    not", this one "what happened": it levels off above 0 at the fraction that never escaped.

    Args:
        run: the run.
        label: None: every label with saddle stalls; an int or a list: those labels.
        cause: ``"escaped"`` (the command line's picture), ``"diverged"`` or
            ``"precision_limited"``: 1 - that cause's cumulative incidence.
        ax: the axes to draw on (None: a new figure).
        bands: draw the 95% bands (dashed).
        title: default ``"Saddle stalls not yet escaped (1 - cumulative incidence): <name>"``.

    Returns:
        The axes (3 lines per label with bands, 1 without).
    """
    curves = []
    for l in _labels(run, label):
        inc = run.survival(l)["cumulative_incidence"]
        if cause not in inc:
            raise ValueError(f"incidence: cause is one of {', '.join(inc)}, got {cause!r}")
        c = inc[cause]
        keep = np.asarray(c["events"]) > 0
        cif = np.asarray(c["cif"])[keep]
        cols = {
            "t": np.asarray(c["t"])[keep],
            "remaining": 1.0 - cif,
            "lower": 1.0 - np.asarray(c["upper"])[keep],
            "upper": 1.0 - np.asarray(c["lower"])[keep],
        }
        curves.append((f"label {l}", cols, "remaining"))
    if not curves:
        raise ValueError("incidence plot: the run has no saddle stalls")
    ax = _axes(ax)
    _draw_curves(ax, curves, bands)
    what = "escaped" if cause == "escaped" else f"ended by {cause.replace('_', ' ')}"
    _finish(ax, title or f"Saddle stalls not yet {what} (1 - cumulative incidence): {run_name(run)}", "steps since the stall (log)", "fraction not yet escaped" if cause == "escaped" else f"1 - incidence of {cause.replace('_', ' ')}")
    return ax


def compare(
    runs: Union[Mapping[str, "Run"], Sequence["Run"]],
    label: Optional[int] = None,
    *,
    ax: Optional["Axes"] = None,
    bands: bool = True,
    title: Optional[str] = None,
) -> "Axes":
    """Survival curves of several runs overlaid, as ``escapade compare --out`` draws them.

    Args:
        runs: the runs, named by a dict's keys (``{"GD": gd, "PGD": pgd}``) or by their run
            names (``octopus gd d=5``).
        label: None: all saddle stalls of each run; an int: that label's stalls.
        ax: the axes to draw on (None: a new figure).
        bands: draw the 95% bands (dashed).
        title: default ``"Escape-time survival"`` (with ``label``: ``"... at label L"``).

    Returns:
        The axes (3 lines per run with bands, 1 without).
    """
    named = list(runs.items()) if isinstance(runs, Mapping) else [(run_name(r), r) for r in runs]
    if not named:
        raise ValueError("compare: no runs")
    curves = [(name, r.survival(label)["kaplan_meier"], "survival") for name, r in named]
    ax = _axes(ax)
    _draw_curves(ax, curves, bands)
    default = "Escape-time survival" + ("" if label is None else f" at label {label}")
    _finish(ax, title or default, "steps since the stall (log)", "fraction not yet escaped")
    return ax


def _log_bins(t: np.ndarray) -> List[Tuple[float, float, int]]:
    """Half-octave bins (lo, hi, count) of escape times, the command line's: [2^(k/2), 2^((k+1)/2))
    for t >= 1, [0, 1) for t = 0; empty bins left out."""
    t = np.asarray(t, dtype=np.int64)
    k = np.where(t <= 0, -1, np.floor(2.0 * np.log2(np.maximum(t, 1)) + 1e-12).astype(np.int64))
    out = []
    for b in np.unique(k):
        count = int(np.sum(k == b))
        lo = 0.0 if b < 0 else 2.0 ** (b / 2.0)
        hi = 1.0 if b < 0 else 2.0 ** ((b + 1) / 2.0)
        out.append((lo, hi, count))
    return out


def histogram(
    run: "Run",
    label: Labels = None,
    *,
    ax: Optional["Axes"] = None,
    title: Optional[str] = None,
) -> "Axes":
    """Escape times (steps from stall to escape, from :attr:`escapade.Run.events`) in
    half-octave bins on a log axis, as OUT/plots/histogram draws them.

    Args:
        run: the run.
        label: None: every escape; an int or a list: escapes from stalls at those labels.
        ax: the axes to draw on (None: a new figure).
        title: default ``"Escape times: <run name>"``.

    Returns:
        The axes: one bar (``ax.patches``) per non-empty bin.

    Raises:
        ValueError: the run (or the label) has no escapes.
    """
    events = run.events
    t = np.asarray(events["escape_steps"]) if len(events) else np.zeros(0, dtype=np.int64)
    if label is not None:
        t = t[np.isin(np.asarray(events["label"]), _labels(run, label))]
    if len(t) == 0:
        raise ValueError("histogram: no escape events" + ("" if label is None else f" at label(s) {label}"))
    bins = _log_bins(t)
    ax = _axes(ax)
    lo = np.array([max(b[0], 0.5) for b in bins])
    hi = np.array([b[1] for b in bins])
    counts = np.array([b[2] for b in bins])
    ax.bar(lo, counts, width=hi - lo, align="edge", color=COLORS[0], alpha=0.7, label="escapes")
    _log_x(ax)
    ax.set_xlim(0.5, max(2.0, float(hi.max())))
    ax.set_ylim(0.0, max(1.0, float(counts.max()) * 1.1))
    _finish(ax, title or f"Escape times: {run_name(run)}", "escape time, steps (log bins)", "escapes")
    return ax


def _trace_by_chain(run: "Run", chains: Optional[Sequence[int]], max_chains: int) -> Tuple[np.ndarray, List[Tuple[int, np.ndarray]]]:
    tr = run.trace
    if len(tr) == 0:
        raise ValueError("this run has no trace: run it with trace_chains=N (and trace_every=K) to record positions")
    ids = np.asarray(tr["chain"])
    have = [int(c) for c in np.unique(ids)]
    if chains is None:
        chosen = have[:max_chains]
    else:
        chosen = [int(c) for c in chains]
        missing = [c for c in chosen if c not in have]
        if missing:
            raise ValueError(f"chains {missing} were not traced (traced: {have})")
    rows = []
    for c in chosen:
        sel = tr[ids == c]
        rows.append((c, sel[np.argsort(sel["step"], kind="stable")]))
    return tr, rows


def traces(
    run: "Run",
    chains: Optional[Sequence[int]] = None,
    *,
    value: str = "f",
    ax: Optional["Axes"] = None,
    max_chains: int = 6,
    title: Optional[str] = None,
) -> "Axes":
    """A value along traced chains against step + 1 (log axis), from :attr:`escapade.Run.trace`:
    f(x), as OUT/plots/traces draws it, or one coordinate (``value="x0"``, ``"x1"``, ...).

    Args:
        run: a run with a trace (``trace_chains=N``, every ``trace_every`` steps).
        chains: the chain ids to draw (default: the first ``max_chains`` traced, 6 as on the
            command line).
        value: ``"f"`` or a coordinate column ``"x0"``, ``"x1"``, ...
        ax: the axes to draw on (None: a new figure).
        max_chains: how many chains to draw when ``chains`` is None.
        title: default ``"f along chains: <run name>"`` (``"x0 along chains: ..."``).

    Returns:
        The axes: one line per chain (width 1), labelled ``chain N``.

    Raises:
        ValueError: the run has no trace; a chain that was not traced; an unknown ``value``.
    """
    tr, rows = _trace_by_chain(run, chains, max_chains)
    if value not in (tr.dtype.names or ()):
        coords = [n for n in (tr.dtype.names or ()) if n.startswith("x")]
        raise ValueError(f"traces: value is f or a coordinate ({', '.join(coords)}), got {value!r}")
    ax = _axes(ax)
    tmax = 1
    for k, (c, sel) in enumerate(rows):
        y = np.asarray(sel[value], dtype=float)
        ok = np.isfinite(y)
        steps = np.asarray(sel["step"], dtype=float)[ok]
        if len(steps):
            tmax = max(tmax, int(steps.max()))
        # A chain traced once before it diverged is a point, not a line.
        marker = "o" if len(steps) == 1 else None
        ax.plot(steps + 1.0, y[ok], color=COLORS[k % len(COLORS)], linewidth=1, marker=marker, label=f"chain {c}")
    _log_x(ax)
    ax.set_xlim(1.0, tmax + 2.0)
    ylabel = "f(x)" if value == "f" else value
    _finish(ax, title or f"{value} along chains: {run_name(run)}", "step + 1 (log)", ylabel)
    return ax


def trajectories(
    run: "Run",
    chains: Optional[Sequence[int]] = None,
    *,
    coords: Tuple[int, int] = (0, 1),
    objective: Optional[Callable[[np.ndarray, np.ndarray], np.ndarray]] = None,
    ax: Optional["Axes"] = None,
    max_chains: int = 6,
    grid: int = 80,
    title: Optional[str] = None,
) -> "Axes":
    """Traced chains' paths in two coordinates, as OUT/plots/trajectories draws them for 2-D
    objectives; here for any dimension (a projection when d > 2).

    Args:
        run: a run with a trace (``trace_chains=N``).
        chains: the chain ids (default: the first ``max_chains`` traced).
        coords: the two coordinates (indices into x), default the first two.
        objective: optional ``f(X, Y) -> Z`` evaluated on a ``grid`` x ``grid`` mesh (numpy
            arrays) to shade the background by the rank of f, as the command line shades its
            value map (light: low, dark: high).
        ax: the axes to draw on (None: a new figure).
        max_chains: how many chains to draw when ``chains`` is None.
        grid: cells per side of the shaded map.
        title: default ``"Trajectories: <run name>"``.

    Returns:
        The axes: one line per chain (width 2), colours from the second on (as the command
        line's); with ``objective``, one mesh in ``ax.collections``.

    Raises:
        ValueError: no trace; a one-dimensional run; a coordinate out of range.
    """
    tr, rows = _trace_by_chain(run, chains, max_chains)
    d = len([n for n in (tr.dtype.names or ()) if n.startswith("x") and n[1:].isdigit()])
    i, j = int(coords[0]), int(coords[1])
    if d < 2:
        raise ValueError("trajectories: need at least two coordinates (the run is one-dimensional)")
    if not (0 <= i < d and 0 <= j < d) or i == j:
        raise ValueError(f"trajectories: coords are two different indices in 0..{d - 1}, got {coords}")
    xs = [np.asarray(sel[f"x{i}"], dtype=float) for _, sel in rows]
    ys = [np.asarray(sel[f"x{j}"], dtype=float) for _, sel in rows]
    allx = np.concatenate(xs + [np.array([-1.0, 1.0])])
    ally = np.concatenate(ys + [np.array([-1.0, 1.0])])
    ok = np.isfinite(allx) & np.isfinite(ally)
    x0, x1, y0, y1 = allx[ok].min(), allx[ok].max(), ally[ok].min(), ally[ok].max()
    px, py = (x1 - x0) * 0.1, (y1 - y0) * 0.1
    x0, x1, y0, y1 = x0 - px, x1 + px, y0 - py, y1 + py
    ax = _axes(ax)
    if objective is not None:
        ex, ey = np.linspace(x0, x1, grid + 1), np.linspace(y0, y1, grid + 1)
        cx, cy = np.meshgrid((ex[:-1] + ex[1:]) / 2, (ey[:-1] + ey[1:]) / 2)
        z = np.asarray(objective(cx, cy), dtype=float)
        finite = np.sort(z[np.isfinite(z)])
        rank = np.searchsorted(finite, z, side="left") / max(len(finite), 1)
        shade = np.where(np.isfinite(z), (235.0 - 120.0 * rank) / 255.0, 1.0)
        rgb = np.stack([shade, shade, np.ones_like(shade)], axis=-1)
        ax.pcolormesh(ex, ey, rgb, shading="flat")
    for k, ((c, _), x, y) in enumerate(zip(rows, xs, ys)):
        ax.plot(x, y, color=COLORS[(k + 1) % len(COLORS)], linewidth=2, label=f"chain {c}")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.xaxis.set_major_formatter(_formatter())
    _finish(ax, title or f"Trajectories: {run_name(run)}", f"x{i + 1}", f"x{j + 1}")
    return ax
