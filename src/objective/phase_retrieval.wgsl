// Phase retrieval; twin of src/objective/phase_retrieval.rs. `data` is read as vec4s: [A (m rows
// of PR_ROW floats: the D entries, zero-padded to a multiple of 4), y (m), x* (D, when planted)],
// each block starting on a vec4. The PR_* constants are generated in front of this file; after
// it, `fn objective` unrolled over D, and the workgroup copy of A's first rows (`pr_rows`, filled
// by `objective_load`); PhaseRetrieval::wgsl_objective says why.

// The value at float offset j of `data`.
fn pr_at(j: u32) -> real {
    return real(data[j / 4u][j % 4u]);
}

// 1 within 25 degrees of +-x* (|cos| >= 0.9), else 0 (always 0 without x*).
fn pr_label(x: ptr<private, array<real, D>>) -> u32 {
    if (!PR_HAS_XSTAR) {
        return 0u;
    }
    var dot: real = 0.0;
    var n2: real = 0.0;
    for (var i = 0u; i < D; i++) {
        dot = dot + (*x)[i] * pr_at(PR_XSTAR + i);
        n2 = n2 + (*x)[i] * (*x)[i];
    }
    return select(0u, 1u, dot * dot >= 0.81 * n2 && n2 > 0.0);
}

fn objective_term_grad(x: ptr<private, array<real, D>>, k: u32, acc: ptr<private, array<real, D>>) {
    var ax: real = 0.0;
    for (var i = 0u; i < D; i++) {
        ax = ax + pr_at(k * PR_ROW + i) * (*x)[i];
    }
    let w = (ax * ax - pr_at(PR_Y + k)) * ax;
    for (var i = 0u; i < D; i++) {
        (*acc)[i] = (*acc)[i] + w * pr_at(k * PR_ROW + i);
    }
}
