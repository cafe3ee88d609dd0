"""A sweep to a pandas table: GD and PGD on the octopus at several dimensions, one row per grid
point, as ``escapade sweep --grid method=gd,pgd --grid dim=3,5,7`` runs them.

    python examples/python/sweep_to_pandas.py [OUT] [--small] [--backend auto|gpu|cpu]

Prints the table and writes it to OUT/sweep.csv; each point's output directory (the command
line's files: summary.json, events.csv, ...) goes to OUT/runs/method=..._dim=.... OUT defaults
to a new temporary directory; --small (or ESCAPADE_EXAMPLE_SMALL=1) sweeps a reduced grid.
"""

import argparse
import os
import sys
import tempfile
import time

import pandas as pd

import escapade


def row(run):
    """One table row from a run: its options and summary.json's statistics."""
    s = run.summary
    by_label = s["survival"]["by_label"]
    saddles = sorted(int(l) for l, v in by_label.items() if v["saddle_stalls"] > 0)
    last = by_label[str(saddles[-1])] if saddles else {}
    overall = s["survival"]["overall"]
    return {
        **run.options,
        "converged": s["counts"]["converged"],
        "precision_limited": s["counts"]["precision_limited"],
        "censored": s["counts"]["censored"],
        "escapes": s["counts"]["escape_events"],
        "saddles": len(saddles),
        "median_escape": overall["median"],
        "last_saddle_median": last.get("median"),
        "last_saddle_p90": last.get("p90"),
        "expected_running_time": overall["expected_running_time"],
        "chain_steps_per_s": s["chain_steps_per_second"],
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", help="output directory (default: a new temporary directory)")
    ap.add_argument("--small", action="store_true", default=os.environ.get("ESCAPADE_EXAMPLE_SMALL") == "1", help="a reduced sweep (for tests)")
    ap.add_argument("--backend", default="auto", choices=["auto", "gpu", "cpu"])
    args = ap.parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="escapade-sweep-")
    os.makedirs(out, exist_ok=True)

    base = escapade.Experiment(objective="octopus", chains=256 if args.small else 2048, steps=3000 if args.small else 8000,
                               seed=1, init="uniform:1", state="f64", backend=args.backend)
    grid = {"method": ["gd", "pgd"], "dim": [3, 5] if args.small else [3, 5, 7]}
    t0 = time.perf_counter()
    runs = escapade.sweep(base, grid, out=os.path.join(out, "runs"))
    print(f"{len(runs)} runs: {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    table = pd.DataFrame([row(r) for r in runs])
    cols = ["method", "dim", "chains", "converged", "precision_limited", "censored", "escapes", "saddles", "median_escape",
            "last_saddle_median", "last_saddle_p90", "expected_running_time", "chain_steps_per_s"]
    table = table[cols]
    with pd.option_context("display.width", 200, "display.float_format", "{:.4g}".format):
        print(table.to_string(index=False))
    path = os.path.join(out, "sweep.csv")
    table.to_csv(path, index=False)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
