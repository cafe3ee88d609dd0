// A custom objective for escapade: a chain of coupled double wells,
//   f(x) = sum_i 1/4 (x_i^2 - 1)^2 + K/2 sum_i (x_{i+1} - x_i)^2,
// with a strict saddle at 0 and minima near the corners (+-1, ..., +-1).
// Contract: D (the dimension) and struct Eval { f: f32, label: u32, ok: u32 } are provided;
// write the gradient into g and return Eval(value, label, 1u).
const K: f32 = 0.1;

fn objective(x: ptr<private, array<f32, D>>, g: ptr<private, array<f32, D>>) -> Eval {
    var f = 0.0;
    var positive = 0u;
    for (var i = 0u; i < D; i++) {
        let xi = (*x)[i];
        let s = xi * xi - 1.0;
        f = f + 0.25 * s * s;
        (*g)[i] = s * xi;
        if (xi > 0.0) {
            positive = positive + 1u;
        }
    }
    for (var i = 0u; i + 1u < D; i++) {
        let dx = (*x)[i + 1u] - (*x)[i];
        f = f + 0.5 * K * dx * dx;
        (*g)[i] = (*g)[i] - K * dx;
        (*g)[i + 1u] = (*g)[i + 1u] + K * dx;
    }
    // Label: how many coordinates are positive (which corner the chain heads for).
    return Eval(f, positive, 1u);
}
