"""escapade: large ensembles of first-order optimizers escaping saddle points.

The Python face of the escapade library (Rust; GPU compute shaders through wgpu, and a CPU twin).
Every option is one of ``escapade run``'s flags, spelled in snake_case (``g_thres=1e-3`` is
``--g-thres 1e-3``), checked by the library exactly as the command line checks it::

    import escapade
    run = escapade.run(objective="octopus", dim=5, method="pgd", chains=4096, steps=2000,
                       seed=1, init="uniform:1", backend="auto", eta=0.05)
    # backend="auto" (the default): a hardware GPU, else the CPU backend (a software
    # adapter such as lavapipe only with backend="gpu"); run.summary["backend"], ["adapter"]
    run.summary["counts"]          # summary.json as a dict
    run.events["escape_steps"]     # events.csv as a numpy structured array
    run.survival()["kaplan_meier"]["survival"]
    run.save("out")                # exactly the files `escapade run --out out` writes

Errors: bad input raises ``ValueError`` (an unknown option ``TypeError``) with the command
line's message; a failed run (no GPU adapter where one was required, a lost device) raises
:class:`EscapadeError`; Ctrl-C stops a run cleanly and raises ``KeyboardInterrupt``.

Tables: :attr:`Run.events`, :attr:`Run.chains` and :attr:`Run.trace` are numpy structured arrays
whose fields are the CSV files' columns (:class:`Table`, read-only). ``run.events.to_pandas()``
and ``run.chains.to_arrow()`` convert them when pandas or pyarrow is installed (neither is
required).
"""

from __future__ import annotations

import builtins
import csv
import itertools
import json
import os
import re
import pathlib
import warnings
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np

from . import _escapade
from ._escapade import EscapadeError, Oracle

__version__: str = _escapade.__version__

# Not "list": `from escapade import *` would shadow the builtin (escapade.list is still public).
__all__ = ["EscapadeError", "Experiment", "Oracle", "Run", "Table", "load", "objectives", "option_names", "run", "sweep", "__version__"]

PathLike = Union[str, "os.PathLike[str]"]
Progress = Union[bool, Callable[[Dict[str, Any]], Any], None]


def __getattr__(name: str) -> Any:
    # ``escapade.plot`` without ``import escapade.plot``; matplotlib itself is imported only
    # when a plot is drawn, so the package never needs it.
    if name == "plot":
        import importlib

        return importlib.import_module(".plot", __name__)
    raise AttributeError(f"module 'escapade' has no attribute {name!r}")


def option_names() -> List[str]:
    """The option names :func:`run` and :class:`Experiment` accept (``escapade run``'s flags,
    in snake_case)."""
    return [k.replace("-", "_") for k in _escapade.flag_names()]


def objectives() -> List[Dict[str, Any]]:
    """The built-in objectives, as ``escapade list`` prints them (the library's catalogue): one
    dict each with ``name`` (the ``objective`` option's value), ``doc`` (f and its label),
    ``dim`` (how the dimension follows from ``dim``), ``options`` (the options it reads besides
    ``dim``, ``data`` and ``data_seed``), ``data`` (the arrays ``data=`` takes, in order) and
    ``usage`` (ranges and defaults). ``custom`` (``wgsl=``) is not among them."""
    return _escapade.objectives()


def _objective_names() -> List[str]:
    """The names ``objective=`` takes as they are (the catalogue's, and ``custom``)."""
    return [o["name"] for o in _escapade.objectives()] + ["custom"]


def _formula(options: Dict[str, Any]) -> Dict[str, Any]:
    """``objective="0.5*x[0]**2 + sum(i, x[i]**4)"`` as the expression objective it is
    (``objective="expr", f=...``); a bare word stays a name, so that a misspelt one is refused
    with the list of names."""
    objective = options.get("objective")
    if not isinstance(objective, str) or objective in _objective_names() or re.fullmatch(r"[A-Za-z_-]+", objective):
        return options
    if "f" in options:
        raise TypeError(f"objective={objective!r} is not a built-in objective, and f= gives the expression already")
    return dict(options, objective="expr", f=objective)


