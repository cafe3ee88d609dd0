"""Expression objectives from Python: objective="a formula", against the built-in objectives."""

import numpy as np
import pytest

import escapade

PGD = dict(method="pgd", chains=1024, steps=600, seed=3, backend="cpu", init="uniform:0.0001",
           eta=0.05, radius=0.01, g_thres=1e-3, f_thres=1e-4, t_thres=10)


def first_escapes(run):
    ev = run.events
    _, first = np.unique(ev["chain"], return_index=True)
    return np.sort(ev["escape_steps"][first].astype(float))


def ks(a, b):
    """The two-sample KS statistic."""
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / len(a)
    fb = np.searchsorted(b, grid, side="right") / len(b)
    return np.abs(fa - fb).max()


@pytest.mark.parametrize("name, formula, label", [
    ("toy-saddle", "0.5*x[0]**2 + 0.25*x[1]**4 - 0.5*x[1]**2", "3*x1^2 >= 1"),
    ("quartic", "sum(i, 0.25*x[i]**4 + 0.5*x[i]**2) - x[0]**2", "3*x0^2 >= 1"),
])
def test_a_formula_escapes_as_the_built_in_objective(name, formula, label):
    dim = {"toy-saddle": 2, "quartic": 6}[name]
    built_in = escapade.run(objective=name, dim=dim, **PGD)
    written = escapade.run(objective=formula, dim=dim, label=label, **dict(PGD, seed=4))
    assert written.options["objective"] == "expr" and written.options["f"] == formula
    a, b = first_escapes(built_in), first_escapes(written)
    assert len(a) > 900 and len(b) > 900
    # Critical value of the two-sample KS test at alpha = 0.01 for these sizes.
    crit = 1.63 * np.sqrt((len(a) + len(b)) / (len(a) * len(b)))
    assert ks(a, b) < crit, (ks(a, b), crit)
    # Every chain left the saddle's band by its label.
    assert set(written.chains["label"]) == {1}


def test_the_final_points_of_a_formula_are_its_minima():
    run = escapade.run(objective="0.25*(x0**2 - 1)**2 + 0.5*x1**2", method="gd", chains=64, steps=2000,
                       backend="cpu", init="uniform:2", eta=0.1, save_points=True)
    x = run.points
    assert x.shape == (64, 2)
    np.testing.assert_allclose(np.abs(x[:, 0]), 1.0, atol=1e-3)
    np.testing.assert_allclose(x[:, 1], 0.0, atol=1e-3)


def test_bad_formulas_name_the_place():
    with pytest.raises(Exception, match=r"invalid f: got \"x0 \+ \* 2\" at column 6"):
        escapade.Experiment(objective="x0 + * 2")
    with pytest.raises(Exception, match=r"x\[\(i0 \+ 1\)\] = x\[3\] at i0 = 2"):
        escapade.Experiment(objective="sum(i, x[i + 1]**2)", dim=3)
    # A bare word stays an objective name: a misspelt one gets the list of names.
    with pytest.raises(Exception, match="octopus"):
        escapade.Experiment(objective="octopu")
