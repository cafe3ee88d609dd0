// The self-bounding monitor (docs/theory.md, "The monitor"); twin of src/monitor.rs (check)
// and Stepper::monitor / kernel::leave in src/kernel.rs, operation for operation in f32, so the
// chain records and the dispatch's tally agree with the CPU backend's bit for bit where the
// family sums g.dx and |dx|^2 in coordinate order (one invocation per chain).
//
// The tally of a dispatch lives in `counters`: the violations (C_VIOL_LO/HI) and the curvature
// maximum per bin (C_BINS + k, f32 bits: atomicMax on the bits of non-negative floats is their
// maximum). An atomic per step would serialise the chains on the few bins they share, so each
// chain keeps the maximum of the bin its checks fall in now and flushes it when the bin changes
// (its value crosses a power of two: rarely) and after its steps, and adds its violations once.

// The step's sums, written by the family's update when the monitor is on.
var<private> leave_gdx: real;
var<private> leave_dx2: real;
// The chain's current bin, its maximum so far in this dispatch, and its violations before it.
var<private> mon_bin: u32;
var<private> mon_max: f32;
var<private> mon_v0: u32;

// MONITOR (generated: whether the experiment runs the monitor) folds the monitor's work out of
// a kernel that does not run it, as lavapipe would pay for it every step.
fn monitor_on() -> bool {
    return MONITOR && (params.monitor & MON_ON) != 0u;
}

// Violations of the chain so far; twin of monitor::violations.
fn monitor_violations() -> u32 {
    return st.v_desc + st.v_curv + st.v_sub;
}

// The curvature bin of Df from its exponent bits; twin of monitor::bin.
fn monitor_bin(df: f32) -> u32 {
    let e = i32((bitcast<u32>(df) >> 23u) & 0xffu) - 127 + i32(BIN_SHIFT);
    return select(0u, u32(clamp(e, 0, i32(BINS) - 1)), df > 0.0);
}

// Whether the method's steps are -eta s g, the exact gradient without a Gaussian perturbation:
// the steps the descent condition applies to (Stepper::pending_kind).
const DESCENT_STEPS: bool = ORACLE == ORACLE_EXACT && PERTURB != PERTURB_GAUSSIAN;

// `next`, the stored coordinate after a step, as the step's dx = kept(next) - x sees it. Without
// the max, a driver's optimiser (Mesa's NIR, for one) may rewrite (x - s v) - x as -s v when
// the storage type adds no rounding of its own; the CPU twin takes the difference of the stored
// values, exact (Sterbenz) and 0 where the step did not move x. The max changes no finite value.
fn kept(next: real) -> real {
    return max(next, -3.40282347e38);
}

// The rho1 form the monitor checks against (KernelParams::rho1, as the CPU twin reads it): as
// rho_form (and Rho::eval_f32) computes it, with only the power that RHO1_ROOT (generated: 2 for
// p = 1/2, 4 for p = 1/4, else 0) says it takes.
fn monitor_rho1(big_f: f32) -> f32 {
    let r = params.rho1;
    let x = max(big_f - r.w, 0.0);
    var power: f32;
    switch RHO1_ROOT {
        case 2u: { power = sqrt(x); }
        case 4u: { power = sqrt(sqrt(x)); }
        default: { power = pow(x, r.z); }
    }
    return r.x + r.y * power;
}

// Before a chain's steps in a dispatch.
fn monitor_begin() {
    if (!monitor_on()) {
        return;
    }
    mon_bin = 0u;
    mon_max = 0.0;
    mon_v0 = monitor_violations();
}

// The chain's curvature maximum into the dispatch's bin (nothing to do for 0: bins start at 0).
fn monitor_spill() {
    if (mon_max > 0.0) {
        atomicMax(&counters[C_BINS + mon_bin], bitcast<u32>(mon_max));
    }
}

// Curvature `c` found in bin `b` by a check that was made (`made`).
fn monitor_note(made: bool, b: u32, c: f32) {
    let moved = made && b != mon_bin;
    if (moved) {
        monitor_spill();
    }
    mon_bin = select(mon_bin, b, moved);
    mon_max = select(mon_max, 0.0, moved);
    mon_max = select(mon_max, max(mon_max, c), made);
}

// After a chain's steps (its leader): its bin maximum and its new violations into the counters.
fn monitor_flush() {
    if (!monitor_on()) {
        return;
    }
    monitor_spill();
    let dv = monitor_violations() - mon_v0;
    if (dv > 0u) {
        let before = atomicAdd(&counters[C_VIOL_LO], dv);
        if (before > 0xffffffffu - dv) {
            atomicAdd(&counters[C_VIOL_HI], 1u);
        }
    }
}

// The check at step t, the value just recorded in st.f; twin of Stepper::monitor: under a fixed
// step, the anchor f(x0) and rho1 there at t = 0.
fn monitor(t: u32) {
    if (!monitor_on()) {
        return;
    }
    let start = t == 0u && STEP_RULE != RULE_SELF_BOUNDING;
    st.f_anchor = select(st.f_anchor, st.f, start);
    st.ell = select(st.ell, monitor_rho1(st.f), start && (params.monitor & MON_RHO1) != 0u);
    monitor_check(t);
}