def list() -> str:  # noqa: A001 (mirrors `escapade list`; this module says builtins.list for the type)
    """What ``escapade list`` prints, as text: the objectives with their options, ranges and
    defaults, the shipped data sets, the methods and the method parameters
    (``print(escapade.list())``). :func:`objectives` gives the objectives as data."""
    return _escapade.list_text()


def _is_path(v: Any) -> bool:
    return isinstance(v, (str, os.PathLike))


def _parse(options: Dict[str, Any], data: Any, wgsl: Any) -> "_escapade._Options":
    """Checks options as ``escapade run`` checks its flags (the library does the checking)."""
    options = dict(options)
    arrays = None
    if data is not None:
        if isinstance(data, (builtins.list, tuple)) and all(_is_path(d) for d in data):
            options["data"] = [os.fspath(d) for d in data]
        elif _is_path(data):
            options["data"] = [os.fspath(data)]
        else:
            arrays = data
    source = None
    if wgsl is not None:
        if isinstance(wgsl, str):
            if "\n" not in wgsl and wgsl.strip().endswith(".wgsl"):
                # A file name given as a str would be parsed as source ("found `f`" at 1:1).
                raise TypeError(f"wgsl: a str is WGSL source; for the file {wgsl!r} pass pathlib.Path({wgsl!r})")
            source = wgsl
        elif isinstance(wgsl, os.PathLike):
            options["wgsl"] = os.fspath(wgsl)
        else:
            raise TypeError(f"wgsl: expected WGSL source (str) or a file path (os.PathLike), got {type(wgsl).__name__}")
    return _escapade.parse(options, arrays, source)


def _progress_callback(progress: Progress):
    """The callable for ``progress`` and a function closing what it opened."""
    if isinstance(progress, np.bool_):
        progress = bool(progress)
    if progress is None or progress is False:
        return None, lambda: None
    if callable(progress):
        return progress, lambda: None
    if progress is not True:
        # Not a truthy "yes" or 0 drawing a bar.
        raise TypeError(f"progress: expected True, False, None or a callable, got {type(progress).__name__}")
    try:
        from tqdm.auto import tqdm
    except ImportError:
        warnings.warn("progress=True shows a bar when tqdm is installed (pip install tqdm)", RuntimeWarning, stacklevel=4)
        return None, lambda: None
    bar = tqdm(total=None, unit="chain-step", unit_scale=True, dynamic_ncols=True)

    def update(p: Dict[str, Any]) -> None:
        if bar.total != p["work_total"]:
            bar.total = p["work_total"]
        bar.n = min(p["work_done"], p["work_total"])
        bar.set_postfix(escapes=p["events"], diverged=p["diverged"], refresh=False)
        bar.refresh()

    return update, bar.close


