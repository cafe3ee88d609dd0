// The bare update loop x <- x - ETA grad f(x), STEPS times, one invocation per point: the
// baseline the ensemble kernel's full step (detector, perturbation, bookkeeping, events) is
// measured against (benches/throughput.rs). Composed like hvp.wgsl, with ETA and STEPS in front;
// hvp_points holds the starting points and hvp_out receives the end points (n x D row-major).

var<private> x: array<f32, D>;
var<private> g: array<f32, D>;

@compute @workgroup_size(WG)
fn bare(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    // The objective's workgroup copy of its data, before any invocation returns.
    objective_load(lid);
    workgroupBarrier();
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= hvp_params.n) {
        return;
    }
    for (var k = 0u; k < D; k++) {
        x[k] = hvp_points[i * D + k];
    }
    for (var t = 0u; t < STEPS; t++) {
        objective(&x, &g);
        for (var k = 0u; k < D; k++) {
            x[k] = x[k] - ETA * g[k];
        }
    }
    for (var k = 0u; k < D; k++) {
        hvp_out[i * D + k] = x[k];
    }
}
