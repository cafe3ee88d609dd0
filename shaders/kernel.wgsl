// The per-invocation kernel family: one invocation steps one chain, its point x, gradient g,
// direction v and x~ in private arrays (d <= 256); twin of src/kernel.rs (step) and src/init.rs
// (init_point). Generated in front of this file: D (dimension), WG (workgroup size), StateT (stored
// type), real (the arithmetic of positions: f32, or f64), the method's piece selectors (ORACLE,
// PERTURB, TRANSFORM, PRECOND_KERNEL, SCHEDULE, STEP_RULE), the prelude (rng.wgsl, struct Eval,
// the data binding), the objective and chain_rho1/chain_rho2, TRACED (whether the experiment
// records positions; false folds the trace check away), MONITOR (the same for the monitor),
// then shaders/pieces.wgsl, shaders/detector.wgsl and shaders/monitor.wgsl, whose coordinate
// work this file provides. Random draws, bookkeeping and
// transcendentals are f32 on every precision. Escapes are held per chain and appended after the
// fused loop (an atomic inside it would cost every step), everything else is written once at the
// end.

// Declared from Rust (src/abi.rs) in front of this file: struct KernelParams, ChainState and
// EscapeEvent, the codes (status, counters, purposes, init kinds, piece selectors), the bindings
// (params, xs, states, events, counters, trace, data, init_points, xt) and fresh_state().

var<private> x: array<real, D>;
var<private> g: array<real, D>;
var<private> v: array<real, D>;
var<private> xtil: array<real, D>;

// Standard normals 0..D of the stream (chain, step, purpose) into `out`, four per block.
fn normals(chain: u32, step: u32, purpose: u32, out: ptr<function, array<f32, D>>) {
    for (var b = 0u; b * 4u < D; b++) {
        let w = philox(vec4<u32>(chain, step, purpose, b), key());
        let p = normal_pair(w.x, w.y);
        let q = normal_pair(w.z, w.w);
        let four = array<f32, 4>(p.x, p.y, q.x, q.y);
        for (var j = 0u; j < 4u && b * 4u + j < D; j++) {
            (*out)[b * 4u + j] = four[j];
        }
    }
}

// A point uniform in the D-ball of `radius`; radius' uniform from the block after the normals.
fn ball(chain: u32, step: u32, purpose: u32, radius: f32, out: ptr<function, array<f32, D>>) {
    let u = uniform01_open(philox(vec4<u32>(chain, step, purpose, (D + 3u) / 4u), key()).x);
    sphere(chain, step, purpose, radius * pow(u, 1.0 / f32(D)), out);
}

// A point uniform on the sphere of `radius`: a normalized Gaussian direction.
fn sphere(chain: u32, step: u32, purpose: u32, radius: f32, out: ptr<function, array<f32, D>>) {
    normals(chain, step, purpose, out);
    var n2 = 0.0;
    for (var i = 0u; i < D; i++) {
        n2 = n2 + (*out)[i] * (*out)[i];
    }
    let scale = radius / max(sqrt(n2), 1.17549435e-38);
    for (var i = 0u; i < D; i++) {
        (*out)[i] = (*out)[i] * scale;
    }
}

fn init_point(chain: u32) {
    var p: array<f32, D>;
    let scale = params.init_scale;
    switch params.init_kind {
        case INIT_NORMAL: {
            normals(chain, 0u, PURPOSE_INIT, &p);
            for (var i = 0u; i < D; i++) {
                p[i] = p[i] * scale;
            }
        }
        case INIT_UNIFORM: {
            for (var i = 0u; i < D; i++) {
                let w = philox(vec4<u32>(chain, 0u, PURPOSE_INIT, i / 4u), key());
                p[i] = (2.0 * uniform01(w[i % 4u]) - 1.0) * scale;
            }
        }
        case INIT_BALL: {
            ball(chain, 0u, PURPOSE_INIT, scale, &p);
        }
        case INIT_POINT: {
            for (var i = 0u; i < D; i++) {
                p[i] = init_points[i];
            }
        }
        case INIT_POINTS: {
            for (var i = 0u; i < D; i++) {
                p[i] = init_points[chain * D + i];
            }
        }
        case INIT_SPHERE: {
            sphere(chain, 0u, PURPOSE_INIT, scale, &p);
        }
        default: {
            for (var i = 0u; i < D; i++) {
                p[i] = 0.0;
            }
        }
    }
    for (var i = 0u; i < D; i++) {
        x[i] = real(p[i]);
    }
}

fn sum_sq(a: ptr<private, array<real, D>>) -> real {
    var s: real = 0.0;
    for (var i = 0u; i < D; i++) {
        s = s + (*a)[i] * (*a)[i];
    }
    return s;
}

fn eval_point() -> Measured {
    let e = objective(&x, &g);
    return Measured(e.f, sum_sq(&g), e.label, e.ok);
}

