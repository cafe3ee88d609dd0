// Toy saddle f(x, y) = x^2/2 + y^4/4 - y^2/2; twin of src/objective/toy_saddle.rs.
fn objective(x: ptr<private, array<real, D>>, g: ptr<private, array<real, D>>) -> Eval {
    let a = (*x)[0];
    let b = (*x)[1];
    let b2 = b * b;
    (*g)[0] = a;
    (*g)[1] = b2 * b - b;
    let f = 0.5 * a * a + 0.25 * b2 * b2 - 0.5 * b2;
    var label = 1u;
    if (3.0 * b2 < 1.0) {
        label = 0u;
    }
    return Eval(f, label, 1u);
}