class Experiment:
    """A checked experiment: ``escapade run``'s options as keyword arguments.

    ``Experiment(objective="octopus", dim=5, chains=1024)`` checks every option at once (a bad
    value raises ``ValueError`` with the command line's message, an unknown name ``TypeError``).
    Options left out take the command line's defaults.

    Args:
        data: the objective's data: a dict of numpy arrays (phase-retrieval ``{"A": A, "y": y}``
            and optionally ``"x_star"``, matrix-factorization ``{"M": M}``, linear-network
            ``{"Y": Y}``, mlp ``{"X": X, "y": y}``; :func:`objectives` lists them; float32 or float64,
            C or Fortran order, 1-D arrays as columns), the arrays in that order, or file paths
            (.npy or .csv) as ``--data`` takes them.
        wgsl: a custom objective: WGSL source (a ``str``; errors name ``<wgsl>:line:column``) or
            a file (an ``os.PathLike`` such as ``pathlib.Path``). Needs ``dim``.
        init: a spec string as ``--init`` takes it, or an array of starting points: one row per
            chain (chains x d; row c starts chain c, on every backend) or one point (a 1-D array
            of d values, or 1 x d: every chain starts there). Anything numpy.asarray reads (a
            list, a JAX array) is taken. ``run.points`` of an earlier run starts where it ended.
            experiment.toml records it as ``init = "array"``, which does not rerun from the file.
        **options: the flags of ``escapade run`` in snake_case, e.g. ``method="pgd"``,
            ``eta=0.05``, ``state="f64"``, ``trace_chains=4``.
    """

    def __init__(self, *, data: Any = None, wgsl: Any = None, **options: Any) -> None:
        self._data = data
        self._wgsl = wgsl
        self._options = _formula({k: v for k, v in options.items() if v is not None})
        self._native = _parse(self._options, data, wgsl)

    @classmethod
    def from_toml(cls, path: PathLike, **overrides: Any) -> "Experiment":
        """The experiment of a TOML experiment file (keys: ``escapade run``'s flags), checked as
        ``escapade run FILE`` checks it; ``overrides`` replace its values."""
        options = dict(_escapade.read_experiment(os.fspath(path)))
        options = {k.replace("-", "_"): v for k, v in options.items()}
        # The file names data and WGSL files (paths, as the command line reads them).
        data = options.pop("data", None)
        wgsl = options.pop("wgsl", None)
        data = overrides.pop("data", data)
        wgsl = overrides.pop("wgsl", None if wgsl is None else pathlib.Path(wgsl))
        options.update(overrides)
        return cls(data=data, wgsl=wgsl, **options)

    @property
    def options(self) -> Dict[str, Any]:
        """The options as given (without data arrays or WGSL source)."""
        return dict(self._options)

    def replace(self, **changes: Any) -> "Experiment":
        """A copy with some options changed (checked again)."""
        data = changes.pop("data", self._data)
        wgsl = changes.pop("wgsl", self._wgsl)
        return Experiment(data=data, wgsl=wgsl, **{**self._options, **changes})

    def to_toml(self) -> str:
        """Every option, defaults included (the objective's and method's parameters that apply:
        ``eta``, ``radius``, ``g_thres``, ...), as experiment.toml records it, so that the file
        states the run fully.

        Raises:
            ValueError: data, ``init`` or WGSL given in memory (arrays, source), which a string
                cannot hold; :meth:`Run.save` and ``run(out=DIR)`` write them into the run
                directory and name them in its experiment.toml.
        """
        return self._native.to_toml()

    def run(self, *, out: Optional[PathLike] = None, progress: Progress = None) -> "Run":
        """Runs the experiment (the GIL is released while it runs).

        Args:
            out: (default: the ``out`` option, if given) also write the output directory as
                ``escapade run --out OUT`` does, with
                checkpoints every ``checkpoint_every`` seconds there (``resume=True`` continues
                an interrupted run; ``force=True`` replaces a run already there).
            progress: a callable receiving a dict (``work_done``, ``work_total``, ``fraction``,
                ``events``, ``diverged``, ``chain_steps_per_second``, ...) about ten times a
                second and at the end, or ``True`` for a tqdm bar when tqdm is installed.

        Raises:
            ValueError: input the command line refuses too (e.g. ``backend="gpu"`` for a custom
                WGSL objective beyond d = 256 without a cooperative form).
            EscapadeError: the run failed (no GPU adapter for ``backend="gpu"``, device lost).
            KeyboardInterrupt: Ctrl-C; the run stopped at its next dispatch, leaving a
                checkpoint in OUT/checkpoint when ``out`` is given.
        """
        if out is None:
            out = self._options.get("out")
        callback, close = _progress_callback(progress)
        try:
            native, fallback = self._native.run(None if out is None else os.fspath(out), callback)
        finally:
            close()
        if fallback:
            warnings.warn(fallback, RuntimeWarning, stacklevel=2)
        return Run(native, self)

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in self._options.items())
        extra = (", data=...") if self._data is not None else ""
        extra += ", wgsl=..." if self._wgsl is not None else ""
        return f"Experiment({items}{extra})"


