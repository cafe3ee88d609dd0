#!/usr/bin/env python3
"""Peer benchmark: escapade's CPU backend and GPU path against PGD (and PSGD) written in JAX on the CPU.

JAX is the peer, and this script is never a CI dependency. Install JAX in a virtualenv outside
the repository and run the script with that interpreter:

    python3 -m venv /work/venv-jax && /work/venv-jax/bin/pip install jax numpy
    /work/venv-jax/bin/python scripts/peer-jax.py --binary target/release/escapade

The workloads are the same ensembles on both sides, PGD (escapade --method pgd) except digits:

    toy          toy saddle, d = 2, 65536 chains    (--objective toy-saddle)
    quartic      quartic, d = 16, 16384 chains      (--objective quartic --dim 16)
    phase        phase retrieval, d = 32, m = 128,  (--objective phase-retrieval --dim 32 --m 128
                 4096 chains                         --init uniform:0.1)
    phase256     phase retrieval, d = 256,          (--objective phase-retrieval --dim 256
                 m = 2048, 1024 chains               --m 2048 --init uniform:0.1)
    quartic1024  quartic, d = 1024, 4096 chains     (--objective quartic --dim 1024)
    wine         tanh MLP 13-16-3 on UCI Wine,      (--objective mlp --dataset wine --layers
                 full batch, d = 275, 4096 chains    13,16,3 --init normal:0.1)
    mf512        matrix factorization n = 512,      (--objective matrix-factorization --dim 512
                 r = 4, d = 2048, 256 chains         --rank 4 --init uniform:0.1)
    digits       tanh MLP 64-32-10 on UCI Digits    (--objective mlp --dataset digits --layers
                 (1797 rows), d = 2410, 1024         64,32,10 --method psgd --batch 32
                 chains, perturbed SGD, minibatch    --init normal:0.1)
                 of 32 rows ("The PSGD step" below)

Both networks use softmax cross-entropy and read the shipped data/<set>.csv, standardised as
escapade does with no --holdout (src/objective/dataset.rs): each feature over all rows to mean 0
and population standard deviation 1, a feature of deviation 0 (Digits has three) only centred.

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
  * JAX: `jit(vmap(chain))` with `chain` a `lax.fori_loop` over the steps and the step count a
    traced argument, so one compilation serves both budgets. It is compiled and run once
    (warm-up) before timing; each timed call ends with `block_until_ready`. JAX always computes
    chains * steps chain-steps (a chain that diverged is masked, not stopped).

The JAX PGD step (one `value_and_grad` per step) follows escapade's Stepper::step (src/kernel.rs):
  1. value f and gradient g at x; the chain is frozen once f or ||g||^2 is not finite;
  2. label of x (objective's own rule) and the step at which it last changed;
  3. escape test: a stalled chain whose value fell by f_thres below its stall value escapes
     (counted, escape time t - t_stall accumulated, stall cleared);
  4. stall test: ||g|| <= g_thres starts a stall (t_stall, f_stall, label at the stall);
  5. ball perturbation: a stalled chain with no kick in the last t_thres steps gets a kick
     uniform in the ball of radius r (t_noise and f(x~) recorded);
  6. update x <- x - eta g.

The PSGD step (workload digits; escapade --method psgd --batch 32: a minibatch oracle and the
Gaussian perturbation, no ball kick) follows the same Stepper::step with those pieces:
  1. full value f, label and full gradient g at x, from one pass over all 1797 rows
     (`value_and_grad(..., has_aux=True)`, the label read off the loss's logits as escapade's
     evaluation returns it): the detector needs the full gradient, since the stall test is
     ||grad f|| <= g_thres; the chain is frozen once f or ||g||^2 is not finite;
  2.-4. label change, escape test and stall test as in the PGD step (no kick);
  5. the direction v: the mean of 32 rows' term gradients at x, the rows drawn uniformly with
     replacement from the chain's own stream (`jax.random.randint`; each term's gradient includes
     the regulariser's, here none), plus N(0, r^2/d I) drawn for every chain at every step (as
     escapade does: PSGD perturbs every step);
  6. update x <- x - eta v.
So a PSGD step costs a full-batch value and gradient plus a 32-row gradient: the minibatch
does not make the step cheaper than full-batch GD, it only changes the direction.
`--engines cpu-expr` adds escapade's CPU backend with the objective written as a formula
(`--objective expr`, docs/expressions.md; workloads toy, quartic and quartic1024), with the
built-in's parameters.

`--engines jax-valueonly` adds a column for a cheaper JAX step that computes the full VALUE (and
label) and the minibatch gradient but NOT the full gradient. It is not the same work: without
the full gradient it cannot run escapade's stall test (so there is no stall, escape or
detector), and it only bounds what a JAX PSGD that skipped the detector could reach. It exists
because a published JAX figure for this workload (3.0e3 chain-steps/s) was measured that way;
compare escapade with the `jax` column, not with this one.

Differences from escapade's steps, which matter little for throughput but are stated here:
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
  * PSGD: escapade draws the minibatch rows and the perturbation from Philox streams; JAX
    from jax.random (one fold_in and split per step and chain), so the rows differ. JAX's PGD
    step computes the label in a separate pass (on the networks XLA runs it as a second
    forward pass over every row; wine was measured so); the PSGD step takes it from the one
    pass, as escapade does.
  * Phase retrieval's data: escapade generates A (m x d, N(0, 1) entries), a unit x* and
    y = (A x*)^2 from its own seed (--data-seed, Philox); JAX generates data of the same shape and
    distribution with NumPy. Only throughput is compared, so the draws need not agree. Likewise
    the initial points and kicks come from different random streams on the two sides.
Parameters (eta, radius, g_thres, f_thres, t_thres, init) are read from escapade's summary.json
of the first escapade run of each workload, so both sides use the same values (falling back to
escapade's per-objective defaults when no escapade engine is run); the run's method pieces
(oracle, perturbation, transform, schedule, step rule) are checked against the ones the JAX step
mirrors. Everything is f32.

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
def workload(title, objective, dim, m, chains, init, steps, rank=None, layers=None,
             dataset=None, method="pgd", batch=None, formula=None):
    """One workload: escapade's flags follow from the objective, dimension, m and (matrix
    factorization, whose --dim is n and whose dimension is n * rank) the rank; the network's
    from its data set and layers. `method` is escapade's preset (pgd, or psgd with a minibatch
    oracle of `batch` rows: the only two the JAX peer mirrors)."""
    if method not in ("pgd", "psgd"):
        raise ValueError(f"method {method!r}: the JAX peer mirrors pgd and psgd only")
    if (method == "psgd") != (batch is not None):
        raise ValueError("psgd workloads, and only they, give a minibatch size")
    flags = ["--objective", objective]
    if objective == "expr":
        # A formula, and the parameters (an expression's defaults are not a built-in's).
        f, label, params = formula
        flags += ["--f", f, "--label", label, "--dim", str(dim)]
        flags += [v for k, x in params.items() for v in ("--" + k.replace("_", "-"), str(x))]
    elif objective == "mlp":
        # The network's dimension follows from its layers (13-16-3 on Wine: d = 275).
        flags += ["--dataset", dataset or "wine", "--layers", ",".join(str(v) for v in layers)]
    elif rank is not None:
        flags += ["--dim", str(dim // rank), "--rank", str(rank)]
    elif objective != "toy-saddle":
        flags += ["--dim", str(dim)]
    if m is not None:
        flags += ["--m", str(m)]
    flags += ["--method", method]
    if batch is not None:
        flags += ["--batch", str(batch)]
    return dict(title=title, objective=objective, dim=dim, m=m, rank=rank, layers=layers,
                dataset=(dataset or "wine") if objective == "mlp" else None, method=method,
                batch=batch, chains=chains, flags=flags, init=init, steps=steps, formula=formula)


WELLS = ("sum(i, 0.25*(x[i]^2 - 1)^2) + 0.05*sum(i, 0, d - 1, (x[i+1] - x[i])^2)", "sum(i, x[i] > 0)",
         dict(eta=0.1, radius=0.01, g_thres=1e-3, f_thres=1e-3, t_thres=20))

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
    # The network issue's minibatch workload: a tanh MLP 64-32-10 on UCI Digits (data/digits.csv,
    # 1797 rows), softmax cross-entropy, perturbed SGD with a minibatch oracle of 32 rows (escapade
    # --method psgd --batch 32; the step is the module docstring's "PSGD step"). d = 2410. Every
    # step also evaluates the full objective (value and gradient over all 1797 rows, 56 times the
    # minibatch's rows) for the stall test, so steps are dear: about 1e3 chain-steps/s on both
    # sides on 2 cores, and the S2 run of 1024 chains takes 15 to 25 s (escapade, loaded machine).
    # From normal:0.1 no chain diverges and none rests within 16 steps.
    "digits": workload("MLP 64-32-10 on Digits, PSGD b=32", "mlp", 2410, None, 1024, "normal:0.1", (4, 16),
                       layers=(64, 32, 10), dataset="digits", method="psgd", batch=32),
    # The issue-22 newcomer's "own objective", a chain of double wells coupled to their
    # neighbours, as a formula (--objective expr) on escapade's side: a strict saddle of index d
    # at 0, label = the coordinates in their right-hand well. PGD from next to the saddle.
    "wells": workload("coupled double wells d=16 (formula)", "expr", 16, None, 16384, "uniform:0.0001", (300, 1200),
                      formula=WELLS),
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
    "expr": WELLS[2],
}

# Flags that make an escapade run time the stepping and little else: no progress output, no
# plots, no second-order verdicts beyond those the statistics need, no checkpoints.
# (The method preset, --method and --batch, is each workload's: see `workload`.)
ESCAPADE_FLAGS = [
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
    "jax-valueonly": "JAX, value + minibatch grad (bound)",
    "gpu": "escapade GPU path",
    "cpu": "escapade CPU backend",
    "cpu-expr": "escapade CPU, the objective as a formula",
}

# The workloads whose objective is also written as a formula (--objective expr, the engine
# cpu-expr): f and its label, the built-in objective's own (src/objective/expr, docs/expressions.md).
FORMULAS = {
    "toy": ("x0^2/2 + x1^4/4 - x1^2/2", "3*x1^2 >= 1"),
    "quartic": ("sum(i, 0.25*x[i]^4 + 0.5*x[i]^2) - x0^2", "3*x0^2 >= 1"),
    "quartic1024": ("sum(i, 0.25*x[i]^4 + 0.5*x[i]^2) - x0^2", "3*x0^2 >= 1"),
}


def as_formula(name, wl):
    """The workload with its objective written as a formula and the built-in's parameters given
    (an expression's defaults are not the built-in's)."""
    f, label = FORMULAS[name]
    p = DEFAULT_PARAMS[wl["objective"]]
    flags = ["--objective", "expr", "--f", f, "--label", label, "--dim", str(wl["dim"]),
             "--method", wl["method"], "--eta", str(p["eta"]), "--radius", str(p["radius"]),
             "--g-thres", str(p["g_thres"]), "--f-thres", str(p["f_thres"]),
             "--t-thres", str(p["t_thres"])]
    return dict(wl, flags=flags)


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


# The method pieces (summary.json's experiment.method) each preset the JAX peer mirrors must
# have: escapade's presets could change, and the JAX step would silently stop being its twin.
def expected_pieces(wl):
    if wl["method"] == "pgd":
        return dict(oracle={"kind": "exact"}, perturbation="ball")
    return dict(oracle={"kind": "minibatch", "batch": wl["batch"]}, perturbation="gaussian")


def escapade_params(summary, wl=None):
    """PGD parameters and init of a run, from summary.json's experiment block (checking, given
    the workload, that the method's pieces are the ones the JAX step mirrors)."""
    exp = summary["experiment"]
    if isinstance(exp, str):
        exp = json.loads(exp)
    method = exp["method"]
    if wl is not None:
        want = dict(expected_pieces(wl), transform={"kind": "identity"},
                    schedule={"kind": "constant"}, step_rule={"kind": "fixed"})
        got = {k: method.get(k) for k in want}
        if got != want:
            raise RuntimeError(f"escapade's {wl['method']} is not the step the JAX peer mirrors: "
                               f"{got} (expected {want})")
    p = method["params"]
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
                params, init, _ = escapade_params(summary, wl)
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
    as src/objective/{toy_saddle,quartic,phase_retrieval,matrix_factorization,mlp}.rs), and a
    dict `extra`: f_label(x), the value and the label from one pass (the network's label reads
    the logits of its loss: escapade computes both in one pass, and XLA does not merge a
    separate label pass with value_and_grad's forward pass), and for the network batch_f(x,
    rows), the mean loss over the given rows, and terms, the number of rows."""
    import jax
    import jax.numpy as jnp
    import jax.scipy.special  # noqa: F401 (logsumexp, for the network)
    import numpy as np

    d = wl["dim"]
    # A finite sum's mean loss over given rows (minibatch workloads) and its number of terms;
    # value and label from one pass, where the objective shares them.
    batch_f, terms, f_label = None, None, None
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

    elif wl["objective"] == "expr":
        # The wells workload's formula (WELLS), written in jnp.
        def f(x):
            return jnp.sum(0.25 * (x * x - 1.0) ** 2) + 0.05 * jnp.sum((x[1:] - x[:-1]) ** 2)

        def label(x):
            return jnp.sum(x > 0).astype(jnp.int32)

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
        # rows; label = number of classes predicted (first largest logit) for some row. The same
        # data: data/<dataset>.csv (a header row, then the features and the integer label per
        # row), standardised as src/objective/dataset.rs does with no --holdout: each column
        # over all rows to mean 0 and population standard deviation 1, a column of deviation 0
        # only centred (Digits has such columns). No weight decay, no kappa (escapade's default),
        # so a row's term gradient is its loss gradient alone.
        import os
        here = os.path.dirname(os.path.abspath(__file__))
        raw = np.loadtxt(os.path.join(here, "..", "data", f"{wl['dataset']}.csv"), delimiter=",", skiprows=1)
        feats, ys = raw[:, :-1], raw[:, -1].astype(np.int32)
        sd = feats.std(axis=0)
        feats = (feats - feats.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
        sizes = wl["layers"]
        if feats.shape[1] != sizes[0] or ys.max() + 1 != sizes[-1]:
            raise ValueError(f"{wl['dataset']}: {feats.shape[1]} features and {ys.max() + 1} classes, "
                             f"layers {sizes}")
        xdata = jnp.asarray(feats, dtype=jnp.float32)
        onehot = jnp.asarray(np.eye(ys.max() + 1)[ys], dtype=jnp.float32)
        shapes, off = [], 0
        for l in range(1, len(sizes)):
            shapes.append((off, sizes[l], sizes[l - 1]))
            off += sizes[l] * (sizes[l - 1] + 1)
        if off != d:
            raise ValueError(f"layers {sizes} give d = {off}, the workload says {d}")

        def logits(x, a):
            for k, (o, so, si) in enumerate(shapes):
                w = x[o:o + so * si].reshape(so, si)
                b = x[o + so * si:o + so * si + so]
                z = a @ w.T + b
                a = jnp.tanh(jnp.clip(z, -20.0, 20.0)) if k + 1 < len(shapes) else z
            return a

        def mean_loss(x, a, oh):
            z = logits(x, a)
            lse = jax.scipy.special.logsumexp(z, axis=1)
            return jnp.mean(lse - jnp.sum(z * oh, axis=1))

        def f(x):
            return mean_loss(x, xdata, onehot)

        def label(x):
            pred = jnp.argmax(logits(x, xdata), axis=1)
            return jnp.sum(jnp.any(pred[:, None] == jnp.arange(onehot.shape[1])[None, :], axis=0)).astype(jnp.int32)

        def f_label(x):
            z = logits(x, xdata)
            lse = jax.scipy.special.logsumexp(z, axis=1)
            pred = jnp.argmax(z, axis=1)
            seen = jnp.any(pred[:, None] == jnp.arange(onehot.shape[1])[None, :], axis=0)
            return jnp.mean(lse - jnp.sum(z * onehot, axis=1)), jnp.sum(seen).astype(jnp.int32)

        def batch_f(x, rows):
            # The mean loss over the rows `rows` (repeats counted): its gradient is the mean of
            # the rows' term gradients, escapade's minibatch direction.
            return mean_loss(x, xdata[rows], onehot[rows])

        terms = int(feats.shape[0])

    else:
        raise ValueError(wl["objective"])
    if wl["batch"] is not None and batch_f is None:
        raise ValueError(f"{wl['objective']}: no minibatch form in the JAX peer")
    if f_label is None:
        def f_label(x):
            return f(x), label(x)
    return f, label, dict(f_label=f_label, batch_f=batch_f, terms=terms)


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


def jax_pgd(wl, params, data_seed, draw_kicks=True, value_only=False):
    """The compiled ensemble: jit(vmap(chain)), chain(x0, key, steps) a fori_loop of the
    workload's steps (PGD, or PSGD with a minibatch oracle: the module docstring's two steps).
    draw_kicks=False replaces the kick (PGD) or the Gaussian perturbation (PSGD) by zeros (the
    upper bound of engine jax-nokick). value_only=True (PSGD only, engine jax-valueonly) computes
    the full value but not the full gradient: no stall test, so not escapade's step, a bound."""
    import jax
    import jax.numpy as jnp

    f, label, extra = jax_objective(wl, data_seed)
    value_and_grad = jax.value_and_grad(f)
    psgd = wl["method"] == "psgd"
    if value_only and not psgd:
        raise ValueError("the value-only step needs a minibatch workload")
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

    def detect(t, ok, fx, new_lab, low, lab, label_since, stalled, t_stall, f_stall, stall_label,
               escapes, escape_steps):
        """Steps 2-4 of escapade's step, shared by the PGD and PSGD steps: the label and when it
        last changed; the escape test (a stalled chain whose value dropped by f_thres below
        f_stall escaped); the stall test (`low`: ||g|| <= g_thres on a finite step)."""
        label_since = jnp.where(ok & (new_lab != lab), t, label_since)
        lab = jnp.where(ok, new_lab, lab)
        esc = ok & stalled & (fx <= f_stall - f_thres)
        escapes = escapes + esc.astype(jnp.int32)
        escape_steps = escape_steps + jnp.where(esc, t - t_stall, 0)
        stalled = stalled & ~esc
        start = low & ~stalled
        t_stall = jnp.where(start, t, t_stall)
        f_stall = jnp.where(start, fx, f_stall)
        stall_label = jnp.where(start, lab, stall_label)
        stalled = stalled | low
        return lab, label_since, stalled, t_stall, f_stall, stall_label, escapes, escape_steps

    def step(t, s):
        (x, alive, lab, label_since, stalled, t_stall, f_stall, stall_label,
         t_noise, f_tilde, escapes, escape_steps, key) = s
        # 1. one value_and_grad; a non-finite value or gradient norm ends the chain.
        fx, g = value_and_grad(x)
        gn2 = jnp.dot(g, g)
        ok = alive & jnp.isfinite(fx) & jnp.isfinite(gn2)
        gnorm = jnp.sqrt(gn2)
        # 2.-4. label, escape test, stall test.
        low = ok & (gnorm <= g_thres)
        (lab, label_since, stalled, t_stall, f_stall, stall_label, escapes, escape_steps) = detect(
            t, ok, fx, label(x), low, lab, label_since, stalled, t_stall, f_stall, stall_label, escapes, escape_steps)
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

    if psgd:
        # The PSGD step takes value and label from one pass (the label read off the loss's
        # logits, as escapade's evaluation returns it); the PGD step above keeps its separate
        # label(x) as measured before (on the network XLA runs that as a second forward pass).
        f_label, terms = extra["f_label"], extra["terms"]
        value_label_and_grad = jax.value_and_grad(f_label, has_aux=True)
        batch_grad = jax.grad(extra["batch_f"])
        batch = wl["batch"]
        # N(0, r^2/d I): escapade's Gaussian perturbation, radius / sqrt(d) per coordinate.
        noise_scale = jnp.float32(params["radius"] / d ** 0.5)

    def step_psgd(t, s):
        (x, alive, lab, label_since, stalled, t_stall, f_stall, stall_label,
         t_noise, f_tilde, escapes, escape_steps, key) = s
        k_rows, k_noise = jax.random.split(jax.random.fold_in(key, t))
        # The direction: the mean of `batch` rows' term gradients at x, rows drawn uniformly
        # with replacement from the chain's own stream (escapade: Philox, Purpose::Minibatch).
        rows = jax.random.randint(k_rows, (batch,), 0, terms)
        v = batch_grad(x, rows)
        if value_only:
            # The bound: the full value (label, escape bookkeeping) but no full gradient, so no
            # stall test; finiteness judged on the value and the minibatch direction.
            fx, new_lab = f_label(x)
            ok = alive & jnp.isfinite(fx) & jnp.isfinite(jnp.dot(v, v))
            low = jnp.bool_(False)
        else:
            # 1. the full value and gradient at x (the detector's); a non-finite value or
            # gradient norm ends the chain.
            (fx, new_lab), g = value_label_and_grad(x)
            gn2 = jnp.dot(g, g)
            ok = alive & jnp.isfinite(fx) & jnp.isfinite(gn2)
            low = ok & (jnp.sqrt(gn2) <= g_thres)
        # 2.-4. label (from the same pass), escape test, stall test on the full gradient's norm
        # (no kick: PSGD perturbs every step).
        (lab, label_since, stalled, t_stall, f_stall, stall_label, escapes, escape_steps) = detect(
            t, ok, fx, new_lab, low, lab, label_since, stalled, t_stall, f_stall, stall_label, escapes, escape_steps)
        # 5. the Gaussian perturbation N(0, r^2/d I), every step of every chain (as escapade).
        if draw_kicks:
            v = v + noise_scale * jax.random.normal(k_noise, (d,), jnp.float32)
        # 6. update.
        x = jnp.where(ok, x - eta * v, x)
        return (x, ok, lab, label_since, stalled, t_stall, f_stall, stall_label,
                t_noise, f_tilde, escapes, escape_steps, key)

    def chain(x0, key, steps):
        zero_i = jnp.int32(0)
        zero_f = jnp.float32(0)
        state = (x0, jnp.bool_(True), zero_i, zero_i, jnp.bool_(False), zero_i, zero_f, zero_i,
                 never, zero_f, zero_i, zero_i, key)
        # The whole state is returned so that XLA keeps every part of the step.
        return jax.lax.fori_loop(0, steps, step_psgd if psgd else step, state)

    return jax.jit(jax.vmap(chain, in_axes=(0, 0, None)))


