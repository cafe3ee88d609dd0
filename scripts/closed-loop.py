#!/usr/bin/env python3
"""The closed loop of issue 23, measured: `escapade check` fits rho1 and rho2 from the points
descents visit, `escapade run --rho-from` steps with the fitted forms under the self-bounding
rule, and the run's monitor reports every violation of the bounds it stepped under. Each
objective is also run the way it would be without the fit (the declared forms, or a fixed step),
on the same chains (same seed), and the table compares step sizes, escape and convergence times
and violations.

    python3 scripts/closed-loop.py [--binary target/release/escapade] [--out DIR] [--small]

Objectives: phase retrieval (declared forms exist, 5-10x above what it visits) and the linear
network with kappa = 0.5 (no declared forms: without a fit the self-bounding rule cannot run).
Standard library only; prints a Markdown table and writes DIR/closed-loop.csv.
"""

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile


def run(binary, args, out):
    """One escapade command; its summary (runs) or None (check)."""
    cmd = [binary] + args + ["--out", out, "--plots", "none"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr}")
    path = os.path.join(out, "summary.json")
    return json.load(open(path)) if os.path.exists(path) else None


def converge_median(out):
    """Median over the traced chains of the first traced step at which the chain had made 99.9%
    of its decrease (f - f_end <= 1e-3 (f_0 - f_end)): a convergence time that does not depend on
    the rule's own thresholds (None: no traced chain decreased)."""
    paths = {}
    with open(os.path.join(out, "trace.csv")) as fh:
        for r in csv.DictReader(fh):
            paths.setdefault(r["chain"], []).append((int(r["step"]), float(r["f"])))
    t = []
    for path in paths.values():
        f0, fend = path[0][1], path[-1][1]
        if f0 > fend:
            t.append(next(s for s, f in path if f - fend <= 1e-3 * (f0 - fend)))
    return statistics.median(t) if t else None


def row(name, how, s, out):
    m = s.get("monitor") or {}
    v = m.get("violations") or {}
    return {
        "objective": name,
        "step rule": how,
        "median step": s["step_size"]["median"],
        "escapes": s["counts"]["escape_events"],
        "escape median": s["escape_time"].get("median"),
        "converged": s["counts"]["converged"],
        "99.9% of the decrease by (median step)": converge_median(out),
        "checks": sum((m.get("checks") or {}).values()) if m else None,
        "violations": sum(v.values()) if m else None,
        "chains with violations": m.get("chains_with_violations"),
        "worst ratio": m.get("worst_ratio"),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", default="target/release/escapade")
    ap.add_argument("--out", default=None)
    ap.add_argument("--small", action="store_true", help="fewer chains and steps (a smoke run)")
    a = ap.parse_args()
    out = a.out or tempfile.mkdtemp(prefix="escapade-closed-loop-")
    chains, steps = ("256", "4000") if a.small else ("2048", "20000")
    common = ["--backend", "cpu", "--chains", chains, "--steps", steps, "--seed", "3", "--trace-chains", "64", "--trace-every", "10"]
    cases = [
        ("phase retrieval d=32", ["--objective", "phase-retrieval", "--dim", "32"], ["--init", "uniform:0.00001"],
         [("self-bounding, declared forms", ["--step-rule", "self-bounding"])]),
        ("linear network kappa=0.5", ["--objective", "linear-network", "--dim", "4", "--rank", "2", "--kappa", "0.5"], ["--init", "uniform:0.00001"],
         [("fixed step (default eta)", [])]),
    ]
    rows = []
    for name, obj, start, baselines in cases:
        tag = name.split()[0]
        check = os.path.join(out, f"{tag}-check")
        run(a.binary, ["check"] + obj, check)
        # f* of the linear network is unknown: the rule's Df (only its logarithm enters) is given.
        df = ["--df", "10"] if tag == "linear" else []
        fitted = ("self-bounding, fitted forms (--rho-from)", ["--rho-from", os.path.join(check, "check.json")] + df)
        for how, extra in baselines + [fitted]:
            d = os.path.join(out, f"{tag}-{len(rows)}")
            s = run(a.binary, ["run"] + obj + start + common + extra, d)
            rows.append(row(name, how, s, d))
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    fmt = lambda v: "-" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))
    for r in rows:
        print("| " + " | ".join(fmt(r[k]) for k in keys) + " |")
    with open(os.path.join(out, "closed-loop.csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {os.path.join(out, 'closed-loop.csv')}")


if __name__ == "__main__":
    main()
