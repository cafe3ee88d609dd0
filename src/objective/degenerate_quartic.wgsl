// Degenerate quartic 1/4 (x^2 - y^2)^2; twin of src/objective/degenerate_quartic.rs.
fn objective(x: ptr<private, array<real, D>>, g: ptr<private, array<real, D>>) -> Eval {
    let s = (*x)[0] * (*x)[0] - (*x)[1] * (*x)[1];
    (*g)[0] = (*x)[0] * s;
    (*g)[1] = -(*x)[1] * s;
    return Eval(0.25 * s * s, 0u, 1u);
}
