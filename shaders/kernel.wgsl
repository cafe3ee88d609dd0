// The ensemble kernel; twin of src/kernel.rs (step) and src/init.rs (init_point).
// Generated in front of this file: D (dimension), WG (workgroup size), StateT (stored type),
// real (the arithmetic of positions: f32, or f64), the method's
// piece selectors (ORACLE, PERTURB, TRANSFORM, PRECOND_KERNEL, SCHEDULE, STEP_RULE), the prelude
// (rng.wgsl, struct Eval, the data binding), the objective and chain_rho1/chain_rho2, and TRACED
// (whether the experiment records positions; false folds the trace check away). Random
// draws, bookkeeping and transcendentals are f32 on every precision. One invocation steps one chain through many fused
// steps, keeping x and the chain's bookkeeping in registers; escapes are held per chain and
// appended after the fused loop (an atomic inside it would cost every step), everything else is
// written once at the end.

// Declared from Rust (src/abi.rs) in front of this file: struct KernelParams, ChainState and
// EscapeEvent, the codes (status, counters, purposes, init kinds, piece selectors), the bindings
// (params, xs, states, events, counters, trace, data, init_points, xt) and fresh_state().

// What a step asks of the loop around it (kernel-internal; twin of kernel::Step).
const STEP_CONTINUE: u32 = 0u;
const STEP_DONE: u32 = 1u;
const STEP_PAUSED: u32 = 2u;
// The chain stopped before a rare part of its step, done once per round (see step_chains).
const STEP_KICK: u32 = 3u;
const STEP_CERTIFY: u32 = 4u;
const STEP_ESCAPE: u32 = 5u;
// Common steps per round: the rare parts run after each round, for the chains that asked.
const ROUND: u32 = 8u;

var<private> x: array<real, D>;
var<private> g: array<real, D>;
var<private> v: array<real, D>;
var<private> xtil: array<real, D>;
var<private> st: ChainState;
// Escapes of this dispatch, appended to `events` once the step loop is done: an atomic inside the
// fused loop costs every step on SIMD hardware, taken or not.
var<private> pend: array<EscapeEvent, PEND>;
var<private> npend: u32;

fn key() -> vec2<u32> {
    return vec2<u32>(params.seed_lo, params.seed_hi);
}

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

// rho(F) = a + b max(F - fmin, 0)^p; twin of Rho::eval_f32.
fn rho_form(r: vec4<f32>, big_f: f32) -> f32 {
    return r.x + r.y * pow(max(big_f - r.w, 0.0), r.z);
}

// The self-bounding rule at x0 (st.f holds f(x0)); twin of SelfBounding::chain_params. A negative
// margin asks for the default: f_thres of the parameters at f(x0).
fn chain_params() {
    var big_f = st.f + params.sb_margin;
    if (params.sb_margin < 0.0) {
        jin_params(st.f);
        big_f = st.f + st.f_thres;
    }
    jin_params(big_f);
}

// Jin et al.'s formulas at the anchor value F; twin of SelfBounding::params_at.
fn jin_params(big_f: f32) {
    let eps = params.sb_eps;
    let c = params.sb_c;
    let l = chain_rho1(big_f);
    let rho = chain_rho2(big_f);
    var df = params.sb_df;
    if (df <= 0.0) {
        df = max(big_f - params.f_star, 1e-30);
    }
    let chi = 3.0 * max(log(f32(D) * l * df / (c * eps * eps * params.sb_delta)), 4.0);
    let tt = min(ceil(chi / (c * c) * l / sqrt(rho * eps)), 2.0e9);
    st.eta = c / l;
    st.radius = select(sqrt(c) / (chi * chi) * eps / l, 0.0, PERTURB == PERTURB_NONE);
    st.g_thres = sqrt(c) / (chi * chi) * eps;
    st.f_thres = c / (chi * chi * chi) * sqrt(eps * eps * eps / rho);
    st.t_thres = u32(tt);
    st.certify = select(0u, st.t_thres, params.certify > 0u);
}

fn precond_kernel(s: f32) -> f32 {
    switch PRECOND_KERNEL {
        case PRECOND_ASINH: { return log(s + sqrt(s * s + 1.0)); }
        case PRECOND_LOG1P: { return log(1.0 + s); }
        case PRECOND_RATIONAL: { return s / (1.0 + s); }
        default: { return min(s, 1.0); }
    }
}

// The factor multiplying v; twin of Transform::scale.
fn transform_scale(vn: f32) -> f32 {
    switch TRANSFORM {
        case TRANSFORM_CLIP_HARD: {
            if (vn > 0.0) { return min(params.gamma / vn, 1.0); }
            return 1.0;
        }
        case TRANSFORM_CLIP_SMOOTH: { return params.gamma / (vn + params.gamma); }
        case TRANSFORM_PRECONDITION: {
            if (vn > 0.0) { return precond_kernel(params.lambda * vn) / vn; }
            return 0.0;
        }
        default: { return 1.0; }
    }
}

