// The octopus's cooperative form (shaders/cooperative.wgsl), after octopus.wgsl (its oct_g1 and
// oct_g2): the chain's region i, the first coordinate within 2 tau, is the smallest of the
// lanes' first ones; then each lane its coordinates as `objective` does them (coordinate i + 1
// belongs to the i-term when |x_i| > tau), and lane 0 the -i nu.
fn objective_lanes() -> Eval {
    var first = D;
    for (var j = lo; j < hi; j++) {
        if (first == D && abs(x_at(j)) <= 2.0 * OCT_TAU) {
            first = j;
        }
    }
    let i = lanes_min(first);
    var ok = 1u;
    var f: real = 0.0;
    for (var j = lo; j < hi; j++) {
        let v = x_at(j);
        if (!finite_real(v) || (j > i && abs(v) > OCT_TAU)) {
            ok = 0u;
        }
        if (j < i) {
            let dv = abs(v) - 4.0 * OCT_TAU;
            f = f + OCT_L * dv * dv;
            g_set(j, 2.0 * OCT_L * dv * sign(v));
        } else if (j == i) {
            let a = abs(v);
            if (a <= OCT_TAU) {
                f = f - OCT_GAMMA * v * v;
                g_set(j, -2.0 * OCT_GAMMA * v);
            } else {
                let w1 = oct_g1(a);
                f = f + w1.x;
                var gi = w1.y * sign(v);
                if (i + 1u < D) {
                    let b = x_at(i + 1u);
                    let w2 = oct_g2(a);
                    f = f + w2.x * b * b;
                    gi = gi + w2.y * b * b * sign(v);
                }
                g_set(j, gi);
            }
        } else if (j == i + 1u && abs(x_at(i)) > OCT_TAU) {
            g_set(j, 2.0 * oct_g2(abs(x_at(i))).x * v);
        } else {
            f = f + OCT_L * v * v;
            g_set(j, 2.0 * OCT_L * v);
        }
    }
    if (lane == 0u) {
        f = f - real(i) * OCT_NU;
    }
    return Eval(f, i + 1u, ok);
}
