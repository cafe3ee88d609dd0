#!/usr/bin/env python3
"""Peer benchmark: escapade's CPU backend and GPU path against PGD written in JAX on the CPU.

JAX is the peer, and this script is never a CI dependency. Install JAX in a virtualenv outside
the repository and run the script with that interpreter:

    python3 -m venv /work/venv-jax && /work/venv-jax/bin/pip install jax numpy
    /work/venv-jax/bin/python scripts/peer-jax.py --binary target/release/escapade

The workloads are the same PGD ensembles on both sides:

    toy      toy saddle, d = 2, 65536 chains        (--objective toy-saddle)
    quartic  quartic, d = 16, 16384 chains          (--objective quartic --dim 16)
    phase    phase retrieval, d = 32, m = 128,      (--objective phase-retrieval --dim 32 --m 128
             4096 chains                             --init uniform:0.1)

Phase retrieval starts at uniform:0.1, not escapade's default init uniform:1: from uniform:1 in
d = 32 the objective's default step (eta = 0.1) makes nearly every chain diverge within a few
steps, and escapade stops chains once they diverge, so there would be nothing left to time.

How each side is timed ("marginal rate"): every engine runs the workload at two step budgets
S1 < S2, and the rate is chain_steps(S2) - chain_steps(S1) over wall(S2) - wall(S1). Whatever a
run costs regardless of its length cancels out: process start, adapter and shader compilation,
chain initialisation, post-run statistics and output files for escapade, and dispatch for JAX.
  * escapade: a whole `escapade run` process is timed from outside (wall clock around the
    subprocess). The chain-steps come from summary.json (`chain_steps`), which equals
    chains * steps unless chains stop early (diverged); summary.json's own `wall_seconds`
    is recorded in the JSON output but not used for the rate.
  * JAX: `jit(vmap(chain))` with `chain` a `lax.fori_loop` over PGD steps and the step count a
    traced argument, so one compilation serves both budgets. It is compiled and run once
    (warm-up) before timing; each timed call ends with `block_until_ready`. JAX always computes
    chains * steps chain-steps (a chain that diverged is masked, not stopped).

The JAX step (one `value_and_grad` per step) follows escapade's Stepper::step (src/kernel.rs):
  1. value f and gradient g at x; the chain is frozen once f or ||g||^2 is not finite;
  2. label of x (objective's own rule) and the step at which it last changed;
  3. escape test: a stalled chain whose value fell by f_thres below its stall value escapes
     (counted, escape time t - t_stall accumulated, stall cleared);
  4. stall test: ||g|| <= g_thres starts a stall (t_stall, f_stall, label at the stall);
  5. ball perturbation: a stalled chain with no kick in the last t_thres steps gets a kick
     uniform in the ball of radius r (t_noise and f(x~) recorded);
  6. update x <- x - eta g.
Differences from escapade's step, which matter little for throughput but are stated here:
  * escapade re-evaluates f and g at the kicked point and steps with that gradient (a second
    evaluation on kick steps only); the JAX step adds the kick to x - eta g(x), keeping one
    `value_and_grad` per step. Kicks are at most one per t_thres + 1 steps of a stalled chain.
  * vmap turns the "kick or not" branch into a select: JAX draws the kick's random numbers
    (jax.random, threefry by default) for every chain at every step; escapade draws its
    Philox numbers only on kick steps. On the cheap objectives this draw is most of JAX's step;
    `--engines jax,jax-nokick,...` adds a column with the draw removed (kicks of zero: no longer
    PGD, only an upper bound on what a JAX PGD with a free random number generator could reach).
  * escapade also writes escape events to a buffer, runs its precision sentinel after each
    update (state no longer moving / underflow while stalled) and checks the event buffer's
    capacity; the JAX step keeps escape counts and summed escape times only.
  * Phase retrieval's data: escapade generates A (m x d, N(0, 1) entries), a unit x* and
    y = (A x*)^2 from its own seed (--data-seed, Philox); JAX generates data of the same shape and
    distribution with NumPy. Only throughput is compared, so the draws need not agree. Likewise
    the initial points and kicks come from different random streams on the two sides.
Parameters (eta, radius, g_thres, f_thres, t_thres, init) are read from escapade's summary.json
of the first escapade run of each workload, so both sides use the same values (falling back to
escapade's per-objective defaults when no escapade engine is run). Everything is f32.

Output: a table of chain-steps/s per workload, with each escapade engine's ratio to JAX
(escapade / JAX: above 1 means escapade is faster), the machine's load average, the versions;
--json FILE writes every measurement.
"""

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

