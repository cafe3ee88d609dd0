// Symmetric matrix factorization's cooperative form (shaders/cooperative.wgsl). A lane owns the
// coordinates lo..hi of U (row-major, MF_R per row): for each row i they touch it forms
// e_ij = <U_i, U_j> - M_ij over all j, adding 2 e_ij U_jk to its coordinates (i, k), j in order
// as matrix_factorization.wgsl; a row's share of f belongs to the lane that owns its first
// coordinate. With lanes (a workgroup per chain) the rows U_j come in chunks through workgroup
// memory, where every lane reads the same address at once, instead of each lane gathering them
// from storage; the lane's gradient and its rows of U sit in private arrays.
const MF_CHUNK: u32 = max(1024u / MF_R, 1u);
var<workgroup> mf_u: array<real, MF_CHUNK * MF_R>;

fn objective_lanes() -> Eval {
    var f: real = 0.0;
    if (LANES == 1u) {
        return mf_one_lane();
    }
    var acc: array<real, CH>;
    for (var c0 = 0u; c0 < MF_N; c0 += MF_CHUNK) {
        let rows = min(MF_CHUNK, MF_N - c0);
        for (var q = lane; q < rows * MF_R; q += WG) {
            mf_u[q] = x_at(c0 * MF_R + q);
        }
        workgroupBarrier();
        for (var i = lo / MF_R; i * MF_R < hi; i++) {
            let own_row = i * MF_R >= lo;
            let k0 = max(i * MF_R, lo) - i * MF_R;
            let k1 = min(i * MF_R + MF_R, hi) - i * MF_R;
            var ui: array<real, MF_R>;
            for (var k = 0u; k < MF_R; k++) {
                ui[k] = x_at(i * MF_R + k);
            }
            for (var j = 0u; j < rows; j++) {
                var e: real = 0.0;
                for (var k = 0u; k < MF_R; k++) {
                    e = e + ui[k] * mf_u[j * MF_R + k];
                }
                e = e - real(data[i * MF_N + c0 + j]);
                if (own_row) {
                    f = f + e * e;
                }
                for (var k = k0; k < k1; k++) {
                    let a = i * MF_R + k - lo;
                    acc[a] = acc[a] + 2.0 * e * mf_u[j * MF_R + k];
                }
            }
        }
        workgroupBarrier();
    }
    for (var c = lo; c < hi; c++) {
        g_set(c, acc[c - lo]);
    }
    return Eval(0.5 * f, 0u, 1u);
}

// One invocation per chain (the streamed family): workgroup memory is shared by the chains of a
// workgroup, so U_j comes from storage.
fn mf_one_lane() -> Eval {
    for (var c = 0u; c < D; c++) {
        g_set(c, 0.0);
    }
    var f: real = 0.0;
    for (var i = 0u; i < MF_N; i++) {
        for (var j = 0u; j < MF_N; j++) {
            var e: real = 0.0;
            for (var k = 0u; k < MF_R; k++) {
                e = e + x_at(i * MF_R + k) * x_at(j * MF_R + k);
            }
            e = e - real(data[i * MF_N + j]);
            f = f + e * e;
            for (var k = 0u; k < MF_R; k++) {
                g_add(i * MF_R + k, 2.0 * e * x_at(j * MF_R + k));
            }
        }
    }
    return Eval(0.5 * f, 0u, 1u);
}
