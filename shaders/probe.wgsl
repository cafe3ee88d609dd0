// Probe of the random stream: one Philox block (and its two Box-Muller pairs) per invocation, so
// tests can hold the WGSL stream against src/rng.rs. Appended to rng.wgsl.
struct ProbeOut {
    words: vec4<u32>,
    normals: vec4<f32>,
}

@group(0) @binding(0) var<storage, read> probe_in: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> probe_out: array<ProbeOut>;
@group(0) @binding(2) var<uniform> probe_key: vec4<u32>;

@compute @workgroup_size(64)
fn philox_probe(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= arrayLength(&probe_in)) {
        return;
    }
    let w = philox(probe_in[i], probe_key.xy);
    let p = normal_pair(w.x, w.y);
    let q = normal_pair(w.z, w.w);
    probe_out[i] = ProbeOut(w, vec4<f32>(p, q));
}
