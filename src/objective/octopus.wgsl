// Octopus of Du et al. 2017; twin of src/objective/octopus.rs (see there for the formulas).
// OCT_* constants are generated in front of this file.
fn oct_g1(a: real) -> vec2<real> {
    let s = a - OCT_TAU;
    let s2 = s * s;
    let v = -OCT_GAMMA * a * a + OCT_K3 * s2 * s / (3.0 * OCT_TAU) + OCT_K4 * s2 * s2 / (2.0 * OCT_TAU * OCT_TAU);
    let dv = -2.0 * OCT_GAMMA * a + OCT_K3 * s2 / OCT_TAU + 2.0 * OCT_K4 * s2 * s / (OCT_TAU * OCT_TAU);
    return vec2(v, dv);
}

fn oct_g2(a: real) -> vec2<real> {
    let s = (a - 2.0 * OCT_TAU) / OCT_TAU;
    let s2 = s * s;
    let v = -OCT_GAMMA - OCT_LG * (10.0 * s2 * s + 15.0 * s2 * s2 + 6.0 * s2 * s2 * s);
    let dv = -OCT_LG * (30.0 * s2 + 60.0 * s2 * s + 30.0 * s2 * s2) / OCT_TAU;
    return vec2(v, dv);
}

fn objective(x: ptr<private, array<real, D>>, g: ptr<private, array<real, D>>) -> Eval {
    var i = D;
    for (var j = 0u; j < D; j++) {
        if (abs((*x)[j]) <= 2.0 * OCT_TAU) {
            i = j;
            break;
        }
    }
    for (var j = 0u; j < D; j++) {
        let v = (*x)[j];
        if (!finite_real(v) || (j > i && abs(v) > OCT_TAU)) {
            return Eval(0.0, 0u, 0u);
        }
    }
    var f: real = 0.0;
    for (var j = 0u; j < i; j++) {
        let dv = abs((*x)[j]) - 4.0 * OCT_TAU;
        f = f + OCT_L * dv * dv;
        (*g)[j] = 2.0 * OCT_L * dv * sign((*x)[j]);
    }
    if (i == D) {
        return Eval(f - real(D) * OCT_NU, D + 1u, 1u);
    }
    let xi = (*x)[i];
    let a = abs(xi);
    var tail = i + 1u;
    if (a <= OCT_TAU) {
        f = f - OCT_GAMMA * xi * xi;
        (*g)[i] = -2.0 * OCT_GAMMA * xi;
    } else {
        let w1 = oct_g1(a);
        f = f + w1.x;
        (*g)[i] = w1.y * sign(xi);
        if (i + 1u < D) {
            let b = (*x)[i + 1u];
            let w2 = oct_g2(a);
            f = f + w2.x * b * b;
            (*g)[i] = (*g)[i] + w2.y * b * b * sign(xi);
            (*g)[i + 1u] = 2.0 * w2.x * b;
            tail = i + 2u;
        }
    }
    for (var j = tail; j < D; j++) {
        let v = (*x)[j];
        f = f + OCT_L * v * v;
        (*g)[j] = 2.0 * OCT_L * v;
    }
    return Eval(f - real(i) * OCT_NU, i + 1u, 1u);
}
