// Batched Hessian-vector products by central differences of the objective's gradient, in f32:
// one invocation per point. Composed after the objective header, the declarations from Rust
// (src/abi.rs: struct HvpParams, the bindings hvp_params, hvp_points, hvp_vectors, hvp_out; WG)
// and the objective. hvp_points and hvp_vectors are n x D row-major; the step is
// h = 4.9e-3 (1 + ||p||) / ||v|| (about the cube root of f32's epsilon, balancing truncation
// against rounding).

var<private> x: array<f32, D>;
var<private> g: array<f32, D>;
var<private> gp: array<f32, D>;

@compute @workgroup_size(WG)
fn hvp(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    // The objective's workgroup copy of its data, before any invocation returns.
    objective_load(lid);
    workgroupBarrier();
    // 2-D dispatch: batches beyond the device's workgroups per dimension spill into y.
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= hvp_params.n) {
        return;
    }
    var pn = 0.0;
    var vn = 0.0;
    for (var k = 0u; k < D; k++) {
        pn = pn + hvp_points[i * D + k] * hvp_points[i * D + k];
        vn = vn + hvp_vectors[i * D + k] * hvp_vectors[i * D + k];
    }
    if (vn == 0.0) {
        for (var k = 0u; k < D; k++) {
            hvp_out[i * D + k] = 0.0;
        }
        return;
    }
    let h = 4.9e-3 * (1.0 + sqrt(pn)) / sqrt(vn);
    for (var k = 0u; k < D; k++) {
        x[k] = hvp_points[i * D + k] + h * hvp_vectors[i * D + k];
    }
    objective(&x, &gp);
    for (var k = 0u; k < D; k++) {
        x[k] = hvp_points[i * D + k] - h * hvp_vectors[i * D + k];
    }
    objective(&x, &g);
    for (var k = 0u; k < D; k++) {
        hvp_out[i * D + k] = (gp[k] - g[k]) / (2.0 * h);
    }
}