fn restore_tilde() {
    x = xtil;
}

fn kick(chain: u32, t: u32) {
    xtil = x;
    var kick: array<f32, D>;
    ball(chain, t, PURPOSE_PERTURB, st.radius, &kick);
    for (var i = 0u; i < D; i++) {
        x[i] = x[i] + real(kick[i]);
    }
}

fn direction(chain: u32, t: u32) {
    switch ORACLE {
        case ORACLE_NOISE: {
            var noise: array<f32, D>;
            normals(chain, t, PURPOSE_NOISE, &noise);
            for (var i = 0u; i < D; i++) {
                v[i] = g[i] + real(params.sigma) * real(noise[i]);
            }
        }
        case ORACLE_MINIBATCH: {
            for (var i = 0u; i < D; i++) {
                v[i] = 0.0;
            }
            var words = vec4<u32>(0u);
            for (var k = 0u; k < params.batch; k++) {
                if (k % 4u == 0u) {
                    words = philox(vec4<u32>(chain, t, PURPOSE_MINIBATCH, k / 4u), key());
                }
                objective_term_grad(&x, mulhilo(words[k % 4u], params.terms).x, &v);
            }
            let inv_b = 1.0 / real(params.batch);
            for (var i = 0u; i < D; i++) {
                v[i] = v[i] * inv_b;
            }
        }
        default: {
            v = g;
        }
    }
    if (PERTURB == PERTURB_GAUSSIAN) {
        var xi: array<f32, D>;
        normals(chain, t, PURPOSE_PERTURB, &xi);
        let s = st.radius / sqrt(f32(D));
        for (var i = 0u; i < D; i++) {
            v[i] = v[i] + real(s) * real(xi[i]);
        }
    }
}

fn norm_v() -> f32 {
    return f32(sqrt(sum_sq(&v)));
}

fn update(stepsize: real, kicked: bool) -> bool {
    var moved = false;
    // The monitor's g.dx and |dx|^2, summed in coordinate order as kernel::Stepper::update; a
    // separate loop, so that the update runs as before with the monitor off.
    if (monitor_on()) {
        var gdx: real = 0.0;
        var dx2: real = 0.0;
        for (var i = 0u; i < D; i++) {
            let next = real(StateT(x[i] - stepsize * v[i]));
            moved = moved || next != select(x[i], xtil[i], kicked);
            let dx = kept(next) - x[i];
            gdx = gdx + g[i] * dx;
            dx2 = dx2 + dx * dx;
            x[i] = next;
        }
        leave_gdx = gdx;
        leave_dx2 = dx2;
        return moved;
    }
    for (var i = 0u; i < D; i++) {
        // Rounded to the storage type every step, so f16 results do not depend on dispatch size.
        let next = real(StateT(x[i] - stepsize * v[i]));
        moved = moved || next != select(x[i], xtil[i], kicked);
        x[i] = next;
    }
    return moved;
}

fn trace_x(base: u32) {
    for (var i = 0u; i < D; i++) {
        trace[base + i] = f32(x[i]);
    }
}

fn chain_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    // 2-D dispatch: ensembles beyond 65535 workgroups spill into y.
    return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn init_chains(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    // The objective's workgroup copy of its data (a no-op for most), once per dispatch, in
    // uniform control flow: every invocation reaches the barrier, none is inside the step loop.
    objective_load(lid);
    workgroupBarrier();
    let c = chain_index(gid, nwg);
    if (c >= params.shard_chains) {
        return;
    }
    init_point(params.chain_offset + c);
    for (var i = 0u; i < D; i++) {
        x[i] = real(StateT(x[i]));
        xs[i * params.shard_chains + c] = StateT(x[i]);
    }
    init_state();
    states[c] = st;
}

@compute @workgroup_size(WG)
fn step_chains(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    // The objective's workgroup copy of its data (a no-op for most), once per dispatch, in
    // uniform control flow: every invocation reaches the barrier, none is inside the step loop.
    objective_load(lid);
    workgroupBarrier();
    let c = chain_index(gid, nwg);
    if (c >= params.shard_chains) {
        return;
    }
    st = states[c];
    let chain = params.chain_offset + c;
    if (st.status == RUNNING) {
        for (var i = 0u; i < D; i++) {
            x[i] = real(xs[i * params.shard_chains + c]);
        }
        if (PERTURB == PERTURB_BALL) {
            for (var i = 0u; i < D; i++) {
                xtil[i] = real(xt[i * params.shard_chains + c]);
            }
        }
        let paused = fused(chain);
        for (var i = 0u; i < D; i++) {
            xs[i * params.shard_chains + c] = StateT(x[i]);
        }
        if (PERTURB == PERTURB_BALL) {
            for (var i = 0u; i < D; i++) {
                xt[i * params.shard_chains + c] = StateT(xtil[i]);
            }
        }
        states[c] = st;
        after_steps(paused, true);
    }
    count_status();
}
