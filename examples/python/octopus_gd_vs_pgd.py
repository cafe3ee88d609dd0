"""GD against PGD on the octopus (Du et al. 2017): GD's escape time grows from saddle to saddle,
PGD's stays flat. The Python twin of examples/octopus_comparison (the command line's version).

    python examples/python/octopus_gd_vs_pgd.py [OUT] [--small] [--backend auto|gpu|cpu]

Prints the median escape time per saddle for both methods and writes OUT/survival.png (one
panel per method, a Kaplan-Meier curve per saddle) and OUT/table.csv. OUT defaults to a new
temporary directory. --small (or ESCAPADE_EXAMPLE_SMALL=1) runs a reduced ensemble.
"""

import argparse
import csv
import os
import sys
import tempfile
import time

import escapade
import escapade.plot


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", help="output directory (default: a new temporary directory)")
    ap.add_argument("--small", action="store_true", default=os.environ.get("ESCAPADE_EXAMPLE_SMALL") == "1", help="a reduced run (for tests)")
    ap.add_argument("--backend", default="auto", choices=["auto", "gpu", "cpu"])
    args = ap.parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="escapade-octopus-")
    os.makedirs(out, exist_ok=True)

    # The paper's parameters are the octopus defaults (eta = 1/(4L), r = e/100, ...). In f32,
    # GD's coordinates ahead of the chain underflow after ~150 steps at a saddle: use f64.
    base = escapade.Experiment(objective="octopus", dim=5, chains=512 if args.small else 4096, steps=3000, seed=1,
                               init="uniform:1", state="f64", backend=args.backend)
    runs = {}
    for method in ("gd", "pgd"):
        t0 = time.perf_counter()
        runs[method.upper()] = base.replace(method=method).run()
        print(f"{method.upper()}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    # Median escape time per saddle label, from summary.json's survival statistics.
    by = {name: r.summary["survival"]["by_label"] for name, r in runs.items()}
    labels = sorted({int(l) for b in by.values() for l, s in b.items() if s["saddle_stalls"] > 0})
    rows = [("saddle", "GD median", "GD p90", "PGD median", "PGD p90", "GD/PGD")]
    for l in labels:
        g, p = by["GD"].get(str(l), {}), by["PGD"].get(str(l), {})
        # A quantile the curve did not reach is None (its ``reached`` flag false): "-".
        cell = lambda s, q: "-" if s.get(q) is None else str(s[q])  # noqa: E731
        gm, pm = g.get("median"), p.get("median")
        ratio = f"{gm / pm:.1f}" if gm is not None and pm else "-"
        rows.append((str(l), cell(g, "median"), cell(g, "p90"), cell(p, "median"), cell(p, "p90"), ratio))
    for row in rows:
        print("  ".join(f"{c:>10}" for c in row))
    with open(os.path.join(out, "table.csv"), "w", newline="") as fh:
        csv.writer(fh).writerows(rows)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Each panel on its own step axis (escapade.plot sets it from the run's last escape): a
    # shared one is set by the panel drawn last, and PGD's ~45 steps would cut off GD's late
    # escapes at saddles 4-5.
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.5), sharey=True)
    for ax, (name, r) in zip(axes, runs.items()):
        escapade.plot.survival(r, ax=ax, overall=False, title=f"{name}: escape-time survival per saddle")
    fig.tight_layout()
    png = os.path.join(out, "survival.png")
    fig.savefig(png, dpi=100)
    print(f"wrote {png}")
    for ax, name in zip(axes, runs):
        print(f"{name} panel: steps 1 to {ax.get_xlim()[1]:.0f}")


if __name__ == "__main__":
    main()
