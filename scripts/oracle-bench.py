#!/usr/bin/env python3
"""Chain-steps per second of escapade.Oracle (issue 22) against the built-in compiled CPU path:
PGD on the quartic, d = 16 (l = (-1, 1, ..., 1)), the peer benchmark's workload (scripts/peer-jax.py
`quartic`: 16384 chains, init uniform:1, eta 0.1, radius 0.01, g_thres = f_thres = 1e-3,
t_thres 20), run through the Python API with backend="cpu", f32 state.

Engines, interleaved round by round in one process:
  builtin  objective="quartic" (the compiled CPU path, lockstep packs of 16 chains)
  numpy    Oracle(fn) with fn a numpy value-and-gradient of the same quartic (float32)
  jax      Oracle(jax.jit(jax.vmap(jax.value_and_grad(f)))) (skipped when JAX is missing)

Rate: the marginal rate between two step budgets S1 < S2 (chain_steps(S2) - chain_steps(S1)
over wall(S2) - wall(S1)), so start-up, JAX's compilations and the post-run statistics cancel;
the median of --repeats rounds. Plain JAX (a jitted lax loop of the same PGD) is
scripts/peer-jax.py --engines jax --workloads quartic.

    python scripts/oracle-bench.py --repeats 3
"""

import argparse
import statistics
import time

import numpy as np

import escapade

D = 16
EIG = np.array([-1.0] + [1.0] * (D - 1), dtype=np.float32)
PARAMS = dict(dim=D, method="pgd", init="uniform:1", seed=0, eta=0.1, radius=0.01, g_thres=1e-3, f_thres=1e-3, t_thres=20, backend="cpu", plots="none")


def numpy_quartic(X):
    X2 = X * X
    return (0.5 * EIG * X2 + 0.25 * X2 * X2).sum(axis=1), EIG * X + X2 * X


def engines():
    out = {"builtin": "quartic", "numpy": escapade.Oracle(numpy_quartic, D, name="numpy-quartic")}
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return out
    l = jnp.asarray(EIG)

    def f(x):
        return jnp.sum(0.5 * l * x * x + 0.25 * x**4)

    out["jax"] = escapade.Oracle(jax.jit(jax.vmap(jax.value_and_grad(f))), D, name="jax-quartic")
    return out


def timed(objective, chains, steps):
    t = time.perf_counter()
    run = escapade.run(objective=objective, chains=chains, steps=steps, **PARAMS)
    return time.perf_counter() - t, run.summary["chain_steps"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chains", type=int, default=16384)
    ap.add_argument("--steps", default="200,800", help="S1,S2")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--method", default="pgd", help="pgd (kicks: a second call in a step), or gd (none)")
    ap.add_argument("--engines", default="builtin,numpy,jax", help="of builtin, numpy, jax")
    a = ap.parse_args()
    PARAMS["method"] = a.method
    s1, s2 = (int(s) for s in a.steps.split(","))
    eng = {k: v for k, v in engines().items() if k in a.engines.split(",")}
    for obj in eng.values():
        timed(obj, a.chains, 20)  # warm-up: JAX compiles its shapes
    rates = {k: [] for k in eng}
    for _ in range(a.repeats):
        for name, obj in eng.items():
            w1, c1 = timed(obj, a.chains, s1)
            w2, c2 = timed(obj, a.chains, s2)
            rates[name].append((c2 - c1) / (w2 - w1))
    print(f"quartic d={D}, {a.method}, {a.chains} chains, steps {s1}->{s2}, median of {a.repeats}")
    base = statistics.median(rates["builtin"]) if "builtin" in rates else None
    for name, r in rates.items():
        m = statistics.median(r)
        rel = f"  ({m / base:.3f} x builtin)" if base else ""
        print(f"{name:8s} {m:12.3e} chain-steps/s{rel}  rounds: {', '.join(f'{x:.3e}' for x in r)}")


if __name__ == "__main__":
    main()