def run(
    objective: Union[str, Oracle, None] = None,
    dim: Optional[int] = None,
    method: Optional[str] = None,
    chains: Optional[int] = None,
    steps: Optional[int] = None,
    seed: Optional[int] = None,
    init: Any = None,
    backend: Optional[str] = None,
    *,
    data: Any = None,
    wgsl: Any = None,
    out: Optional[PathLike] = None,
    progress: Progress = None,
    **options: Any,
) -> "Run":
    """Runs an ensemble: ``escapade run`` with keyword arguments; returns its :class:`Run`.

    Every argument left at ``None`` takes the command line's default (objective octopus, d = 5 or
    2, method pgd, 4096 chains, ...; ``escapade list`` shows them). ``options`` are the other
    flags of ``escapade run`` in snake_case (``eta``, ``radius``, ``g_thres``, ``state``,
    ``trace_chains``, ...). ``objective`` may be an :class:`Oracle`: a batched Python function
    (numpy, JAX), run on the CPU backend. See :class:`Experiment` for ``data`` and ``wgsl``, and
    :meth:`Experiment.run` for ``out``, ``progress`` and the exceptions.
    """
    named = dict(objective=objective, dim=dim, method=method, chains=chains, steps=steps, seed=seed, init=init, backend=backend)
    exp = Experiment(data=data, wgsl=wgsl, **named, **options)
    return exp.run(out=out, progress=progress)


def sweep(
    base: Union[Experiment, Mapping[str, Any], PathLike],
    grid: Mapping[str, Sequence[Any]],
    *,
    out: Optional[PathLike] = None,
    progress: Progress = None,
) -> List["Run"]:
    """Runs every point of a grid (the cartesian product of ``grid``'s value lists) over
    ``base`` (an :class:`Experiment`, a dict of options, or a TOML experiment file), like
    ``escapade sweep``. Every point is checked before the first one runs. With ``out``, point
    ``k1=v1, k2=v2`` is written to ``OUT/k1=v1_k2=v2`` (the command line's layout: flag names,
    and ``/`` and other path characters percent-encoded, ``shard=0%2F2``); the base's own
    ``out`` option is not used (as ``escapade sweep`` ignores an experiment file's).

    Returns:
        The runs, in grid order; ``run.options`` holds each point's options.
    """
    if isinstance(base, Experiment):
        exp = base
    elif isinstance(base, Mapping):
        exp = Experiment(**base)
    else:
        exp = Experiment.from_toml(base)
    # Each point's output is OUT/k1=v1_k2=v2 or none: never the base's own ``out`` (which every
    # point would write to; ``escapade sweep`` ignores an experiment file's ``out`` too).
    if "out" in exp.options:
        exp = exp.replace(out=None)
    keys = builtins.list(grid)
    for k in keys:
        if isinstance(grid[k], (str, bytes)) or not isinstance(grid[k], Iterable):
            raise TypeError(f"grid[{k!r}]: expected a sequence of values (e.g. [{grid[k]!r}]), got {type(grid[k]).__name__}")
    points = [dict(zip(keys, values)) for values in itertools.product(*(builtins.list(grid[k]) for k in keys))]
    experiments = []
    for point in points:
        try:
            experiments.append(exp.replace(**point))
        except ValueError as e:
            tag = " ".join(f"{k}={v}" for k, v in point.items())
            raise ValueError(f"{e} (grid point {tag})") from None
    runs = []
    for point, experiment in zip(points, experiments):
        where = None
        if out is not None:
            where = os.path.join(os.fspath(out), _dir_name(point))
        runs.append(experiment.run(out=where, progress=progress))
    return runs