# ---------------------------------------------------------------------------------------------
# Workloads
# ---------------------------------------------------------------------------------------------

# name -> objective, dimension, measurements m (phase retrieval), chains, extra escapade flags,
# default step budgets (S1, S2) chosen so that the longer run of the slowest engine takes
# seconds, not minutes, on a 2-core machine, and so that the chains rest (stall) by S1 wherever
# they rest by S2: escapade judges the chains stalled at the end (Lanczos, once per run), and
# that cost cancels from the marginal rate only when both runs judge alike (phase retrieval at
# d = 32 rests within about 300 steps: at 100, 400 the judging counted against escapade's rate).
def workload(title, objective, dim, m, chains, init, steps, rank=None, layers=None):
    """One workload: escapade's flags follow from the objective, dimension, m and (matrix
    factorization, whose --dim is n and whose dimension is n * rank) the rank."""
    flags = ["--objective", objective]
    if objective == "mlp":
        # The network's dimension follows from its layers (13-16-3 on Wine: d = 275).
        flags += ["--layers", ",".join(str(v) for v in layers)]
    elif rank is not None:
        flags += ["--dim", str(dim // rank), "--rank", str(rank)]
    elif objective != "toy-saddle":
        flags += ["--dim", str(dim)]
    if m is not None:
        flags += ["--m", str(m)]
    return dict(title=title, objective=objective, dim=dim, m=m, rank=rank, layers=layers, chains=chains, flags=flags, init=init, steps=steps)


WORKLOADS = {
    "toy": workload("toy saddle d=2", "toy-saddle", 2, None, 65536, "uniform:1", (1000, 4000)),
    "quartic": workload("quartic d=16", "quartic", 16, None, 16384, "uniform:1", (1000, 4000)),
    "phase": workload("phase retrieval d=32 m=128", "phase-retrieval", 32, 128, 4096, "uniform:0.1", (400, 1600)),
    # The any-dimension issue's larger workloads (beyond d = 256 the GPU path runs its
    # cooperative kernel family).
    "phase256": workload("phase retrieval d=256 m=2048", "phase-retrieval", 256, 2048, 1024, "uniform:0.1", (10, 40)),
    "quartic1024": workload("quartic d=1024", "quartic", 1024, None, 4096, "uniform:1", (100, 400)),
    # The network issue's first workload: a tanh MLP 13-16-3 on UCI Wine (data/wine.csv), full
    # batch, softmax cross-entropy, features standardised over all rows (escapade's default with
    # no --holdout). d = 275: beyond the GPU's per-invocation kernel, which is all the network
    # has so far, so run it with --engines jax,cpu.
    "wine": workload("MLP 13-16-3 on Wine", "mlp", 275, None, 4096, "normal:0.1", (20, 80), layers=(13, 16, 3)),
    "mf512": workload("matrix factorization n=512 r=4", "matrix-factorization", 2048, None, 256, "uniform:0.1", (4, 12), rank=4),
}

# escapade's per-objective PGD defaults (Objective::default_params in src/objective/*.rs), used
# only when no escapade engine runs and so no summary.json says what escapade would use.
DEFAULT_PARAMS = {
    "toy-saddle": dict(eta=0.1, radius=0.01, g_thres=1e-3, f_thres=1e-3, t_thres=20),
    # quartic: eta = 0.1 / max |l_i|, and the default spectrum (-1, 1, ..., 1) has max |l_i| = 1.
    "quartic": dict(eta=0.1, radius=0.01, g_thres=1e-3, f_thres=1e-3, t_thres=20),
    "phase-retrieval": dict(eta=0.1, radius=0.01, g_thres=1e-3, f_thres=1e-4, t_thres=20),
    # eta = 0.05 / max |lambda(M)|, and the default spectrum has max 1.
    "matrix-factorization": dict(eta=0.05, radius=0.01, g_thres=1e-3, f_thres=1e-4, t_thres=20),
    "mlp": dict(eta=0.1, radius=0.01, g_thres=1e-3, f_thres=1e-3, t_thres=20),
}

# Flags that make an escapade run time the stepping and little else: no progress output, no
# plots, no second-order verdicts beyond those the statistics need, no checkpoints.
ESCAPADE_FLAGS = [
    "--method", "pgd",
    "--progress", "none",
    "--plots", "none",
    "--certify-eps", "off",
    "--checkpoint-every", "off",
    "--quiet",
    "--force",
]


# Engines in table order, with their column titles.
ENGINES = {
    "jax": "JAX (CPU)",
    "jax-nokick": "JAX, no kick draws (bound)",
    "gpu": "escapade GPU path",
    "cpu": "escapade CPU backend",
}


def loadavg():
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def fmt_rate(r):
    return "-" if r is None or r != r else f"{r:.2e}"


# ---------------------------------------------------------------------------------------------
# escapade
# ---------------------------------------------------------------------------------------------

def escapade_run(binary, wl, backend, steps, out_dir, seed, env):
    """Runs one `escapade run` process; returns wall seconds, CPU seconds of the child, and the
    parsed summary.json."""
    cmd = [binary, "run", *wl["flags"], "--chains", str(wl["chains"]), "--steps", str(steps),
           "--init", wl["init"], "--seed", str(seed), "--backend", backend,
           *ESCAPADE_FLAGS, "--out", out_dir]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"escapade failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr}")
    with open(os.path.join(out_dir, "summary.json")) as fh:
        summary = json.load(fh)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, summary, cmd


def escapade_params(summary):
    """PGD parameters and init of a run, from summary.json's experiment block."""
    exp = summary["experiment"]
    if isinstance(exp, str):
        exp = json.loads(exp)
    p = exp["method"]["params"]
    params = {k: p[k] for k in ("eta", "radius", "g_thres", "f_thres", "t_thres")}
    return params, exp["init"], exp


def measure_escapade(binary, wl, backend, budgets, repeats, seed, env, workdir):
    """Marginal rate of one escapade engine: best wall time of `repeats` runs per budget."""
    runs = []
    for steps in budgets:
        best = None
        for _ in range(repeats):
            out_dir = os.path.join(workdir, f"{backend}-{steps}")
            wall, cpu, summary, cmd = escapade_run(binary, wl, backend, steps, out_dir, seed, env)
            if best is None or wall < best["wall"]:
                best = dict(steps=steps, wall=wall, cpu=cpu, chain_steps=summary["chain_steps"],
                            summary_wall_seconds=summary.get("wall_seconds"),
                            diverged=summary["counts"].get("diverged"),
                            steps_per_dispatch=summary.get("steps_per_dispatch"),
                            dispatches=summary.get("dispatches"),
                            adapter=summary.get("adapter"), command=" ".join(cmd))
                params, init, _ = escapade_params(summary)
            shutil.rmtree(out_dir, ignore_errors=True)
        runs.append(best)
    a, b = runs
    dt = b["wall"] - a["wall"]
    rate = (b["chain_steps"] - a["chain_steps"]) / dt if dt > 0 else float("nan")
    cores = (b["cpu"] - a["cpu"]) / dt if dt > 0 else float("nan")
    return dict(rate=rate, cores=cores, runs=runs), params, init


# ---------------------------------------------------------------------------------------------
# JAX
# ---------------------------------------------------------------------------------------------

def jax_objective(wl, data_seed):
    """f(x) and label(x) for one chain, as jnp functions of a (d,) f32 vector (the same formulas
    as src/objective/{toy_saddle,quartic,phase_retrieval}.rs)."""
    import jax
    import jax.numpy as jnp
    import jax.scipy.special  # noqa: F401 (logsumexp, for the network)
    import numpy as np

    d = wl["dim"]
    if wl["objective"] == "toy-saddle":
        # f(x, y) = x^2/2 + y^4/4 - y^2/2; label 1 outside the band 3 y^2 < 1.
        def f(x):
            y2 = x[1] * x[1]
            return 0.5 * x[0] * x[0] + 0.25 * y2 * y2 - 0.5 * y2

        def label(x):
            return (3.0 * x[1] * x[1] >= 1.0).astype(jnp.int32)

    elif wl["objective"] == "quartic":
        # f(x) = 1/2 sum l_i x_i^2 + 1/4 sum x_i^4 with l = (-1, 1, ..., 1); label 1 once a
        # negative direction has left its band 3 x_i^2 < -l_i.
        eig = jnp.asarray([-1.0] + [1.0] * (d - 1), dtype=jnp.float32)
        neg = eig < 0

        def f(x):
            x2 = x * x
            return jnp.sum(0.5 * eig * x2 + 0.25 * x2 * x2)

        def label(x):
            return jnp.any(neg & (3.0 * x * x >= -eig)).astype(jnp.int32)

    elif wl["objective"] == "phase-retrieval":
        # f(x) = 1/(4m) sum_i ((a_i.x)^2 - y_i)^2, a_i ~ N(0, I_d), x* uniform on the unit sphere,
        # y_i = (a_i.x*)^2. Generated here with NumPy (escapade draws its own from --data-seed):
        # same shapes and distribution, different numbers; only throughput is compared.
        m = wl["m"]
        rng = np.random.default_rng(data_seed)
        a_np = rng.standard_normal((m, d))
        xs_np = rng.standard_normal(d)
        xs_np /= np.linalg.norm(xs_np)
        y_np = (a_np @ xs_np) ** 2
        a = jnp.asarray(a_np, dtype=jnp.float32)
        y = jnp.asarray(y_np, dtype=jnp.float32)
        xs = jnp.asarray(xs_np, dtype=jnp.float32)

        def f(x):
            ax = a @ x
            r = ax * ax - y
            return jnp.sum(r * r) * (0.25 / m)

        def label(x):
            # Label 1 within 25 degrees of +-x* (cos^2 >= 0.81).
            dot = jnp.dot(x, xs)
            n2 = jnp.dot(x, x)
            return ((dot * dot >= 0.81 * n2) & (n2 > 0)).astype(jnp.int32)

    elif wl["objective"] == "matrix-factorization":
        # f(U) = 1/2 ||U U^T - M||_F^2, U n x r (x = vec(U), row-major), M = Q diag(1 (r times),
        # 0, ...) Q^T with Q orthogonal from NumPy (escapade draws its own: same shapes and
        # spectrum, different numbers). Label 0 (no regions), as escapade's.
        r = wl["rank"]
        n = d // r
        rng = np.random.default_rng(data_seed)
        q, _ = np.linalg.qr(rng.standard_normal((n, n)))
        mm = jnp.asarray((q[:, :r] @ q[:, :r].T), dtype=jnp.float32)

        def f(x):
            u = x.reshape(n, r)
            e = u @ u.T - mm
            return 0.5 * jnp.sum(e * e)

        def label(x):
            return jnp.int32(0)

    elif wl["objective"] == "mlp":
        # escapade's src/objective/mlp.rs: x = [W1, b1, W2, b2, ...], W_l (s_l x s_{l-1}) row-major;
        # tanh hidden layers (argument clamped at +-20), softmax cross-entropy averaged over the
        # rows; label = number of classes predicted for some row. The same data: data/wine.csv,
        # standardised by its rows (population deviation).
        import os
        here = os.path.dirname(os.path.abspath(__file__))
        raw = np.loadtxt(os.path.join(here, "..", "data", "wine.csv"), delimiter=",", skiprows=1)
        feats, ys = raw[:, :-1], raw[:, -1].astype(np.int32)
        sd = feats.std(axis=0)
        feats = (feats - feats.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
        xdata = jnp.asarray(feats, dtype=jnp.float32)
        onehot = jnp.asarray(np.eye(ys.max() + 1)[ys], dtype=jnp.float32)
        sizes = wl["layers"]
        shapes, off = [], 0
        for l in range(1, len(sizes)):
            shapes.append((off, sizes[l], sizes[l - 1]))
            off += sizes[l] * (sizes[l - 1] + 1)

        def logits(x):
            a = xdata
            for k, (o, so, si) in enumerate(shapes):
                w = x[o:o + so * si].reshape(so, si)
                b = x[o + so * si:o + so * si + so]
                z = a @ w.T + b
                a = jnp.tanh(jnp.clip(z, -20.0, 20.0)) if k + 1 < len(shapes) else z
            return a

        def f(x):
            z = logits(x)
            lse = jax.scipy.special.logsumexp(z, axis=1)
            return jnp.mean(lse - jnp.sum(z * onehot, axis=1))

        def label(x):
            pred = jnp.argmax(logits(x), axis=1)
            return jnp.sum(jnp.any(pred[:, None] == jnp.arange(onehot.shape[1])[None, :], axis=0)).astype(jnp.int32)

    else:
        raise ValueError(wl["objective"])
    return f, label


def jax_init(key, init, chains, d):
    """Initial points as escapade's --init (uniform:H and normal:S are supported here)."""
    import jax
    import jax.numpy as jnp

    kind, _, scale = init.partition(":")
    s = float(scale) if scale else 1.0
    if kind == "uniform":
        return jax.random.uniform(key, (chains, d), jnp.float32, minval=-s, maxval=s)
    if kind == "normal":
        return s * jax.random.normal(key, (chains, d), jnp.float32)
    if kind == "zero":
        return jnp.zeros((chains, d), jnp.float32)
    raise ValueError(f"init {init!r} is not supported by the JAX peer")


def jax_pgd(wl, params, data_seed, draw_kicks=True):
    """The compiled ensemble: jit(vmap(chain)), chain(x0, key, steps) a fori_loop of PGD steps.
    draw_kicks=False replaces the kick by zeros (the upper bound of engine jax-nokick)."""
    import jax
    import jax.numpy as jnp

    f, label = jax_objective(wl, data_seed)
    value_and_grad = jax.value_and_grad(f)
    d = wl["dim"]
    eta = jnp.float32(params["eta"])
    radius = jnp.float32(params["radius"])
    g_thres = jnp.float32(params["g_thres"])
    f_thres = jnp.float32(params["f_thres"])
    t_thres = jnp.int32(params["t_thres"])
    never = jnp.int32(-1)

    def ball(key):
        # Uniform in the ball of `radius`: a normalised Gaussian direction times radius u^(1/d).
        k_dir, k_rad = jax.random.split(key)
        z = jax.random.normal(k_dir, (d,), jnp.float32)
        u = jax.random.uniform(k_rad, (), jnp.float32, minval=1e-7, maxval=1.0)
        return z * (radius * u ** (1.0 / d) / jnp.maximum(jnp.sqrt(jnp.dot(z, z)), 1e-30))

    def step(t, s):
        (x, alive, lab, label_since, stalled, t_stall, f_stall, stall_label,
         t_noise, f_tilde, escapes, escape_steps, key) = s
        # 1. one value_and_grad; a non-finite value or gradient norm ends the chain.
        fx, g = value_and_grad(x)
        gn2 = jnp.dot(g, g)
        ok = alive & jnp.isfinite(fx) & jnp.isfinite(gn2)
        gnorm = jnp.sqrt(gn2)
        # 2. label and when it last changed.
        new_lab = label(x)
        label_since = jnp.where(ok & (new_lab != lab), t, label_since)
        lab = jnp.where(ok, new_lab, lab)
        # 3. escape test: a stalled chain whose value dropped by f_thres below f_stall escaped.
        esc = ok & stalled & (fx <= f_stall - f_thres)
        escapes = escapes + esc.astype(jnp.int32)
        escape_steps = escape_steps + jnp.where(esc, t - t_stall, 0)
        stalled = stalled & ~esc
        # 4. stall test.
        low = ok & (gnorm <= g_thres)
        start = low & ~stalled
        t_stall = jnp.where(start, t, t_stall)
        f_stall = jnp.where(start, fx, f_stall)
        stall_label = jnp.where(start, lab, stall_label)
        stalled = stalled | low
        # 5. ball kick, at most one per t_thres + 1 steps (drawn every step: vmap makes it a select).
        kick = low & ((t_noise == never) | (t - t_noise > t_thres))
        t_noise = jnp.where(kick, t, t_noise)
        f_tilde = jnp.where(kick, fx, f_tilde)
        k = ball(jax.random.fold_in(key, t)) if draw_kicks else jnp.zeros((d,), jnp.float32)
        # 6. update (kick added to x - eta g(x); see the module docstring).
        x_next = x - eta * g + jnp.where(kick, k, jnp.zeros_like(k))
        x = jnp.where(ok, x_next, x)
        return (x, ok, lab, label_since, stalled, t_stall, f_stall, stall_label,
                t_noise, f_tilde, escapes, escape_steps, key)

    def chain(x0, key, steps):
        zero_i = jnp.int32(0)
        zero_f = jnp.float32(0)
        state = (x0, jnp.bool_(True), zero_i, zero_i, jnp.bool_(False), zero_i, zero_f, zero_i,
                 never, zero_f, zero_i, zero_i, key)
        # The whole state is returned so that XLA keeps every part of the step.
        return jax.lax.fori_loop(0, steps, step, state)

    return jax.jit(jax.vmap(chain, in_axes=(0, 0, None)))


def measure_jax(wl, params, init, budgets, repeats, seed, data_seed, prng, draw_kicks=True):
    import jax

    chains, d = wl["chains"], wl["dim"]
    root = jax.random.key(seed, impl=prng)
    k_init, k_chains = jax.random.split(root)
    x0 = jax.block_until_ready(jax_init(k_init, init, chains, d))
    keys = jax.random.split(k_chains, chains)
    run = jax_pgd(wl, params, data_seed, draw_kicks)

    def timed(steps):
        before = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        out = jax.block_until_ready(run(x0, keys, steps))
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return wall, cpu, out

    compile_wall, _, _ = timed(2)  # warm-up: compiles (the step count is traced, not static)
    runs = []
    for steps in budgets:
        best = None
        for _ in range(repeats):
            wall, cpu, out = timed(steps)
            if best is None or wall < best["wall"]:
                alive = int(out[1].sum())
                best = dict(steps=steps, wall=wall, cpu=cpu, chain_steps=chains * steps,
                            diverged=chains - alive, escapes=int(out[10].sum()))
        runs.append(best)
    a, b = runs
    dt = b["wall"] - a["wall"]
    rate = (b["chain_steps"] - a["chain_steps"]) / dt if dt > 0 else float("nan")
    cores = (b["cpu"] - a["cpu"]) / dt if dt > 0 else float("nan")
    return dict(rate=rate, cores=cores, runs=runs, warmup_wall=compile_wall,
                prng=prng if draw_kicks else "none (no kick draws)")


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------

def parse_args():
    ap = argparse.ArgumentParser(
        description="escapade (CPU backend, GPU path) against PGD in JAX on the CPU: marginal "
                    "chain-steps/s on the same workloads, printed as one table.")
    ap.add_argument("--binary", default=None,
                    help="escapade binary (default: target/release/escapade of this repository)")
    ap.add_argument("--workloads", default="toy,quartic,phase",
                    help="comma-separated subset of: " + ",".join(WORKLOADS))
    ap.add_argument("--engines", default="jax,gpu,cpu",
                    help="comma-separated subset of: jax, gpu (escapade's GPU path), cpu "
                         "(escapade's CPU backend), jax-nokick (JAX without the kick's random "
                         "draw: an upper bound, not PGD; off by default)")
    ap.add_argument("--steps", default=None,
                    help="step budgets S1,S2 for every workload (default per workload: "
                         + "; ".join(f"{k} {v['steps'][0]},{v['steps'][1]}" for k, v in WORKLOADS.items())
                         + ")")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply the step budgets (e.g. 0.25 for a quick run)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="runs per budget and engine; the fastest counts (default 1)")
    ap.add_argument("--seed", type=int, default=0, help="seed of chains on both sides")
    ap.add_argument("--data-seed", type=int, default=0, help="seed of JAX's phase-retrieval data")
    ap.add_argument("--jax-prng", default="threefry2x32",
                    help="jax.random implementation of the kicks (threefry2x32, rbg, unsafe_rbg)")
    ap.add_argument("--json", metavar="FILE", default=None, help="write every measurement to FILE")
    args = ap.parse_args()
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    for w in args.workloads:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w!r}")
    for e in args.engines:
        if e not in ENGINES:
            ap.error(f"unknown engine {e!r}")
    if args.steps is not None:
        try:
            s1, s2 = (int(v) for v in args.steps.split(","))
        except ValueError:
            ap.error("--steps wants S1,S2")
        args.steps = (s1, s2)
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")
    if args.binary is None:
        args.binary = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target",
                                   "release", "escapade")
    args.binary = os.path.abspath(args.binary)
    if any(e in args.engines for e in ("gpu", "cpu")) and not os.access(args.binary, os.X_OK):
        ap.error(f"escapade binary not found: {args.binary} (build it or pass --binary)")
    return args


