// Rosenbrock's cooperative form (shaders/cooperative.wgsl): coordinate i's gradient gathers the
// terms i - 1 and i in the order rosenbrock.wgsl adds them; a lane's share of f is its terms i.
fn objective_lanes() -> Eval {
    var f: real = 0.0;
    for (var i = lo; i < hi; i++) {
        let xi = x_at(i);
        var gi: real = 0.0;
        if (i > 0u) {
            let xh = x_at(i - 1u);
            gi = gi + 200.0 * (xi - xh * xh);
        }
        if (i + 1u < D) {
            let a = x_at(i + 1u) - xi * xi;
            let b = 1.0 - xi;
            f = f + 100.0 * a * a + b * b;
            gi = gi - 400.0 * a * xi - 2.0 * b;
        }
        g_set(i, gi);
    }
    return Eval(f, 0u, 1u);
}