class TuneResult:
    """What :func:`tune` chose, read back from its output directory."""

    def __init__(self, dir: str) -> None:
        self.dir = dir
        with open(os.path.join(dir, "tune.json")) as f:
            self.summary: Dict[str, Any] = json.load(f)
        """tune.json: the statistic, the rungs, ``best`` (values, estimate and interval),
        ``theory`` (the theory's choice beside it) and ``compute`` (chain-steps against the
        full grid's)."""
        with open(os.path.join(dir, "tune.csv"), newline="") as f:
            self.table: List[Dict[str, str]] = builtins.list(csv.DictReader(f))
        """tune.csv's rows: every candidate at every rung, and the theory's."""
        self.best: Experiment = Experiment.from_toml(os.path.join(dir, "best.toml"))
        """The experiment with the chosen values (best.toml)."""

    @property
    def values(self) -> Dict[str, float]:
        """The chosen values, by option name (snake_case)."""
        return {k.replace("-", "_"): float(v) for k, v in self.summary["best"]["values"].items()}

    def __repr__(self) -> str:
        b = self.summary["best"]
        return f"TuneResult({self.values}, {self.summary['statistic']} {b['value']} [{b['lower']}, {b['upper']}])"


def tune(
    base: Union[Experiment, Mapping[str, Any], PathLike],
    space: Mapping[str, Union[str, Sequence[float]]],
    *,
    out: PathLike,
    statistic: str = "ert",
    reduction: int = 3,
    rungs: Optional[int] = None,
    budget: Optional[int] = None,
    max_diverged: float = 0.01,
    max_precision_limited: float = 1.0,
    bootstrap: int = 200,
    confidence: float = 0.95,
    indifference: float = 0.0,
    rho_from: Optional[PathLike] = None,
    theory: bool = True,
    plots: str = "svg",
    resume: bool = False,
    force: bool = False,
    quiet: bool = True,
) -> TuneResult:
    """Successive halving over run options, like ``escapade tune``: ``space`` maps an option
    (radius, clip, eta, t_thres, g_thres, f_thres, noise, batch, margin) to its values, a list
    of numbers or a spec string (``"log:1e-4:1:13"``, ``"lin:0.1:0.5:5"``). ``base`` is an
    :class:`Experiment`, a dict of options or a TOML experiment file; its chains and steps are
    the last rung's. The other keywords are the command's flags (``theory=False`` is
    ``--no-theory``). Everything is written to ``out`` (the base as ``out/base.toml`` when it
    is not a file).

    Returns:
        A :class:`TuneResult` (the choice, tune.csv's rows, tune.json).

    Raises:
        ValueError: bad input, with the command line's words (nothing runs).
        EscapadeError: no candidate met the constraints, or none gave a finite statistic
            (tune.csv is written).
        KeyboardInterrupt: interrupted; ``resume=True`` continues.
    """
    out = os.fspath(out)
    if isinstance(base, (Experiment, Mapping)):
        exp = base if isinstance(base, Experiment) else Experiment(**base)
        os.makedirs(out, exist_ok=True)
        path = os.path.join(out, "base.toml")
        with open(path, "w") as f:
            f.write(exp.to_toml())
    else:
        path = os.fspath(base)
    argv = ["escapade", "tune", path, "--out", out, "--statistic", statistic, "--reduction", str(reduction)]
    for key, spec in space.items():
        if not isinstance(spec, str):
            if not isinstance(spec, Iterable):
                raise TypeError(f"space[{key!r}]: expected a spec string or a sequence of numbers, got {type(spec).__name__}")
            spec = ",".join(repr(float(v)) if not isinstance(v, int) else str(v) for v in spec)
        argv += ["--tune", f"{key}={spec}"]
    flags = {"rungs": rungs, "budget": budget, "rho-from": None if rho_from is None else os.fspath(rho_from)}
    for k, v in flags.items():
        if v is not None:
            argv += [f"--{k}", str(v)]
    argv += ["--max-diverged", repr(max_diverged), "--max-precision-limited", repr(max_precision_limited)]
    argv += ["--bootstrap", str(bootstrap), "--confidence", repr(confidence), "--indifference", repr(indifference), "--plots", plots]
    argv += [flag for flag, on in [("--no-theory", not theory), ("--resume", resume), ("--force", force), ("--quiet", quiet)] if on]
    _escapade.tune(argv)
    return TuneResult(out)


