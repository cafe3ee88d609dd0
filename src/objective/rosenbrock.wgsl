// Rosenbrock; twin of src/objective/rosenbrock.rs.
fn objective(x: ptr<private, array<real, D>>, g: ptr<private, array<real, D>>) -> Eval {
    for (var i = 0u; i < D; i++) { (*g)[i] = 0.0; }
    var f: real = 0.0;
    for (var i = 0u; i + 1u < D; i++) {
        let a = (*x)[i + 1u] - (*x)[i] * (*x)[i];
        let b = 1.0 - (*x)[i];
        f = f + 100.0 * a * a + b * b;
        (*g)[i] = (*g)[i] - 400.0 * a * (*x)[i] - 2.0 * b;
        (*g)[i + 1u] = (*g)[i + 1u] + 200.0 * a;
    }
    return Eval(f, 0u, 1u);
}
