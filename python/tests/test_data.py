"""Objective data from numpy arrays: the same results as the same data from .npy files, in every
dtype and memory order; bad arrays are refused by the library's data checks."""

import numpy as np
import pytest

import escapade
from conftest import run_cli

RUN = dict(chains=64, steps=300, seed=3, backend="cpu")


def phase_retrieval_data(m=40, d=4):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(m, d))
    y = (a @ rng.normal(size=d)) ** 2
    return a, y


def events(run):
    return run.events.tobytes(), run.chains.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
def test_phase_retrieval_arrays_equal_the_npy_files(tmp_path, dtype, order):
    a, y = phase_retrieval_data()
    a, y = a.astype(dtype), y.astype(dtype)
    np.save(tmp_path / "A.npy", a)
    np.save(tmp_path / "y.npy", y)
    from_files = escapade.run(objective="phase-retrieval", data=[tmp_path / "A.npy", tmp_path / "y.npy"], **RUN)
    from_arrays = escapade.run(objective="phase-retrieval", data={"A": np.asarray(a, order=order), "y": y}, **RUN)
    assert events(from_arrays) == events(from_files)
    # The arrays as a list, in the order of --data's files.
    assert events(escapade.run(objective="phase-retrieval", data=[np.asarray(a, order=order), y], **RUN)) == events(from_files)
    assert from_files.summary["objective"] == from_arrays.summary["objective"]


def test_phase_retrieval_arrays_equal_the_cli_with_npy_files(cli, tmp_path):
    a, y = phase_retrieval_data()
    np.save(tmp_path / "A.npy", a)
    np.save(tmp_path / "y.npy", y)
    run_cli(cli, "run", "--objective", "phase-retrieval", "--data", f"{tmp_path / 'A.npy'},{tmp_path / 'y.npy'}", "--chains", "64", "--steps", "300",
            "--seed", "3", "--backend", "cpu", "--out", str(tmp_path / "cli"), "--plots", "none", "--quiet")
    run = escapade.run(objective="phase-retrieval", data={"A": np.asfortranarray(a), "y": y}, **RUN)
    run.save(tmp_path / "py", plots="none")
    assert (tmp_path / "py" / "events.csv").read_bytes() == (tmp_path / "cli" / "events.csv").read_bytes()


def test_matrix_factorization_and_linear_network_arrays_equal_the_npy_files(tmp_path):
    rng = np.random.default_rng(1)
    u = rng.normal(size=(5, 2))
    m = u @ u.T
    y = rng.normal(size=(4, 3))
    for objective, name, array in [("matrix-factorization", "M", m), ("linear-network", "Y", y)]:
        for dtype in [np.float32, np.float64]:
            typed = array.astype(dtype)
            np.save(tmp_path / f"{name}.npy", typed)
            from_file = escapade.run(objective=objective, data=[tmp_path / f"{name}.npy"], **RUN)
            from_array = escapade.run(objective=objective, data={name: np.asfortranarray(typed)}, **RUN)
            assert events(from_array) == events(from_file), (objective, dtype)


def test_nan_names_the_array_and_entry():
    a, y = phase_retrieval_data()
    a[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"invalid A: .*entry \(3, 2\) is NaN"):
        escapade.run(objective="phase-retrieval", data={"A": a, "y": y}, **RUN)
    a, y = phase_retrieval_data()
    y[5] = np.inf
    with pytest.raises(ValueError, match=r"invalid y: .*entry \(5, 0\) is inf"):
        escapade.run(objective="phase-retrieval", data={"A": a, "y": y}, **RUN)


def test_wrong_shapes_name_the_array():
    a, y = phase_retrieval_data()
    with pytest.raises(ValueError, match=r"^invalid y: got 10 x 1, allowed: a 40 x 1 matrix$"):
        escapade.run(objective="phase-retrieval", data={"A": a, "y": y[:10]}, **RUN)
    with pytest.raises(ValueError, match=r"^invalid A: got a 3-dimensional array"):
        escapade.run(objective="phase-retrieval", data={"A": a.reshape(40, 2, 2), "y": y}, **RUN)
    with pytest.raises(ValueError, match=r"invalid M: got 2 x 3, allowed: a square"):
        escapade.run(objective="matrix-factorization", data={"M": np.ones((2, 3))}, **RUN)
    with pytest.raises(ValueError, match=r"invalid A: .*it is empty"):
        escapade.run(objective="phase-retrieval", data={"A": np.zeros((0, 4)), "y": np.zeros(0)}, **RUN)