def measure_jax(wl, params, init, budgets, repeats, seed, data_seed, prng, draw_kicks=True,
                value_only=False):
    import jax

    chains, d = wl["chains"], wl["dim"]
    root = jax.random.key(seed, impl=prng)
    k_init, k_chains = jax.random.split(root)
    x0 = jax.block_until_ready(jax_init(k_init, init, chains, d))
    keys = jax.random.split(k_chains, chains)
    run = jax_pgd(wl, params, data_seed, draw_kicks, value_only)

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
                prng=prng if draw_kicks else "none (no kick or perturbation draws)",
                step="value + minibatch gradient (no stall test)" if value_only else wl["method"])


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------

def parse_args():
    ap = argparse.ArgumentParser(
        description="escapade (CPU backend, GPU path) against PGD (and, on digits, PSGD) in JAX "
                    "on the CPU: marginal chain-steps/s on the same workloads, printed as one "
                    "table.")
    ap.add_argument("--binary", default=None,
                    help="escapade binary (default: target/release/escapade of this repository)")
    ap.add_argument("--workloads", default="toy,quartic,phase",
                    help="comma-separated subset of: " + ",".join(WORKLOADS)
                         + " (digits: PSGD with a minibatch of 32, the others PGD)")
    ap.add_argument("--engines", default="jax,gpu,cpu",
                    help="comma-separated subset of: jax, gpu (escapade's GPU path), cpu "
                         "(escapade's CPU backend), jax-nokick (JAX without the kick's or PSGD "
                         "perturbation's random draw: an upper bound, not PGD; off by default), "
                         "jax-valueonly (minibatch workloads only: JAX computing the full value "
                         "and the minibatch gradient but not the full gradient, so without "
                         "escapade's stall test: not the same work, an upper bound; off by "
                         "default)")
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
                    help="jax.random implementation of the kicks, perturbations and minibatch "
                         "rows (threefry2x32, rbg, unsafe_rbg)")
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
    if any(e in args.engines for e in ("gpu", "cpu", "cpu-expr")) and not os.access(args.binary, os.X_OK):
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
    if any(e in args.engines for e in ("gpu", "cpu", "cpu-expr")):
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
                       m=wl["m"], init=wl["init"], method=wl["method"], batch=wl["batch"],
                       budgets=budgets, load_before=load_before)
            params, init = None, wl["init"]
            # escapade first: its summary.json says which parameters JAX is to use.
            for engine in ("cpu", "gpu", "cpu-expr"):
                if engine not in args.engines:
                    continue
                if engine == "cpu-expr" and name not in FORMULAS:
                    print(f"  {name}: {engine} skipped (no formula)", flush=True)
                    continue
                print(f"  {name}: escapade {engine} at {budgets[0]} and {budgets[1]} steps ...",
                      flush=True)
                run_wl = as_formula(name, wl) if engine == "cpu-expr" else wl
                r, p, i = measure_escapade(args.binary, run_wl, engine.split("-")[0], budgets,
                                           args.repeats, args.seed, env, workdir)
                if params is not None and (p != params or i != init):
                    raise RuntimeError(f"escapade engines disagree on parameters: {p} vs {params}")
                params, init = p, i
                res[engine] = r
            if params is None:
                params = DEFAULT_PARAMS[wl["objective"]]
            res["params"] = params
            res["init"] = init
            for engine in ("jax", "jax-nokick", "jax-valueonly"):
                if engine not in args.engines:
                    continue
                if engine == "jax-valueonly" and wl["batch"] is None:
                    print(f"  {name}: {engine} skipped (no minibatch oracle)", flush=True)
                    continue
                print(f"  {name}: {engine} at {budgets[0]} and {budgets[1]} steps ...", flush=True)
                res[engine] = measure_jax(wl, params, init, budgets, args.repeats, args.seed,
                                          args.data_seed, args.jax_prng,
                                          draw_kicks=(engine != "jax-nokick"),
                                          value_only=(engine == "jax-valueonly"))
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
        for e in ("gpu", "cpu", "cpu-expr"):
            if e in r:
                b = r[e]["runs"][-1]
                extra = f", steps/dispatch {b['steps_per_dispatch']}" if b["steps_per_dispatch"] else ""
                print(f"    escapade {e}: wall {r[e]['runs'][0]['wall']:.2f} s / {b['wall']:.2f} s, "
                      f"diverged {b['diverged']}{extra}")
        for e in ("jax", "jax-nokick", "jax-valueonly"):
            if e not in r:
                continue
            j = r[e]
            print(f"    {e}: wall {j['runs'][0]['wall']:.2f} s / {j['runs'][1]['wall']:.2f} s, "
                  f"warm-up (compile) {j['warmup_wall']:.2f} s, diverged {j['runs'][1]['diverged']}, "
                  f"prng {j['prng']}")
        vo = r.get("jax-valueonly")
        if vo is not None and vo["rate"] == vo["rate"] and vo["rate"] > 0:
            ratios = [f"{e} {r[e]['rate'] / vo['rate']:.2f}x" for e in ("jax", "gpu", "cpu", "cpu-expr")
                      if e in r and r[e]["rate"] == r[e]["rate"]]
            if ratios:
                print(f"    over jax-valueonly (NOT the same work: no full gradient, no stall "
                      f"test): {', '.join(ratios)}")
    print(f"  load average at the end: {' '.join(f'{v:.2f}' for v in loadavg())}; "
          f"script wall time {elapsed:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(dict(versions=versions, argv=sys.argv, elapsed_s=elapsed,
                           escapade_flags=ESCAPADE_FLAGS, results=results), fh, indent=2)
        print(f"  wrote {args.json}")


if __name__ == "__main__":
    main()
