"""escapade.Oracle: a batched Python function as the objective, on the CPU backend's batched
path. A numpy oracle of the built-in quartic gives the built-in's events; the function is called
once per step per block; bad outputs and exceptions end the run with a clear error; a JAX oracle
runs where JAX is installed (and must be with CI=true)."""

import os

import numpy as np
import pytest

import escapade

D = 16
EIG = np.array([-1.0] + [1.0] * (D - 1))


def quartic(X):
    """The built-in quartic (l = (-1, 1, ..., 1)) in X's float type, with its labels: 1 once
    x_0 has left its negative-curvature band (3 x_0^2 >= 1)."""
    l = EIG.astype(X.dtype)
    X2 = X * X
    f = (0.5 * l * X2 + 0.25 * X2 * X2).sum(axis=1)
    g = l * X + X2 * X
    labels = (3 * X2[:, 0] >= 1).astype(np.int64)
    return f, g, labels


# PGD from near the saddle: every chain stalls there, is kicked, escapes and is certified at a
# minimum; f64 state, where numpy's arithmetic and the built-in's differ only in the order of f's
# sum (a few ulps of f, none in the gradient). The method's parameters are given: an oracle's
# defaults are not the quartic's.
PGD = dict(eta=0.1, radius=0.01, g_thres=1e-3, f_thres=1e-3, t_thres=20, dim=D, method="pgd", chains=512, steps=4000, seed=3, init="normal:0.0001", state="f64", certify=200, backend="cpu", plots="none")


def test_a_numpy_oracle_gives_the_built_in_quartics_events():
    built_in = escapade.run(objective="quartic", **PGD)
    oracle = escapade.run(objective=escapade.Oracle(quartic, D, f_min=-0.25), **PGD)
    a, b = built_in.events, oracle.events
    assert len(a["escape_steps"]) >= PGD["chains"], "every chain escapes the saddle at least once"
    # Tolerance: the same number of escapes, each chain's escape times equal (the gradients are
    # the same bits; f differs by ulps, which moves no threshold crossing here) and final values
    # within 1e-12.
    assert len(a["escape_steps"]) == len(b["escape_steps"])
    assert np.array_equal(a["chain"], b["chain"]) and np.array_equal(a["escape_steps"], b["escape_steps"])
    assert np.array_equal(a["label"], b["label"])
    fa, fb = built_in.chains["f"], oracle.chains["f"]
    assert np.all(np.isfinite(fa)) and np.max(np.abs(fa - fb)) <= 1e-12
    assert built_in.summary["counts"] == oracle.summary["counts"]
    assert oracle.summary["objective"]["name"] == "oracle"


def test_f32_state_matches_to_float_tolerance():
    opts = dict(PGD, state="f32", chains=256)
    a = escapade.run(objective="quartic", **opts)
    b = escapade.run(objective=escapade.Oracle(quartic, D), **opts)
    # f32: numpy's pairwise sum of f and the built-in's running sum round differently, which can
    # move a stall or escape by a step: counts equal, mean escape time within 2%, final f within
    # 1e-5 (the minimum is -0.25).
    ea, eb = a.events["escape_steps"], b.events["escape_steps"]
    assert len(ea) == len(eb) > 0
    assert abs(ea.mean() - eb.mean()) <= 0.02 * ea.mean()
    assert np.max(np.abs(a.chains["f"] - b.chains["f"])) <= 1e-5