def test_wrong_keys_types_and_objectives():
    a, y = phase_retrieval_data()
    with pytest.raises(ValueError, match=r"^invalid data: got the keys A, allowed: a dict with the arrays A, y \(optional: x_star\)$"):
        escapade.run(objective="phase-retrieval", data={"A": a}, **RUN)
    with pytest.raises(TypeError, match=r'^data\["A"\]: expected a float32 or float64 numpy array, got ndarray of dtype int64$'):
        escapade.run(objective="phase-retrieval", data={"A": a.astype(np.int64), "y": y}, **RUN)
    with pytest.raises(TypeError, match=r"got ndarray of dtype float16$"):
        escapade.run(objective="phase-retrieval", data={"A": a.astype(np.float16), "y": y}, **RUN)
    with pytest.raises(ValueError, match=r"^invalid data: "):
        escapade.run(objective="octopus", data={"A": a}, **RUN)
    with pytest.raises(ValueError, match=r"^invalid dim: got 7, allowed: 4 \(the dimension the --data files give\)"):
        escapade.run(objective="phase-retrieval", dim=7, data={"A": a, "y": y}, **RUN)


@pytest.mark.parametrize("dtype", [">f4", ">f8"])
def test_byte_swapped_arrays_equal_native_ones(dtype):
    """A big-endian float array (as the command line reads a '>f8' .npy file) is its values."""
    a, y = phase_retrieval_data()
    native = np.dtype(dtype).newbyteorder("=")
    swapped = escapade.run(objective="phase-retrieval", data={"A": a.astype(dtype), "y": y.astype(dtype)}, **RUN)
    plain = escapade.run(objective="phase-retrieval", data={"A": a.astype(native), "y": y.astype(native)}, **RUN)
    assert events(swapped) == events(plain)


class Foreign:
    """An array from another library (JAX, torch): not a numpy array, readable through
    ``__array__``, with a dtype that numpy's own conversion would not take as is."""

    def __init__(self, a):
        self._a = a
        self.dtype = "foreign"

    def __array__(self, dtype=None, copy=None):
        return self._a if dtype is None else self._a.astype(dtype)


def test_arrays_from_other_libraries_equal_numpy_ones():
    a, y = phase_retrieval_data()
    own = escapade.run(objective="phase-retrieval", data={"A": a, "y": y}, **RUN)
    foreign = escapade.run(objective="phase-retrieval", data={"A": Foreign(a), "y": Foreign(y)}, **RUN)
    assert events(own) == events(foreign)
    # A transposed A names A and says so.
    with pytest.raises(ValueError, match="invalid A.*transposed"):
        escapade.Experiment(objective="phase-retrieval", data={"A": a.T.copy(), "y": y}, **RUN)


def test_phase_retrieval_with_its_solution_labels_like_generated_data():
    """data with x_star: the chains that reach +-x* are labelled 1 and converge in a minimum's
    basin; without it every label is 0."""
    rng = np.random.default_rng(4)
    a = rng.normal(size=(60, 4))
    xs = rng.normal(size=4)
    y = (a @ xs) ** 2
    run = dict(objective="phase-retrieval", chains=64, steps=3000, seed=1, backend="cpu", method="pgd")
    with_xs = escapade.run(data={"A": a, "y": y, "x_star": xs}, **run)
    without = escapade.run(data={"A": a, "y": y}, **run)
    del run["objective"]
    assert (with_xs.chains["label"] == 1).sum() > 32
    assert (without.chains["label"] == 0).all()
    assert with_xs.summary["counts"]["converged"] > 32
    with pytest.raises(ValueError, match="x_star"):
        escapade.Experiment(objective="phase-retrieval", data={"A": a, "y": y, "x_star": xs[:3]}, **run)
