// Quartic saddle f = 1/2 sum l_i x_i^2 + 1/4 sum x_i^4; twin of src/objective/quartic.rs.
// QUARTIC_EIG (the l_i) is generated in front of this file.
fn objective(x: ptr<private, array<real, D>>, g: ptr<private, array<real, D>>) -> Eval {
    var f: real = 0.0;
    var label = 0u;
    for (var i = 0u; i < D; i++) {
        let xi = (*x)[i];
        let l = QUARTIC_EIG[i];
        let x2 = xi * xi;
        (*g)[i] = l * xi + x2 * xi;
        f = f + 0.5 * l * x2 + 0.25 * x2 * x2;
        if (l < 0.0 && 3.0 * x2 >= -l) {
            label = 1u;
        }
    }
    return Eval(f, label, 1u);
}
