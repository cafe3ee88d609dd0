// Phase retrieval; twin of src/objective/phase_retrieval.rs. data = [A (m x D, row-major), y (m),
// x* (D, when planted)]; PR_* constants are generated in front of this file.
fn objective(x: ptr<private, array<real, D>>, g: ptr<private, array<real, D>>) -> Eval {
    for (var i = 0u; i < D; i++) {
        (*g)[i] = 0.0;
    }
    var f: real = 0.0;
    for (var k = 0u; k < PR_M; k++) {
        var ax: real = 0.0;
        for (var i = 0u; i < D; i++) {
            ax = ax + real(data[k * D + i]) * (*x)[i];
        }
        let r = ax * ax - real(data[PR_M * D + k]);
        f = f + r * r;
        let w = r * ax;
        for (var i = 0u; i < D; i++) {
            (*g)[i] = (*g)[i] + w * real(data[k * D + i]);
        }
    }
    for (var i = 0u; i < D; i++) {
        (*g)[i] = (*g)[i] * PR_INV_M;
    }
    var label = 0u;
    if (PR_HAS_XSTAR) {
        var dot: real = 0.0;
        var n2: real = 0.0;
        for (var i = 0u; i < D; i++) {
            dot = dot + (*x)[i] * real(data[PR_M * D + PR_M + i]);
            n2 = n2 + (*x)[i] * (*x)[i];
        }
        if (dot * dot >= 0.81 * n2 && n2 > 0.0) {
            label = 1u;
        }
    }
    return Eval(f * PR_INV_4M, label, 1u);
}

fn objective_term_grad(x: ptr<private, array<real, D>>, k: u32, acc: ptr<private, array<real, D>>) {
    var ax: real = 0.0;
    for (var i = 0u; i < D; i++) {
        ax = ax + real(data[k * D + i]) * (*x)[i];
    }
    let w = (ax * ax - real(data[PR_M * D + k])) * ax;
    for (var i = 0u; i < D; i++) {
        (*acc)[i] = (*acc)[i] + w * real(data[k * D + i]);
    }
}