// Twin of Schedule::eta.
fn schedule_eta(eta: f32, t: u32) -> f32 {
    switch SCHEDULE {
        case SCHEDULE_INV_SQRT: { return eta / sqrt(f32(t) + 1.0); }
        case SCHEDULE_PIECEWISE: {
            var factor = 1.0;
            for (var k = 0u; k < 4u; k++) {
                if (t >= params.piece_t[k]) {
                    factor = params.piece_f[k];
                }
            }
            return eta * factor;
        }
        default: { return eta; }
    }
}

// Evaluates at x: value, gradient norm and label into st, or marks the chain diverged.
fn evaluate(t: u32) -> bool {
    let e = objective(&x, &g);
    if (e.ok == 0u) {
        st.status = DIVERGED_DOMAIN;
        return false;
    }
    let gn2 = sum_sq(&g);
    if (!finite_real(e.f) || !finite_real(gn2)) {
        st.status = DIVERGED_NONFINITE;
        return false;
    }
    st.f = f32(e.f);
    st.gnorm = f32(sqrt(gn2));
    if (e.label != st.label) {
        st.label = e.label;
        st.label_since = t;
    }
    return true;
}

fn step(chain: u32) -> u32 {
    let t = st.t;
    if (!evaluate(t)) {
        return STEP_DONE;
    }
    if (STEP_RULE == RULE_SELF_BOUNDING && params.sb_rebase > 0u && t > 0u && t % params.sb_rebase == 0u) {
        // Re-anchor the self-bounding rule at the current (lower) value; twin of Stepper::step.
        chain_params();
    }
    if (st.stalled == 1u && st.f <= st.f_stall - st.f_thres) {
        if (npend >= PEND) {
            // No room for this dispatch: stop before the step; the host runs the same target again.
            return STEP_PAUSED;
        }
        // Recorded in step_rare; the chain then redoes this step from the top, where evaluating
        // the same x (and re-anchoring at the same value) gives the same results.
        return STEP_ESCAPE;
    }
    if (st.certify > 0u) {
        if (PERTURB == PERTURB_BALL) {
            // Jin et al.'s stopping rule, window counted from the last kick; returns x~ (rare).
            if (st.t_noise != NEVER && t - st.t_noise == st.certify && st.f - st.f_tilde > -st.f_thres) {
                return STEP_CERTIFY;
            }
        } else if (st.stalled == 1u && t - st.t_stall >= st.certify) {
            st.status = CERTIFIED;
            return STEP_DONE;
        }
    }
    if (st.gnorm <= st.g_thres) {
        if (st.stalled == 0u) {
            st.stalled = 1u;
            st.t_stall = t;
            st.f_stall = st.f;
            st.stall_label = st.label;
        }
        if (PERTURB == PERTURB_BALL && (st.t_noise == NEVER || t - st.t_noise > st.t_thres)) {
            // The kick and the rest of this step are the rare part (step_rare).
            return STEP_KICK;
        }
    }
    return step_tail(chain, t, false);
}

// The rare parts of step t, taken out of the common step (see step_chains): an escape recorded
// (a store into `pend` at a varying index, paid every step in the common path), Jin et al.'s
// stopping rule (x~ evaluated, the chain certified) or the kick and the rest of the step.
fn step_rare(chain: u32, what: u32) -> u32 {
    let t = st.t;
    if (what == STEP_ESCAPE) {
        pend[npend] = EscapeEvent(chain, st.stall_label, st.t_stall, t - st.t_stall, st.f_stall, st.f);
        npend = npend + 1u;
        st.stalled = 0u;
        st.escapes = st.escapes + 1u;
        return STEP_CONTINUE;
    }
    if (what == STEP_CERTIFY) {
        x = xtil;
    } else {
        st.t_noise = t;
        st.f_tilde = st.f;
        xtil = x;
        var kick: array<f32, D>;
        ball(chain, t, PURPOSE_PERTURB, st.radius, &kick);
        for (var i = 0u; i < D; i++) {
            x[i] = x[i] + real(kick[i]);
        }
    }
    let ok = evaluate(t);
    if (what == STEP_CERTIFY) {
        if (ok) {
            st.status = CERTIFIED;
        }
        return STEP_DONE;
    }
    if (!ok) {
        return STEP_DONE;
    }
    return step_tail(chain, t, true);
}

