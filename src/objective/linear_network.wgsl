// Two-layer linear network 1/2 ||W H - Y||_F^2 + kappa/4 (||W||^4 + ||H||^4); twin of
// src/objective/linear_network.rs. data = Y (n x p, row-major); x = [W (n x r); H (r x p)].
fn objective(x: ptr<private, array<real, D>>, g: ptr<private, array<real, D>>) -> Eval {
    let off = LN_N * LN_R;
    for (var i = 0u; i < D; i++) {
        (*g)[i] = 0.0;
    }
    var f: real = 0.0;
    for (var i = 0u; i < LN_N; i++) {
        for (var j = 0u; j < LN_P; j++) {
            var res: real = 0.0;
            for (var k = 0u; k < LN_R; k++) {
                res = res + (*x)[i * LN_R + k] * (*x)[off + k * LN_P + j];
            }
            res = res - real(data[i * LN_P + j]);
            f = f + res * res;
            for (var k = 0u; k < LN_R; k++) {
                (*g)[i * LN_R + k] = (*g)[i * LN_R + k] + res * (*x)[off + k * LN_P + j];
                (*g)[off + k * LN_P + j] = (*g)[off + k * LN_P + j] + (*x)[i * LN_R + k] * res;
            }
        }
    }
    var wn2: real = 0.0;
    var hn2: real = 0.0;
    for (var i = 0u; i < off; i++) {
        wn2 = wn2 + (*x)[i] * (*x)[i];
    }
    for (var i = off; i < D; i++) {
        hn2 = hn2 + (*x)[i] * (*x)[i];
    }
    for (var i = 0u; i < off; i++) {
        (*g)[i] = (*g)[i] + LN_KAPPA * wn2 * (*x)[i];
    }
    for (var i = off; i < D; i++) {
        (*g)[i] = (*g)[i] + LN_KAPPA * hn2 * (*x)[i];
    }
    return Eval(0.5 * f + LN_KAPPA * 0.25 * (wn2 * wn2 + hn2 * hn2), 0u, 1u);
}
