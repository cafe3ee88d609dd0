// Symmetric matrix factorization 1/2 ||U U^T - M||_F^2; twin of
// src/objective/matrix_factorization.rs. data = M (n x n, row-major); x = U (n x r, row-major).
fn objective(x: ptr<private, array<real, D>>, g: ptr<private, array<real, D>>) -> Eval {
    for (var i = 0u; i < D; i++) {
        (*g)[i] = 0.0;
    }
    var f: real = 0.0;
    for (var i = 0u; i < MF_N; i++) {
        for (var j = 0u; j < MF_N; j++) {
            var e: real = 0.0;
            for (var k = 0u; k < MF_R; k++) {
                e = e + (*x)[i * MF_R + k] * (*x)[j * MF_R + k];
            }
            e = e - real(data[i * MF_N + j]);
            f = f + e * e;
            for (var k = 0u; k < MF_R; k++) {
                (*g)[i * MF_R + k] = (*g)[i * MF_R + k] + 2.0 * e * (*x)[j * MF_R + k];
            }
        }
    }
    return Eval(0.5 * f, 0u, 1u);
}
