// The chain's logic, shared by every kernel family; twin of src/kernel.rs (Stepper::step). The
// stall detector, Jin et al.'s stopping rule, kicks, escapes, the hold and the fused loop of
// rounds decide on the chain's record `st` alone; what touches coordinates is the family's
// (shaders/kernel.wgsl: one invocation per chain; shaders/cooperative.wgsl: a workgroup per
// chain), through these functions, each of which every invocation of a chain calls alike:
//   eval_point() -> Measured      the objective at x: value, |g|^2, label, domain (reduced)
//   direction(chain, t)           v = the oracle's direction, plus the Gaussian perturbation
//   norm_v() -> f32               |v| (reduced)
//   update(stepsize, kicked) -> bool   x <- x - stepsize v in the stored format; whether it moved
//   restore_tilde()               x <- x~
//   kick(chain, t)                x~ <- x, then x <- x + a point of the ball of st.radius
//   trace_x(base)                 x into trace[base..base + D]
// In a cooperative family every invocation of a workgroup holds the same `st` (reductions give
// all of them the same sums), so every branch here is uniform across the workgroup.

// What a step asks of the loop around it (kernel-internal; twin of kernel::Step).
const STEP_CONTINUE: u32 = 0u;
const STEP_DONE: u32 = 1u;
const STEP_PAUSED: u32 = 2u;
// The chain stopped before a rare part of its step, done once per round (see fused).
const STEP_KICK: u32 = 3u;
const STEP_CERTIFY: u32 = 4u;
const STEP_ESCAPE: u32 = 5u;
// Common steps per round: the rare parts run after each round, for the chains that asked.
const ROUND: u32 = 8u;

var<private> st: ChainState;
// Escapes of this dispatch, appended to `events` once the step loop is done: an atomic inside the
// fused loop costs every step on SIMD hardware, taken or not.
var<private> pend: array<EscapeEvent, PEND>;
var<private> npend: u32;

// The objective at x as the detector sees it: value, squared gradient norm, label, in domain.
struct Measured { f: real, gn2: real, label: u32, ok: u32 }

// Evaluates at x: value, gradient norm and label into st, or marks the chain diverged.
fn evaluate(t: u32) -> bool {
    let e = eval_point();
    if (e.ok == 0u) {
        st.status = DIVERGED_DOMAIN;
        return false;
    }
    if (!finite_real(e.f) || !finite_real(e.gn2)) {
        st.status = DIVERGED_NONFINITE;
        return false;
    }
    st.f = f32(e.f);
    st.gnorm = f32(sqrt(e.gn2));
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
    // The check of the step that led here (before the re-anchor, as Stepper::begin). A step
    // redone from the top (after an escape, or paused) finds it done: m_kind is then NONE.
    monitor(t);
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

// The rare parts of step t, taken out of the common step (see fused): an escape recorded (a
// store into `pend` at a varying index, paid every step in the common path), Jin et al.'s
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
        restore_tilde();
    } else {
        st.t_noise = t;
        st.f_tilde = st.f;
        kick(chain, t);
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

// The step from x with its gradient: direction, size, update, hold. `kicked`: this step kicked
// x, so the stored state it started from is x~.
fn step_tail(chain: u32, t: u32, kicked: bool) -> u32 {
    // The step's direction: oracle, then the Gaussian perturbation, then the transform.
    direction(chain, t);
    var scale = 1.0;
    if (TRANSFORM != TRANSFORM_IDENTITY) {
        scale = transform_scale(norm_v());
    }
    let stepsize = real(schedule_eta(st.eta, t) * scale);
    // Whether the stored state changed in this step (from x~ when it kicked), bit for bit; with
    // the monitor on, the update also sums g.dx and |dx|^2 into leave_gdx, leave_dx2.
    let moved = update(stepsize, kicked);
    leave();
    // The hold (twin of kernel::hold): the step from which the stored state has not changed.
    if (moved) {
        st.t_limited = NEVER;
    } else if (st.t_limited == NEVER) {
        st.t_limited = t;
    }
    st.t = t + 1u;
    return STEP_CONTINUE;
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

// Steps a running chain from st.t towards params.t_end; whether it paused (out of event room).
fn fused(chain: u32) -> bool {
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
    monitor_begin();
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
                        trace_x(base);
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
    return paused;
}

// After a running chain's fused steps: its escapes appended and whether the driver cut its loops
// short. `leader`: the one invocation of the chain that writes what is written once per chain.
fn after_steps(paused: bool, leader: bool) {
    if (leader) {
        monitor_flush();
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

// The chain's status into the dispatch's counters (once per chain).
fn count_status() {
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