def budgets_for(args, wl):
    s1, s2 = args.steps if args.steps else wl["steps"]
    s1, s2 = max(1, round(s1 * args.scale)), max(2, round(s2 * args.scale))
    if s2 <= s1:
        sys.exit(f"step budgets must satisfy S1 < S2 (got {s1}, {s2})")
    return (s1, s2)


def main():
    args = parse_args()
    started = time.perf_counter()
    env = dict(os.environ)
    workdir = tempfile.mkdtemp(prefix="escapade-peer-")
    if "gpu" in args.engines and not env.get("XDG_RUNTIME_DIR"):
        # wgpu's Vulkan loader wants a runtime directory; give the GPU path a private one.
        xdg = os.path.join(workdir, "xdg")
        os.makedirs(xdg, mode=0o700)
        env["XDG_RUNTIME_DIR"] = xdg

    versions = dict(python=platform.python_version(), machine=platform.machine(),
                    cpus=os.cpu_count())
    if any(e.startswith("jax") for e in args.engines):
        import jax
        import jaxlib
        import numpy
        versions.update(jax=jax.__version__, jaxlib=jaxlib.__version__, numpy=numpy.__version__,
                        jax_devices=[str(dv) for dv in jax.devices()])
    if any(e in args.engines for e in ("gpu", "cpu")):
        v = subprocess.run([args.binary, "--version"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        versions["escapade"] = v.stdout.strip()

    print("escapade peer benchmark: marginal chain-steps/s, (chain-steps(S2) - chain-steps(S1)) "
          "/ (wall(S2) - wall(S1))", flush=True)
    print("  " + ", ".join(f"{k} {v}" for k, v in versions.items() if k != "jax_devices"),
          flush=True)
    results = []
    try:
        for name in args.workloads:
            wl = WORKLOADS[name]
            budgets = budgets_for(args, wl)
            load_before = loadavg()
            res = dict(workload=name, title=wl["title"], chains=wl["chains"], dim=wl["dim"],
                       m=wl["m"], init=wl["init"], budgets=budgets, load_before=load_before)
            params, init = None, wl["init"]
            # escapade first: its summary.json says which parameters JAX is to use.
            for engine in ("cpu", "gpu"):
                if engine not in args.engines:
                    continue
                print(f"  {name}: escapade {engine} at {budgets[0]} and {budgets[1]} steps ...",
                      flush=True)
                r, p, i = measure_escapade(args.binary, wl, engine, budgets, args.repeats,
                                           args.seed, env, workdir)
                if params is not None and (p != params or i != init):
                    raise RuntimeError(f"escapade engines disagree on parameters: {p} vs {params}")
                params, init = p, i
                res[engine] = r
            if params is None:
                params = DEFAULT_PARAMS[wl["objective"]]
            res["params"] = params
            res["init"] = init
            for engine in ("jax", "jax-nokick"):
                if engine not in args.engines:
                    continue
                print(f"  {name}: {engine} at {budgets[0]} and {budgets[1]} steps ...", flush=True)
                res[engine] = measure_jax(wl, params, init, budgets, args.repeats, args.seed,
                                          args.data_seed, args.jax_prng,
                                          draw_kicks=(engine == "jax"))
            res["load_after"] = loadavg()
            results.append(res)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.perf_counter() - started

    # The table: rates, and each escapade engine's ratio to JAX (escapade / JAX).
    def cell(res, engine):
        r = res.get(engine)
        if r is None:
            return "-"
        rate = r["rate"]
        if rate != rate:
            return "- (S2 not slower than S1)"
        jx = res.get("jax")
        if engine != "jax" and jx is not None and jx["rate"] == jx["rate"] and jx["rate"] > 0:
            return f"{fmt_rate(rate)} ({rate / jx['rate']:.2f}x)"
        return fmt_rate(rate)

    engines = [e for e in ENGINES if e in args.engines]
    header = ["workload", "chains", "steps S1,S2", *(ENGINES[e] for e in engines), "load 1-min"]
    rows = [[f"{r['title']}", str(r["chains"]), f"{r['budgets'][0]},{r['budgets'][1]}",
             *(cell(r, e) for e in engines),
             f"{r['load_before'][0]:.2f} -> {r['load_after'][0]:.2f}"] for r in results]
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    line = lambda cols: "| " + " | ".join(c.ljust(w) for c, w in zip(cols, widths)) + " |"
    print()
    print("chain-steps/s (marginal); in parentheses: the column over JAX (above 1: faster than JAX)")
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))
    print()
    for r in results:
        p = r["params"]
        details = [f"{e} {r[e]['cores']:.2f} cores" for e in engines if e in r]
        print(f"  {r['workload']}: eta {p['eta']}, radius {p['radius']}, g_thres {p['g_thres']}, "
              f"f_thres {p['f_thres']}, t_thres {p['t_thres']}, init {r['init']}; "
              f"CPU time over wall: {', '.join(details)}")
        for e in ("gpu", "cpu"):
            if e in r:
                b = r[e]["runs"][-1]
                extra = f", steps/dispatch {b['steps_per_dispatch']}" if b["steps_per_dispatch"] else ""
                print(f"    escapade {e}: wall {r[e]['runs'][0]['wall']:.2f} s / {b['wall']:.2f} s, "
                      f"diverged {b['diverged']}{extra}")
        for e in ("jax", "jax-nokick"):
            if e not in r:
                continue
            j = r[e]
            print(f"    {e}: wall {j['runs'][0]['wall']:.2f} s / {j['runs'][1]['wall']:.2f} s, "
                  f"warm-up (compile) {j['warmup_wall']:.2f} s, diverged {j['runs'][1]['diverged']}, "
                  f"prng {j['prng']}")
    print(f"  load average at the end: {' '.join(f'{v:.2f}' for v in loadavg())}; "
          f"script wall time {elapsed:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(dict(versions=versions, argv=sys.argv, elapsed_s=elapsed,
                           escapade_flags=ESCAPADE_FLAGS, results=results), fh, indent=2)
        print(f"  wrote {args.json}")


if __name__ == "__main__":
    main()