def _dir_name(point: Mapping[str, Any]) -> str:
    """A grid point's directory as ``escapade sweep`` names it: ``key=value`` pairs (flag names)
    joined by ``_``, each byte but letters, digits and ``.,+-[]`` percent-encoded (``shard=0/2``
    is ``shard=0%2F2``, never a subdirectory)."""

    def encode(text: str) -> str:
        return "".join(chr(b) if chr(b).isascii() and (chr(b).isalnum() or chr(b) in ".,+-[]") else f"%{b:02X}" for b in text.encode())

    return "_".join(f"{encode(k.replace('_', '-'))}={encode(str(v))}" for k, v in point.items())


def load(dir: PathLike) -> "Run":
    """Reads a run's output directory (``escapade run --out DIR`` or :meth:`Run.save`)."""
    return Run(_escapade.load(os.fspath(dir)), None)


class Table(np.ndarray):
    """A numpy structured array whose fields are a CSV file's columns (:attr:`Run.events`,
    :attr:`Run.chains`, :attr:`Run.trace`), read-only, with conversions for pandas and pyarrow
    (optional: neither is needed to use the array)."""

    def to_pandas(self) -> Any:
        """The table as a pandas DataFrame, one column per field (needs pandas)."""
        import pandas as pd

        return pd.DataFrame({name: np.asarray(self[name]) for name in self.dtype.names or ()})

    def to_arrow(self) -> Any:
        """The table as a pyarrow Table, one column per field (needs pyarrow)."""
        import pyarrow as pa

        return pa.table({name: np.asarray(self[name]) for name in self.dtype.names or ()})


def _structured(columns: Mapping[str, Any]) -> Table:
    """Columns (numpy arrays, or lists of strings) as one read-only structured array."""
    arrays = {k: (np.array(v, dtype=str) if isinstance(v, builtins.list) else np.asarray(v)) for k, v in columns.items()}
    n = len(next(iter(arrays.values()))) if arrays else 0
    out = np.empty(n, dtype=[(k, a.dtype) for k, a in arrays.items()])
    for k, a in arrays.items():
        out[k] = a
    # Cached by the Run and handed out as is: writing into it would change what every later
    # read of the run sees, so it cannot be written (np.array(run.events) is a writable copy).
    out.flags.writeable = False
    return out.view(Table)


