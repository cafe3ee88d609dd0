// Batched Hessian-vector products by central differences of the objective's gradient, in f32:
// one invocation per point. Composed after the objective header and the objective.
// hvp_points and hvp_vectors are n x D row-major; the step is h = 4.9e-3 (1 + ||p||) / ||v||
// (about the cube root of f32's epsilon, balancing truncation against rounding).

struct HvpParams {
    n: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> hvp_params: HvpParams;
@group(0) @binding(1) var<storage, read> hvp_points: array<f32>;
@group(0) @binding(2) var<storage, read> hvp_vectors: array<f32>;
@group(0) @binding(3) var<storage, read_write> hvp_out: array<f32>;

var<private> x: array<f32, D>;
var<private> g: array<f32, D>;
var<private> gp: array<f32, D>;

@compute @workgroup_size(64)
fn hvp(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
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
