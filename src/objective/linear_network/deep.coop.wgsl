// The deep linear network's cooperative form (shaders/cooperative.wgsl) at depth LN_L >= 3; the
// arithmetic of deep.wgsl. Every lane runs through the rows i of Y as deep.wgsl does (the prefix
// rows u, the residual row, the back-propagated rows v[k] at each layer's output) and adds row
// i's part to its own coordinates lo..hi, a coordinate of A_L recomputing its residual; so each
// coordinate of g sums over the rows in deep.wgsl's order. Lane 0 alone counts the residuals in
// f and gives the label; the layers' norms are sums over the lanes, and lane 0 adds the
// regularizer's value.
fn ln_layer(c: u32) -> u32 {
    if (c < LN_N * LN_R) {
        return 0u;
    }
    if (c >= ln_off(LN_L - 1u)) {
        return LN_L - 1u;
    }
    return (c - LN_N * LN_R) / (LN_R * LN_R) + 1u;
}

fn objective_lanes() -> Eval {
    let last = ln_off(LN_L - 1u);
    let top = (LN_L - 2u) * LN_R;
    for (var c = lo; c < hi; c++) {
        g_set(c, 0.0);
    }
    var f: real = 0.0;
    var u: array<real, LN_U>;
    var v: array<real, LN_U>;
    for (var i = 0u; i < LN_N; i++) {
        for (var a = 0u; a < LN_R; a++) {
            u[a] = x_at(i * LN_R + a);
        }
        for (var k = 1u; k + 1u < LN_L; k++) {
            let o = ln_off(k);
            for (var b = 0u; b < LN_R; b++) {
                var s: real = 0.0;
                for (var a = 0u; a < LN_R; a++) {
                    s = s + u[(k - 1u) * LN_R + a] * x_at(o + a * LN_R + b);
                }
                u[k * LN_R + b] = s;
            }
        }
        for (var a = 0u; a < LN_R; a++) {
            v[top + a] = 0.0;
        }
        for (var j = 0u; j < LN_P; j++) {
            var res: real = 0.0;
            for (var a = 0u; a < LN_R; a++) {
                res = res + u[top + a] * x_at(last + a * LN_P + j);
            }
            res = res - real(data[i * LN_P + j]);
            if (lane == 0u) {
                f = f + res * res;
            }
            for (var a = 0u; a < LN_R; a++) {
                v[top + a] = v[top + a] + res * x_at(last + a * LN_P + j);
            }
        }
        for (var k = LN_L - 2u; k > 0u; k--) {
            let o = ln_off(k);
            for (var a = 0u; a < LN_R; a++) {
                var s: real = 0.0;
                for (var b = 0u; b < LN_R; b++) {
                    s = s + x_at(o + a * LN_R + b) * v[k * LN_R + b];
                }
                v[(k - 1u) * LN_R + a] = s;
            }
        }
        for (var c = lo; c < hi; c++) {
            let k = ln_layer(c);
            if (k == 0u) {
                if (c / LN_R == i) {
                    g_add(c, v[c % LN_R]);
                }
            } else if (k + 1u < LN_L) {
                let q = c - ln_off(k);
                g_add(c, u[(k - 1u) * LN_R + q / LN_R] * v[k * LN_R + q % LN_R]);
            } else {
                let a = (c - last) / LN_P;
                let j = (c - last) % LN_P;
                var res: real = 0.0;
                for (var b = 0u; b < LN_R; b++) {
                    res = res + u[top + b] * x_at(last + b * LN_P + j);
                }
                res = res - real(data[i * LN_P + j]);
                g_add(c, u[top + a] * res);
            }
        }
    }
    var part: array<real, LN_L>;
    for (var c = lo; c < hi; c++) {
        let xc = x_at(c);
        part[ln_layer(c)] = part[ln_layer(c)] + xc * xc;
    }
    var sum: real = 0.0;
    for (var k = 0u; k < LN_L; k++) {
        part[k] = lanes_sum(part[k]);
        sum = sum + part[k] * part[k];
    }
    for (var c = lo; c < hi; c++) {
        g_add(c, LN_KAPPA * part[ln_layer(c)] * x_at(c));
    }
    let loss = 0.5 * f;
    if (lane == 0u) {
        return Eval(loss + LN_KAPPA * 0.25 * sum, ln_label(loss), 1u);
    }
    return Eval(0.0, 0u, 1u);
}