// Twin of monitor::check (secant, descent_ratio, sublevel_ratio, leaves_sublevel inlined in the
// same order of operations). Branch-free but for a rare spill: every ratio is computed, then
// what applies selected (lavapipe pays for a branch in the step loop whether taken or not, and
// on a GPU the chains of a wave take the same path anyway). A step without a pending check
// (`made` false) changes nothing but what its values would have given, which is dropped.
fn monitor_check(t: u32) {
    let kind = st.m_kind;
    let made = kind != PENDING_NONE;
    st.m_kind = PENDING_NONE;
    let f0 = st.m_f;
    let f1 = st.f;
    let gdx = st.m_gdx;
    let dx2 = st.m_dx2;
    let q = f1 - f0 - gdx;
    let tol = TOL_REL * (abs(f0) + abs(f1) + abs(gdx) + sqrt(max(abs(f0), abs(f1)) * abs(st.f_anchor)));
    let curvature = select(0.0, 2.0 * (abs(q) - tol) / dx2, abs(q) > RESOLVED * tol);
    let top = max(f0, f1);
    let b = monitor_bin(max(top - params.f_star, 0.0));
    // Which conditions apply, and their ratios. Whether a method's steps are descent steps, and
    // whether its rule is the self-bounding one (the only one with a sublevel check), is known
    // when the kernel is composed: the ratios that cannot apply fold away.
    let rho1 = made && (params.monitor & MON_RHO1) != 0u;
    let descent = DESCENT_STEPS && rho1 && kind == PENDING_DESCENT && st.ell > 0.0;
    let sublevel = STEP_RULE == RULE_SELF_BOUNDING && made && (params.monitor & MON_SUBLEVEL) != 0u;
    let r_curv = curvature / monitor_rho1(top);
    var r_desc = 0.0;
    if (DESCENT_STEPS) {
        // 2 (q - tol) / dx2 is the curvature to the bit where q > 0 (monitor::descent_ratio).
        r_desc = select(0.0, curvature / st.ell, q > RESOLVED * tol);
    }
    var r_sub = 0.0;
    if (STEP_RULE == RULE_SELF_BOUNDING) {
        r_sub = (f1 - params.f_star) / max(st.f_anchor - params.f_star, 1.17549435e-38);
    }
    let v_curv = rho1 && r_curv > 1.0;
    let v_desc = descent && r_desc > 1.0;
    let v_sub = sublevel && f1 > st.f_anchor + TOL_REL * (abs(st.f_anchor) + abs(f1));
    var worst = 0.0;
    worst = select(worst, max(worst, r_curv), rho1);
    worst = select(worst, max(worst, r_desc), descent);
    worst = select(worst, max(worst, r_sub), sublevel);
    let violated = select(0u, COND_CURVATURE, v_curv) | select(0u, COND_DESCENT, v_desc) | select(0u, COND_SUBLEVEL, v_sub);
    st.n_checked = st.n_checked + u32(made);
    st.n_desc = st.n_desc + u32(descent);
    st.v_curv = st.v_curv + u32(v_curv);
    st.v_desc = st.v_desc + u32(v_desc);
    st.v_sub = st.v_sub + u32(v_sub);
    st.worst = select(st.worst, max(st.worst, worst), made);
    let first = violated != 0u && st.v_t == NEVER;
    st.v_t = select(st.v_t, t - 1u, first);
    st.v_kind = select(st.v_kind, violated, first);
    st.v_f = select(st.v_f, f1, first);
    st.v_ratio = select(st.v_ratio, worst, first);
    // The safeguard: halve until eta c <= 1 (monitor::check says why), at most MAX_HALVINGS in
    // all; twin of monitor::halvings_needed, a closed form (no loop in the step loop: lavapipe
    // counts every iteration against its limit).
    let p = curvature * st.eta;
    let pb = bitcast<u32>(p);
    let need = select(0u, ((pb >> 23u) & 0xffu) - 127u + select(0u, 1u, (pb & 0x7fffffu) != 0u), p > 1.0);
    let k = select(0u, min(need, MAX_HALVINGS - st.halvings), violated != 0u && (params.monitor & MON_HALVE) != 0u);
    st.eta = ldexp(st.eta, -i32(k));
    st.halvings = st.halvings + k;
    monitor_note(made, b, curvature);
}

// What the step just taken leaves for its check; twin of kernel::leave (descent applies where
// the direction is the exact gradient without a Gaussian perturbation, Stepper::pending_kind).
fn leave() {
    if (!monitor_on()) {
        return;
    }
    let kind = select(PENDING_STEP, PENDING_DESCENT, DESCENT_STEPS);
    let dx2 = f32(leave_dx2);
    st.m_kind = select(PENDING_NONE, kind, dx2 > 0.0);
    st.m_f = st.f;
    st.m_gdx = f32(leave_gdx);
    st.m_dx2 = dx2;
}
