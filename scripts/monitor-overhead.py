#!/usr/bin/env python3
"""What the self-bounding monitor costs: each workload with `--monitor on` and `--monitor off`,
interleaved round by round in one run, timed as marginal rates (chain-steps between two step
budgets over the wall time between them, so start-up and statistics cancel). Prints the rates
and on/off, the median over the rounds. Standard library only.

    python3 scripts/monitor-overhead.py [--binary target/release/escapade] [--backend cpu|gpu]
                                        [--repeats 3] [--small]
"""

import argparse
import statistics
import subprocess
import tempfile
import time

# name, flags, chains, (S1, S2)
WORKLOADS = [
    ("toy saddle, PGD", ["--objective", "toy-saddle", "--method", "pgd", "--init", "uniform:1"], 65536, (500, 2000)),
    ("quartic d=16, PGD", ["--objective", "quartic", "--dim", "16", "--method", "pgd", "--init", "uniform:1"], 16384, (500, 2000)),
    ("phase retrieval d=32, PGD", ["--objective", "phase-retrieval", "--dim", "32", "--method", "pgd", "--init", "uniform:0.1"], 4096, (400, 1600)),
]


def wall(binary, flags, chains, steps, backend, monitor, out):
    cmd = [binary, "run", *flags, "--chains", str(chains), "--steps", str(steps), "--backend", backend,
           "--monitor", monitor, "--plots", "none", "--progress", "none", "--certify-eps", "off",
           "--out", out, "--force"]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", default="target/release/escapade")
    ap.add_argument("--backend", default="cpu", choices=["cpu", "gpu"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--small", action="store_true", help="a quarter of the chains (a smoke run)")
    a = ap.parse_args()
    out = tempfile.mkdtemp(prefix="escapade-monitor-overhead-")
    print(f"backend {a.backend}; marginal chain-steps/s, median of {a.repeats} interleaved rounds")
    print("| workload | chains | steps | monitor off | monitor on | on/off |")
    print("|---|---|---|---|---|---|")
    for name, flags, chains, (s1, s2) in WORKLOADS:
        chains = chains // 4 if a.small else chains
        rate = {"on": [], "off": []}
        for _ in range(a.repeats):
            for m in ("off", "on"):
                w1 = wall(a.binary, flags, chains, s1, a.backend, m, f"{out}/{m}")
                w2 = wall(a.binary, flags, chains, s2, a.backend, m, f"{out}/{m}")
                rate[m].append(chains * (s2 - s1) / max(w2 - w1, 1e-9))
        on, off = statistics.median(rate["on"]), statistics.median(rate["off"])
        print(f"| {name} | {chains} | {s1}->{s2} | {off:.3e} | {on:.3e} | {on / off:.3f} |")


if __name__ == "__main__":
    main()
