"""Type stubs of the native module escapade._escapade (the package escapade wraps it)."""

from os import PathLike
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

__version__: str

class EscapadeError(Exception):
    """A run failed although its input was fine: no GPU adapter where one was required, the
    device was lost, files could not be written."""

class Oracle:
    """A batched objective for ``escapade.run(objective=Oracle(fn, dim), backend="cpu")``.

    ``fn(X)`` takes the points as an (n, dim) array (float32, or float64 with ``state="f64"``;
    n is at least the chains stepping in a block: escapade calls ``fn`` once per step per block)
    and returns ``(values, gradients)`` of shapes (n,) and (n, dim), or
    ``(values, gradients, labels)`` with integer region labels (n,) >= 0; each row must depend
    on its own point only. Any array numpy reads is taken (numpy, JAX, torch; DLPack). A
    non-finite value or gradient marks that chain diverged, as for the built-in objectives.
    ``hvp(X, V)`` returns Hessian-vector products (n, dim) for certification and the resting
    points' spectra (default: central differences of ``fn``'s gradients). ``f_min``: the global
    minimum value, when known. ``name``: for reports and the fingerprint (default
    ``fn.__name__``). Runs on the CPU backend only; the function's code is not part of a
    checkpoint's fingerprint (its name and dim are).

    Raises:
        TypeError: fn or hvp is not callable.
        ValueError: dim is not an integer >= 1, or f_min is not finite.
    """

    fn: Callable[..., Any]
    hvp: Optional[Callable[..., Any]]
    dim: int
    f_min: Optional[float]
    name: str
    def __init__(
        self,
        fn: Callable[..., Any],
        dim: int,
        *,
        hvp: Optional[Callable[..., Any]] = None,
        f_min: Optional[float] = None,
        name: Optional[str] = None,
    ) -> None: ...

class _Options:
    """Checked run options: keyword arguments, data arrays and WGSL source."""

    def options(self) -> Dict[str, Any]:
        """The options as given."""
    def to_toml(self) -> str:
        """The options as experiment.toml records them (defaults included)."""
    def run(
        self,
        out: Optional[Union[str, PathLike[str]]] = None,
        progress: Optional[Callable[[Dict[str, Any]], Any]] = None,
        interval: float = 0.1,
    ) -> Tuple["_Run", Optional[str]]:
        """Runs the experiment with the GIL released; returns the run and, when `auto` fell
        back to the CPU, why."""

class _Run:
    """A run's results."""

    @property
    def source_dir(self) -> Optional[Path]:
        """The directory a loaded run came from (None for a run made in this process)."""
    def summary_json(self) -> str:
        """summary.json's text."""
    def human_summary(self) -> str:
        """The report's lines for people."""
    def events(self) -> Dict[str, np.ndarray]:
        """events.csv's columns."""
    def chains(self) -> Dict[str, Union[np.ndarray, List[str]]]:
        """chains.csv's columns (status and outcome as lists of strings)."""
    def trace(self) -> Dict[str, np.ndarray]:
        """trace.csv's columns."""
    def points(self) -> Optional[np.ndarray]:
        """Each chain's resting point (chains x d), or None for a loaded run saved without."""
    def labels(self) -> List[int]:
        """The stall labels with saddle stalls."""
    def survival(self, label: Optional[int] = None) -> Dict[str, Dict[str, Any]]:
        """Kaplan-Meier and cumulative-incidence tables (all labels, or one)."""
    def save(self, dir: Union[str, PathLike[str]], plots: str = "svg", overwrite: bool = False) -> List[Path]:
        """Writes the run's output files into `dir`; returns the plots written."""

def parse(
    options: Dict[str, Any],
    data: Optional[Union[Dict[str, np.ndarray], Sequence[np.ndarray]]] = None,
    wgsl_source: Optional[str] = None,
) -> _Options:
    """Checks keyword arguments as `escapade run` checks its flags (TypeError for a name that
    is no flag, ValueError with the command line's message for a bad value)."""

def read_experiment(path: Union[str, PathLike[str]]) -> Dict[str, Any]:
    """Reads a TOML experiment file into a dict of options, checked as `escapade run FILE`."""

def load(dir: Union[str, PathLike[str]]) -> _Run:
    """Reads a run's output directory back."""

def flag_names() -> List[str]:
    """The long names of `escapade run`'s flags (kebab-case)."""
def objectives() -> List[Dict[str, Any]]:
    """The built-in objectives, one dict per catalogue row: name, doc, dim, options, data, usage."""

def cli(argv: List[str]) -> int:
    """Runs the command line `argv` (program name first) with the GIL released; returns its exit
    status (`python -m escapade` and the `escapade` script)."""

def list_text() -> str:
    """What `escapade list` prints."""

def tune(argv: List[str]) -> None:
    """Runs `escapade tune` with `argv` (program name first) with the GIL released; raises
    ValueError on bad input, KeyboardInterrupt when interrupted (`escapade.tune`)."""
