// The quartic saddle's cooperative form (shaders/cooperative.wgsl): each lane its coordinates, as
// quartic.wgsl does for all of them. `data` holds each l_i as two f32, its rounding and the rest
// (Quartic::data_lanes).
fn quartic_eig(i: u32) -> real {
    return real(data[2u * i]) + real(data[2u * i + 1u]);
}

fn objective_lanes() -> Eval {
    var f: real = 0.0;
    var label = 0u;
    for (var i = lo; i < hi; i++) {
        let xi = x_at(i);
        let l = quartic_eig(i);
        let x2 = xi * xi;
        g_set(i, l * xi + x2 * xi);
        f = f + 0.5 * l * x2 + 0.25 * x2 * x2;
        if (l < 0.0 && 3.0 * x2 >= -l) {
            label = 1u;
        }
    }
    return Eval(f, label, 1u);
}
