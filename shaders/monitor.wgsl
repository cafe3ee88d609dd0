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

fn monitor_on() -> bool {
    return (params.monitor & MON_ON) != 0u;
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

// `next`, the stored coordinate after a step, as the step's dx = kept(next) - x sees it. Without
// the max, a driver's optimiser (Mesa's NIR, for one) may rewrite (x - s v) - x as -s v when
// the storage type adds no rounding of its own; the CPU twin takes the difference of the stored
// values, exact (Sterbenz) and 0 where the step did not move x. The max changes no finite value.
fn kept(next: real) -> real {
    return max(next, -3.40282347e38);
}

// The rho1 form the monitor checks against (KernelParams::rho1, as the CPU twin reads it).
fn monitor_rho1(big_f: f32) -> f32 {
    return rho_form(params.rho1, big_f);
}

// Before a chain's steps in a dispatch.
fn monitor_begin() {
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

// Curvature `c` found in bin `b`.
fn monitor_note(b: u32, c: f32) {
    if (b != mon_bin) {
        monitor_spill();
        mon_bin = b;
        mon_max = 0.0;
    }
    mon_max = max(mon_max, c);
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
    if (t == 0u && STEP_RULE != RULE_SELF_BOUNDING) {
        st.f_anchor = st.f;
        if ((params.monitor & MON_RHO1) != 0u) {
            st.ell = monitor_rho1(st.f);
        }
    }
    monitor_check(t);
}

// Twin of monitor::check (secant, descent_ratio, sublevel_ratio, leaves_sublevel inlined in the
// same order of operations).
fn monitor_check(t: u32) {
    let kind = st.m_kind;
    if (kind == PENDING_NONE) {
        return;
    }
    st.m_kind = PENDING_NONE;
    let f0 = st.m_f;
    let f1 = st.f;
    let gdx = st.m_gdx;
    let dx2 = st.m_dx2;
    let q = f1 - f0 - gdx;
    let tol = TOL_REL * (abs(f0) + abs(f1) + abs(gdx));
    let curvature = 2.0 * max(abs(q) - tol, 0.0) / dx2;
    let top = max(f0, f1);
    let b = monitor_bin(max(top - params.f_star, 0.0));
    st.n_checked = st.n_checked + 1u;
    var violated = 0u;
    var worst = 0.0;
    if ((params.monitor & MON_RHO1) != 0u) {
        let ratio = curvature / monitor_rho1(top);
        worst = max(worst, ratio);
        if (ratio > 1.0) {
            violated = violated | COND_CURVATURE;
            st.v_curv = st.v_curv + 1u;
        }
        if (kind == PENDING_DESCENT && st.ell > 0.0) {
            st.n_desc = st.n_desc + 1u;
            let ratio = 2.0 * max(q - tol, 0.0) / dx2 / st.ell;
            worst = max(worst, ratio);
            if (ratio > 1.0) {
                violated = violated | COND_DESCENT;
                st.v_desc = st.v_desc + 1u;
            }
        }
    }
    if ((params.monitor & MON_SUBLEVEL) != 0u) {
        worst = max(worst, (f1 - params.f_star) / max(st.f_anchor - params.f_star, 1.17549435e-38));
        if (f1 > st.f_anchor + TOL_REL * (abs(st.f_anchor) + abs(f1))) {
            violated = violated | COND_SUBLEVEL;
            st.v_sub = st.v_sub + 1u;
        }
    }
    st.worst = max(st.worst, worst);
    if (violated != 0u) {
        if (st.v_t == NEVER) {
            st.v_t = t - 1u;
            st.v_kind = violated;
            st.v_f = f1;
            st.v_ratio = worst;
        }
        if ((params.monitor & MON_HALVE) != 0u) {
            st.eta = st.eta * 0.5;
            st.halvings = st.halvings + 1u;
        }
    }
    monitor_note(b, curvature);
}

// What the step just taken leaves for its check; twin of kernel::leave (descent applies where
// the direction is the exact gradient without a Gaussian perturbation, Stepper::pending_kind).
fn leave() {
    if (!monitor_on()) {
        return;
    }
    let kind = select(PENDING_STEP, PENDING_DESCENT, ORACLE == ORACLE_EXACT && PERTURB != PERTURB_GAUSSIAN);
    let dx2 = f32(leave_dx2);
    st.m_kind = select(PENDING_NONE, kind, dx2 > 0.0);
    st.m_f = st.f;
    st.m_gdx = f32(leave_gdx);
    st.m_dx2 = dx2;
}