// The step from x with its gradient in g: direction, size, update, hold. `kicked`: this step
// kicked x, so the stored state it started from is xtil.
fn step_tail(chain: u32, t: u32, kicked: bool) -> u32 {
    // The step's direction: oracle, then the Gaussian perturbation, then the transform.
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
    var scale = 1.0;
    if (TRANSFORM != TRANSFORM_IDENTITY) {
        scale = transform_scale(f32(sqrt(sum_sq(&v))));
    }
    let stepsize = real(schedule_eta(st.eta, t) * scale);
    // Whether the stored state changed in this step (from x~ when it kicked), bit for bit.
    var moved = false;
    for (var i = 0u; i < D; i++) {
        // Rounded to the storage type every step, so f16 results do not depend on dispatch size.
        let next = real(StateT(x[i] - stepsize * v[i]));
        moved = moved || next != select(x[i], xtil[i], kicked);
        x[i] = next;
    }
    // The hold (twin of kernel::hold): the step from which the stored state has not changed.
    if (moved) {
        st.t_limited = NEVER;
    } else if (st.t_limited == NEVER) {
        st.t_limited = t;
    }
    st.t = t + 1u;
    return STEP_CONTINUE;
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

// A fresh chain with its own parameters; twin of Stepper::init. x holds x0.
fn init_state() {
    st = fresh_state();
    st.eta = params.eta;
    st.radius = params.radius;
    st.g_thres = params.g_thres;
    st.f_thres = params.f_thres;
    st.t_thres = params.t_thres;
    st.certify = params.certify;
    if (STEP_RULE == RULE_SELF_BOUNDING) {
        if (!evaluate(0u)) {
            return;
        }
        chain_params();
    }
    if (PERTURB == PERTURB_NONE) {
        st.radius = 0.0;
    }
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
        let traced = params.trace_every > 0u && chain < params.trace_chains;
        // The first multiple of trace_every at or after st.t and its slot (0 when untraced: never
        // compared). Past the last multiple below 2^32 it wraps below st.t and is never met, as
        // st.t % trace_every then never is 0.
        var next_trace = 0u;
        var trace_slot = 0u;
        if (traced) {
            let r = st.t % params.trace_every;
            next_trace = select(st.t + params.trace_every - r, st.t, r == 0u);
            trace_slot = next_trace / params.trace_every;
        }
        var paused = false;
        npend = 0u;
        // lavapipe (Mesa 22.3's gallivm) runs every branch of a loop body with the lanes masked,
        // taken or not: a kick in the step loop (two Philox blocks, log, sin, cos, pow) cost every
        // step ten times the step itself, though a chain takes it once in t_thres steps. So steps
        // go in rounds: ROUND common steps (a uniform trip count, a flag instead of breaks, which
        // lavapipe also pays heavily for), a chain that reaches a kick, an escape or Jin's
        // stopping rule waiting out the round, then the rare parts once for the chains that
        // asked. Each chain takes the same steps in the same order as before, only the iteration
        // they fall in moves. (It has to be measured: vec4 lanes would not help here, lavapipe
        // already runs 8 chains per instruction; what costs is the instructions executed.)
        var stepping = true;
        var rare = STEP_CONTINUE;
        loop {
            if (!(stepping && st.t < params.t_end)) {
                break;
            }
            for (var k = 0u; k < ROUND; k++) {
                if (stepping && rare == STEP_CONTINUE && st.t < params.t_end) {
                    // A running target instead of st.t % trace_every: the branch is not skipped on
                    // lavapipe even when untraced, and a vector integer remainder is scalarised.
                    if (TRACED && traced && st.t == next_trace) {
                        next_trace = st.t + params.trace_every;
                        let slot = trace_slot;
                        trace_slot = trace_slot + 1u;
                        let base = (slot * params.trace_chains + chain) * D;
                        if (base + D <= arrayLength(&trace)) {
                            for (var i = 0u; i < D; i++) {
                                trace[base + i] = f32(x[i]);
                            }
                        }
                    }
                    let r = step(chain);
                    if (r == STEP_PAUSED) {
                        paused = true;
                    }
                    if (r >= STEP_KICK) {
                        rare = r;
                    } else {
                        stepping = r == STEP_CONTINUE;
                    }
                }
            }
            if (rare != STEP_CONTINUE) {
                stepping = step_rare(chain, rare) == STEP_CONTINUE;
                rare = STEP_CONTINUE;
            }
        }
        for (var i = 0u; i < D; i++) {
            xs[i * params.shard_chains + c] = StateT(x[i]);
        }
        if (PERTURB == PERTURB_BALL) {
            for (var i = 0u; i < D; i++) {
                xt[i * params.shard_chains + c] = StateT(xtil[i]);
            }
        }
        states[c] = st;
        if (paused) {
            atomicAdd(&counters[C_PAUSED], 1u);
        }
        // The host sizes `events` for PEND per chain, so every append fits.
        for (var k = 0u; k < npend; k++) {
            let idx = atomicAdd(&counters[C_EVENTS], 1u);
            if (idx < params.event_capacity) {
                events[idx] = pend[k];
            }
        }
        // llvmpipe/lavapipe break every loop of an invocation after 65535 iterations in total,
        // silently, even in the middle of a step. This loop needs one more iteration than its
        // uniform trip count lets the compiler see; if it cannot take it, the limit was hit
        // somewhere above and the host reruns the shard with fewer steps per dispatch.
        var probe = 0u;
        for (var i = 0u; i < params.loop_probe; i++) {
            probe = probe + 1u;
        }
        if (probe < params.loop_probe || (st.status == RUNNING && !paused && st.t < params.t_end)) {
            atomicAdd(&counters[C_CUT], 1u);
        }
    }
    switch st.status {
        case RUNNING: {
            atomicAdd(&counters[C_RUNNING], 1u);
        }
        case CERTIFIED: {
            atomicAdd(&counters[C_CERTIFIED], 1u);
        }
        default: {
            atomicAdd(&counters[C_DIVERGED], 1u);
        }
    }
}
