// Deep linear network 1/2 ||A_1 ... A_L - Y||_F^2 + kappa/4 sum_l ||A_l||^4 at depth LN_L >= 3;
// twin of LinearNetwork::eval (src/objective/linear_network/mod.rs), operation for operation.
// data = Y (n x p, row-major); x = [A_1 (n x r); A_2 .. A_{L-1} (r x r); A_L (r x p)]. Row i of
// Y at a time: u holds row i of each prefix A_1 ... A_{k+1} (k = 0 .. L-2), v the residual row
// propagated back to a layer's output, w the next such row.
fn objective(x: ptr<private, array<real, D>>, g: ptr<private, array<real, D>>) -> Eval {
    for (var i = 0u; i < D; i++) {
        (*g)[i] = 0.0;
    }
    let last = ln_off(LN_L - 1u);
    let top = (LN_L - 2u) * LN_R;
    var f: real = 0.0;
    var u: array<real, LN_U>;
    var v: array<real, LN_R>;
    var w: array<real, LN_R>;
    for (var i = 0u; i < LN_N; i++) {
        for (var a = 0u; a < LN_R; a++) {
            u[a] = (*x)[i * LN_R + a];
        }
        for (var k = 1u; k + 1u < LN_L; k++) {
            let o = ln_off(k);
            for (var b = 0u; b < LN_R; b++) {
                var s: real = 0.0;
                for (var a = 0u; a < LN_R; a++) {
                    s = s + u[(k - 1u) * LN_R + a] * (*x)[o + a * LN_R + b];
                }
                u[k * LN_R + b] = s;
            }
        }
        for (var a = 0u; a < LN_R; a++) {
            v[a] = 0.0;
        }
        for (var j = 0u; j < LN_P; j++) {
            var res: real = 0.0;
            for (var a = 0u; a < LN_R; a++) {
                res = res + u[top + a] * (*x)[last + a * LN_P + j];
            }
            res = res - real(data[i * LN_P + j]);
            f = f + res * res;
            for (var a = 0u; a < LN_R; a++) {
                (*g)[last + a * LN_P + j] = (*g)[last + a * LN_P + j] + u[top + a] * res;
                v[a] = v[a] + res * (*x)[last + a * LN_P + j];
            }
        }
        for (var k = LN_L - 2u; k > 0u; k--) {
            let o = ln_off(k);
            for (var a = 0u; a < LN_R; a++) {
                var s: real = 0.0;
                for (var b = 0u; b < LN_R; b++) {
                    (*g)[o + a * LN_R + b] = (*g)[o + a * LN_R + b] + u[(k - 1u) * LN_R + a] * v[b];
                    s = s + (*x)[o + a * LN_R + b] * v[b];
                }
                w[a] = s;
            }
            v = w;
        }
        for (var b = 0u; b < LN_R; b++) {
            (*g)[i * LN_R + b] = (*g)[i * LN_R + b] + v[b];
        }
    }
    var sum: real = 0.0;
    for (var k = 0u; k < LN_L; k++) {
        var n2: real = 0.0;
        for (var c = ln_off(k); c < ln_off(k + 1u); c++) {
            n2 = n2 + (*x)[c] * (*x)[c];
        }
        for (var c = ln_off(k); c < ln_off(k + 1u); c++) {
            (*g)[c] = (*g)[c] + LN_KAPPA * n2 * (*x)[c];
        }
        sum = sum + n2 * n2;
    }
    let loss = 0.5 * f;
    return Eval(loss + LN_KAPPA * 0.25 * sum, ln_label(loss), 1u);
}
