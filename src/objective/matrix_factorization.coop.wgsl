// Symmetric matrix factorization's cooperative form (shaders/cooperative.wgsl). A lane owns the
// coordinates lo..hi of U (row-major, MF_R per row): for each row i they touch it forms
// e_ij = <U_i, U_j> - M_ij over all j, adding 2 e_ij U_jk to its coordinates (i, k) in the order
// of matrix_factorization.wgsl; a row's share of f belongs to the lane that owns its first
// coordinate.
fn objective_lanes() -> Eval {
    var f: real = 0.0;
    if (lo >= hi) {
        return Eval(f, 0u, 1u);
    }
    for (var c = lo; c < hi; c++) {
        g_set(c, 0.0);
    }
    for (var i = lo / MF_R; i * MF_R < hi; i++) {
        let own_row = i * MF_R >= lo;
        let k0 = max(i * MF_R, lo) - i * MF_R;
        let k1 = min(i * MF_R + MF_R, hi) - i * MF_R;
        for (var j = 0u; j < MF_N; j++) {
            var e: real = 0.0;
            for (var k = 0u; k < MF_R; k++) {
                e = e + x_at(i * MF_R + k) * x_at(j * MF_R + k);
            }
            e = e - real(data[i * MF_N + j]);
            if (own_row) {
                f = f + e * e;
            }
            for (var k = k0; k < k1; k++) {
                let c = i * MF_R + k;
                g_add(c, 2.0 * e * x_at(j * MF_R + k));
            }
        }
    }
    return Eval(0.5 * f, 0u, 1u);
}
