"""Your own objective, three ways: a formula (its gradient derived by escapade, on the GPU path or
the CPU backend), a batched numpy function (escapade.Oracle), and, when JAX is installed, a
jitted JAX function as the oracle. Same PGD ensemble from next to the saddle each time; prints
the escapes, the median escape time and the throughput of each.

    python examples/python/own_objective.py [OUT] [--small] [--backend auto|gpu|cpu]

The objective is a chain of double wells coupled to their neighbours,
f(x) = sum_i (x_i^2 - 1)^2 / 4 + c/2 sum_i (x_{i+1} - x_i)^2, whose origin is a strict saddle
with d negative directions; the label counts the coordinates in their right-hand well. OUT/table.csv
holds the rows. --small (or ESCAPADE_EXAMPLE_SMALL=1) runs a reduced ensemble.
"""

import argparse
import csv
import os
import tempfile
import time

import numpy as np

import escapade

C = 0.1
FORMULA = f"sum(i, 0.25*(x[i]**2 - 1)**2) + {C / 2}*sum(i, 0, d - 1, (x[i+1] - x[i])**2)"
LABEL = "sum(i, x[i] > 0)"


def wells_numpy(x):
    """Values, gradients and labels of a block of points (chains x d), in numpy."""
    diff = x[:, 1:] - x[:, :-1]
    f = 0.25 * ((x * x - 1.0) ** 2).sum(axis=1) + (C / 2) * (diff * diff).sum(axis=1)
    g = (x * x - 1.0) * x
    g[:, 1:] += C * diff
    g[:, :-1] -= C * diff
    return f, g, (x > 0).sum(axis=1).astype(np.uint32)


def wells_jax():
    """The same in JAX: jit(vmap(value_and_grad)) and the labels."""
    import jax
    import jax.numpy as jnp

    def f(x):
        return 0.25 * jnp.sum((x * x - 1.0) ** 2) + (C / 2) * jnp.sum((x[1:] - x[:-1]) ** 2)

    value_and_grad = jax.jit(jax.vmap(jax.value_and_grad(f)))

    def fn(x):
        v, g = value_and_grad(x)
        return v, g, np.asarray((np.asarray(x) > 0).sum(axis=1), dtype=np.uint32)

    return fn


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", help="output directory (default: a new temporary directory)")
    ap.add_argument("--small", action="store_true", default=os.environ.get("ESCAPADE_EXAMPLE_SMALL") == "1", help="a reduced run (for tests)")
    ap.add_argument("--backend", default="auto", choices=["auto", "gpu", "cpu"])
    args = ap.parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="escapade-own-objective-")
    os.makedirs(out, exist_ok=True)

    d = 16
    chains, steps = (1024, 300) if args.small else (16384, 1200)
    common = dict(dim=d, method="pgd", chains=chains, steps=steps, seed=1, init="uniform:0.0001",
                  eta=0.1, radius=0.01, g_thres=1e-3, f_thres=1e-3, t_thres=20)
    ways = [("formula", dict(objective=FORMULA, label=LABEL, backend=args.backend)),
            ("numpy oracle", dict(objective=escapade.Oracle(wells_numpy, dim=d), backend="cpu"))]
    try:
        ways.append(("JAX oracle", dict(objective=escapade.Oracle(wells_jax(), dim=d), backend="cpu")))
    except ImportError:
        print("(JAX is not installed: no JAX oracle row)")

    rows = []
    print(f"{'objective as':<14} {'backend':<8} {'escapes':>8} {'median':>7} {'chain-steps/s':>14}")
    for name, opts in ways:
        started = time.perf_counter()
        run = escapade.run(**common, **opts)
        wall = time.perf_counter() - started
        median = run.summary["escape_time"]["median"]
        escapes = len(run.events)
        rate = run.summary["chain_steps"] / wall
        backend = run.summary["backend"]
        print(f"{name:<14} {backend:<8} {escapes:>8} {median!s:>7} {rate:>14.3e}")
        rows.append([name, backend, escapes, median, f"{rate:.4e}"])
    with open(os.path.join(out, "table.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["objective_as", "backend", "escapes", "median_escape_steps", "chain_steps_per_s"])
        w.writerows(rows)
    print(f"wrote {os.path.join(out, 'table.csv')}")


if __name__ == "__main__":
    main()