class Run:
    """A run's results: what ``escapade run`` writes to its output directory.

    Made by :func:`run`, :meth:`Experiment.run`, :func:`sweep` or :func:`load`.
    """

    def __init__(self, native: "_escapade._Run", experiment: Optional[Experiment]) -> None:
        self._native = native
        self._experiment = experiment
        self._cache: Dict[str, Any] = {}

    @property
    def experiment(self) -> Optional[Experiment]:
        """The experiment run (None for a loaded run)."""
        return self._experiment

    @property
    def options(self) -> Dict[str, Any]:
        """The options the run was given (empty for a loaded run; see its experiment.toml)."""
        return self._experiment.options if self._experiment is not None else {}

    @property
    def summary(self) -> Dict[str, Any]:
        """summary.json as a dict (its documented schema)."""
        if "summary" not in self._cache:
            self._cache["summary"] = json.loads(self._native.summary_json())
        return self._cache["summary"]

    def _table(self, name: str) -> Table:
        if name not in self._cache:
            self._cache[name] = _structured(getattr(self._native, name)())
        return self._cache[name]

    @property
    def events(self) -> Table:
        """events.csv as a structured array: chain, label, t_stall, escape_steps, f_stall,
        f_escape (one row per escape)."""
        return self._table("events")

    @property
    def chains(self) -> Table:
        """chains.csv as a structured array, one row per chain, fields as the CSV's columns.
        Empty cells become -1 (``label``, ``t_limited``) or NaN (``lambda_min``,
        ``lambda_residual``, and ``train_loss``, ``train_accuracy``, ``holdout_loss``,
        ``holdout_accuracy``, which network objectives fill at each chain's resting point);
        ``sosp`` is 1 (yes), 0 (no) or -1 (not examined); ``status`` and ``outcome`` are
        strings. ``summary["network"]`` holds their distributions over the chains."""
        return self._table("chains")

    @property
    def points(self) -> Optional[np.ndarray]:
        """Each chain's resting point, a (chains x d) float64 array: its last x, or the x~ that
        Jin et al.'s rule returns for a chain kicked in its current stall. A loaded run has them
        when it was run with ``save_points=True`` (points.npy); else None. ``init=run.points``
        starts a new run from them."""
        if "points" not in self._cache:
            self._cache["points"] = self._native.points()
        return self._cache["points"]

    @property
    def trace(self) -> Table:
        """trace.csv as a structured array (chain, step, f, x0, x1, ...); empty unless the run
        traced chains (``trace_chains``)."""
        return self._table("trace")

    @property
    def labels(self) -> List[int]:
        """The labels at which some chain stalled (the keys :meth:`survival` takes); a label's
        ``summary["survival"]["by_label"][str(label)]["saddle_stalls"]`` says how many of those
        stalls were at saddles (0 at a minimum's label)."""
        return builtins.list(self._native.labels())

    def survival(self, label: Optional[int] = None) -> Dict[str, Any]:
        """Escape-time statistics over the saddle stalls (all labels, or one).

        Returns:
            ``{"kaplan_meier": {...}, "cumulative_incidence": {cause: {...}}}``: the Kaplan-Meier
            curve as arrays ``t, at_risk, events, survival, se, lower, upper`` (over all labels
            with the chain-clustered band, as summary.json and the CLI's plot give it: a chain
            stalls at several saddles and its stalls are not independent; for one label,
            Greenwood's), and for each
            cause (``escaped``, ``diverged``, ``precision_limited``) the Aalen-Johansen
            cumulative incidence as arrays ``t, at_risk, events, cif, se, lower, upper``.
        """
        return self._native.survival(label)

    def save(self, dir: PathLike, plots: str = "svg", overwrite: bool = False) -> List[str]:
        """Writes the files ``escapade run --out DIR`` writes: summary.json, events.csv,
        chains.csv, trace.csv (when traced), experiment.toml and plots (``"svg"``, ``"png"`` or
        ``"none"``). A run already in ``dir`` needs ``overwrite=True``. Returns the plots.

        experiment.toml records every option, so that ``escapade run DIR/experiment.toml`` and
        :meth:`Experiment.from_toml` rerun the run exactly: data given as arrays
        (``data={...}``), an ``init`` array and WGSL given as source are written into
        ``DIR/inputs/`` (``A.npy``, ``y.npy``, ``x_star.npy``, ... in float64, ``init.npy``,
        ``objective.wgsl``) and named there by absolute path (``data = [...]``,
        ``init = "file:..."``, ``wgsl = ...``); saving a loaded run carries its inputs along."""
        return [os.fspath(p) for p in self._native.save(os.fspath(dir), plots, overwrite)]

    def __repr__(self) -> str:
        return f"<escapade.Run {self._native.human_summary().splitlines()[0] if self._native.human_summary() else ''}>"

    def __str__(self) -> str:
        return self._native.human_summary()
