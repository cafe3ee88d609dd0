// The method's scalar pieces, shared by every kernel family: the self-bounding rule (Jin et al.'s
// parameters at an anchor value), the transforms' factor and the step-size schedules. They read
// the chain's record `st` and `params`, never a coordinate; twins in src/method.

fn key() -> vec2<u32> {
    return vec2<u32>(params.seed_lo, params.seed_hi);
}

// rho(F) = a + b max(F - fmin, 0)^p; twin of Rho::eval_f32.
fn rho_form(r: vec4<f32>, big_f: f32) -> f32 {
    let x = max(big_f - r.w, 0.0);
    var power = pow(x, r.z);
    if (r.z == 0.5) {
        power = sqrt(x);
    } else if (r.z == 0.25) {
        power = sqrt(sqrt(x));
    }
    return r.x + r.y * power;
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
    // The safeguard's halvings outlive a re-anchor (ldexp is exact, as monitor::halved).
    st.eta = ldexp(st.eta, -i32(min(st.halvings, 149u)));
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
    // The monitor's anchor and assumed smoothness (ChainParams::f_anchor, ell).
    st.f_anchor = big_f;
    st.ell = l;
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