def test_fn_is_called_once_per_step_per_block_and_once_more_for_kicks():
    shapes = []

    def counted(X):
        shapes.append(X.shape)
        return quartic(X)[:2]

    hvps = []

    def hvp(X, V):
        hvps.append(X.shape)
        return EIG * V + 3 * X * X * V

    # GD: no kicks and no certification, so no one-point call; the resting points' spectra
    # come from hvp.
    steps, chains = 300, 1000
    run = escapade.run(objective=escapade.Oracle(counted, D, hvp=hvp), dim=D, method="gd", chains=chains, steps=steps, seed=1, init="normal:1", backend="cpu", plots="none")
    assert np.all(run.chains["steps"] == steps)
    # One call per step for the block of 1000 chains, and one for f and the gradient at every
    # resting point (the outcome's verdicts).
    assert len(shapes) == steps + 1
    assert set(shapes) == {(chains, D)}
    assert hvps and all(s[1] == D for s in hvps)
    # PGD kicking every third step: a second call in a step where chains kicked, for their new
    # points alone, so at most two calls a step (and the outcome's calls at the resting points:
    # f and gradients, and gradients for the Hessian products).
    shapes.clear()
    run = escapade.run(objective=escapade.Oracle(counted, D), dim=D, method="pgd", chains=chains, steps=steps, seed=1, init="normal:0.01", eta=0.1, radius=0.01, g_thres=1.0, t_thres=2, backend="cpu", plots="none")
    kicks = sum(n < chains for n, _ in shapes)
    assert steps < len(shapes) and 0 < kicks <= steps


def test_bad_outputs_are_refused_naming_fn_and_the_shapes():
    def short(X):
        f, g, _ = quartic(X)
        return f, g[:, :3]

    with pytest.raises(ValueError, match=r"Oracle short: fn's gradients of shape \[8, 3\], expected \[8, 16\]"):
        escapade.run(objective=escapade.Oracle(short, D), dim=D, method="gd", chains=8, steps=5, backend="cpu")

    def single(X):
        return quartic(X)[0]

    with pytest.raises(TypeError, match=r"Oracle single: fn must return \(values, gradients\)"):
        escapade.run(objective=escapade.Oracle(single, D), method="gd", chains=8, steps=5, backend="cpu")
    with pytest.raises(ValueError, match="Oracle dim: got 0"):
        escapade.Oracle(quartic, 0)
    with pytest.raises(TypeError, match="Oracle fn: expected a callable"):
        escapade.Oracle(3, D)
    with pytest.raises(ValueError, match="invalid dim: got 5, allowed: 16"):
        escapade.run(objective=escapade.Oracle(quartic, D), dim=5, chains=8, steps=5, backend="cpu")


def test_an_exception_in_fn_ends_the_run_and_is_raised_as_it_was():
    class Boom(Exception):
        pass

    calls = []

    def failing(X):
        calls.append(1)
        if len(calls) == 7:
            raise Boom("step 7")
        return quartic(X)

    with pytest.raises(Boom, match="step 7"):
        escapade.run(objective=escapade.Oracle(failing, D), method="gd", chains=64, steps=100, backend="cpu")
    assert len(calls) == 7, "no call after the exception"


def test_the_gpu_refuses_an_oracle_and_auto_runs_it_on_the_cpu():
    with pytest.raises(ValueError, match="CPU backend only"):
        escapade.run(objective=escapade.Oracle(quartic, D), method="gd", chains=8, steps=5, backend="gpu")
    with pytest.warns(RuntimeWarning, match="CPU backend only"):
        run = escapade.run(objective=escapade.Oracle(quartic, D), method="gd", chains=8, steps=5, backend="auto", plots="none")
    assert len(run.chains["f"]) == 8


def test_a_jax_oracle_runs_where_jax_is_installed():
    if os.environ.get("CI") == "true":
        import jax  # CI installs JAX (.ci/run): the test must run there, never skip
    else:
        jax = pytest.importorskip("jax", reason="JAX is not installed (CI installs it)")
    import jax.numpy as jnp

    l = jnp.asarray(EIG, dtype=jnp.float32)

    def f(x):
        return jnp.sum(0.5 * l * x * x + 0.25 * x**4)

    fn = jax.jit(jax.vmap(jax.value_and_grad(f)))
    opts = dict(PGD, state="f32", chains=256, steps=3000)
    b = escapade.run(objective=escapade.Oracle(fn, D, name="jax-quartic"), **opts)
    a = escapade.run(objective="quartic", **opts)
    ea, eb = a.events["escape_steps"], b.events["escape_steps"]
    assert len(eb) == len(ea) > 0
    assert abs(ea.mean() - eb.mean()) <= 0.02 * ea.mean()
    assert np.max(np.abs(a.chains["f"] - b.chains["f"])) <= 1e-5
