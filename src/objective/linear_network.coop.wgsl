// The linear network's cooperative form (shaders/cooperative.wgsl). A lane owns coordinates
// lo..hi of x = [W; H]: a coordinate (i, k) of W gathers sum_j res_ij H_kj, one (k, j) of H
// sum_i W_ik res_ij, in the orders of linear_network.wgsl; row i's residuals count in f once,
// for the lane holding W_i0; the norms of W and H are sums over the lanes, and lane 0 adds the
// regularizer's value.
fn ln_res(i: u32, j: u32) -> real {
    let off = LN_N * LN_R;
    var res: real = 0.0;
    for (var q = 0u; q < LN_R; q++) {
        res = res + x_at(i * LN_R + q) * x_at(off + q * LN_P + j);
    }
    return res - real(data[i * LN_P + j]);
}

fn objective_lanes() -> Eval {
    let off = LN_N * LN_R;
    var f: real = 0.0;
    var wn2: real = 0.0;
    var hn2: real = 0.0;
    for (var c = lo; c < hi; c++) {
        let xc = x_at(c);
        var gc: real = 0.0;
        if (c < off) {
            let i = c / LN_R;
            let k = c % LN_R;
            for (var j = 0u; j < LN_P; j++) {
                let res = ln_res(i, j);
                if (k == 0u) {
                    f = f + res * res;
                }
                gc = gc + res * x_at(off + k * LN_P + j);
            }
            wn2 = wn2 + xc * xc;
        } else {
            let k = (c - off) / LN_P;
            let j = (c - off) % LN_P;
            for (var i = 0u; i < LN_N; i++) {
                gc = gc + x_at(i * LN_R + k) * ln_res(i, j);
            }
            hn2 = hn2 + xc * xc;
        }
        g_set(c, gc);
    }
    wn2 = lanes_sum(wn2);
    hn2 = lanes_sum(hn2);
    for (var c = lo; c < hi; c++) {
        g_add(c, LN_KAPPA * select(hn2, wn2, c < off) * x_at(c));
    }
    f = 0.5 * f;
    if (lane == 0u) {
        f = f + LN_KAPPA * 0.25 * (wn2 * wn2 + hn2 * hn2);
    }
    return Eval(f, 0u, 1u);
}
