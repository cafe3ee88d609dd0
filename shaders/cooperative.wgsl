// The kernel families whose chains live in storage, for any dimension. The chain's point x,
// gradient g, direction v and x~ live in the storage buffer `work`, four vectors of DP (D
// rounded up to 4) reals per chain. LANES invocations (lanes) step one chain:
// - LANES > 1 (the cooperative family, a workgroup per chain): vectors chain-major; lane l owns
//   coordinates lo..hi, a block of CH (a multiple of 4, so that each Philox block of four
//   normals belongs to one lane) and does every coordinate-wise operation on them; sums over
//   all coordinates go through workgroup memory, summed in lane order, so that every lane gets
//   the same value, holds the same chain record `st` and takes the same branches of
//   shaders/detector.wgsl.
// - LANES = 1 (the streamed family, for software adapters, which run neighbouring invocations
//   in one SIMD instruction and pay dearly for barriers): one invocation per chain, WG chains
//   per workgroup, vectors interleaved across chains (coordinate i of chain c next to chain
//   c + 1's), sums in the invocation.
// Generated in front of this file: as for shaders/kernel.wgsl, plus LANES, CH and DP, the
// `work` binding and the objective's cooperative form: `fn objective_lanes() -> Eval` (this
// lane's part of the value, its coordinates of g through `g_set`, the label; any coordinate of
// x through `x_at`), with `objective_term_lanes(k)` for minibatch oracles.

var<private> lane: u32;
var<private> lo: u32;
var<private> hi: u32;
// Coordinate i of the chain's vector k (x, g, v, x~) is work[wb + (k * DP + i) * ws].
var<private> wb: u32;
var<private> ws: u32;

const VX: u32 = 0u;
const VG: u32 = 1u;
const VV: u32 = 2u;
const VT: u32 = 3u;
// The step's direction is the gradient itself (exact oracle, no Gaussian perturbation): the
// update reads g, and v is not written (two memory passes fewer per step).
const V_IS_G: bool = ORACLE != ORACLE_NOISE && ORACLE != ORACLE_MINIBATCH && PERTURB != PERTURB_GAUSSIAN;
// The vector the update reads.
const VD: u32 = select(VV, VG, V_IS_G);

// Sums across lanes: each lane's part at [lane / 4][lane % 4], read back four at a time (a pass
// over RED = LANES / 4 vectors instead of LANES scalars), then a barrier before the next sum may
// write. (Two slots taken in turn would save that barrier: measured on lavapipe, no faster, and
// twice the workgroup memory.)
var<workgroup> red_r: array<vec4<real>, RED>;
var<workgroup> red_g: array<vec4<real>, RED>;
var<workgroup> red_l: array<vec4<u32>, RED>;
var<workgroup> red_o: array<vec4<u32>, RED>;

fn at(k: u32, i: u32) -> real {
    return work[wb + (k * DP + i) * ws];
}

fn put(k: u32, i: u32, value: real) {
    work[wb + (k * DP + i) * ws] = value;
}

// Where coordinate i of shard chain c sits in xs and xt: as the chain's vectors.
fn point_at(c: u32, i: u32) -> u32 {
    if (LANES == 1u) {
        return i * params.shard_chains + c;
    }
    return c * D + i;
}

// What a cooperative objective reads and writes: any coordinate of x (coordinates D..DP read 0),
// its own coordinates of g (set or added to), and (minibatch terms) of v.
fn x_at(i: u32) -> real {
    return at(VX, i);
}

fn g_at(i: u32) -> real {
    return at(VG, i);
}

fn g_set(i: u32, value: real) {
    put(VG, i, value);
}

fn g_add(i: u32, value: real) {
    put(VG, i, at(VG, i) + value);
}

fn v_add(i: u32, value: real) {
    put(VV, i, at(VV, i) + value);
}

// The sum of every lane's `a`, the same in every lane. Every lane of the workgroup must call it.
fn lanes_sum(a: real) -> real {
    if (LANES == 1u) {
        return a;
    }
    red_r[lane / 4u][lane % 4u] = a;
    workgroupBarrier();
    var s = vec4<real>();
    for (var k = 0u; k < RED; k++) {
        s = s + red_r[k];
    }
    workgroupBarrier();
    return (s.x + s.y) + (s.z + s.w);
}

// lanes_sum of f32 parts (the random directions' norms are f32 on every precision), summed as
// real and rounded once.
fn lanes_sum_f32(a: f32) -> f32 {
    return f32(lanes_sum(real(a)));
}

// The smallest of every lane's `u`, the same in every lane.
fn lanes_min(u: u32) -> u32 {
    if (LANES == 1u) {
        return u;
    }
    red_l[lane / 4u][lane % 4u] = u;
    workgroupBarrier();
    var m = vec4<u32>(0xffffffffu);
    for (var k = 0u; k < RED; k++) {
        m = min(m, red_l[k]);
    }
    workgroupBarrier();
    return min(min(m.x, m.y), min(m.z, m.w));
}

// Whether any lane's `b` holds.
fn lanes_any(b: bool) -> bool {
    if (LANES == 1u) {
        return b;
    }
    red_l[lane / 4u][lane % 4u] = select(0u, 1u, b);
    workgroupBarrier();
    var any = vec4<u32>();
    for (var k = 0u; k < RED; k++) {
        any = any | red_l[k];
    }
    workgroupBarrier();
    return (any.x | any.y | any.z | any.w) != 0u;
}

// The four standard normals of block b of the stream (chain, step, purpose).
fn normal4(chain: u32, step: u32, purpose: u32, b: u32) -> vec4<f32> {
    let w = philox(vec4<u32>(chain, step, purpose, b), key());
    return vec4<f32>(normal_pair(w.x, w.y), normal_pair(w.z, w.w));
}

// This lane's normals of the stream (chain, step, purpose) into vector k (f32 values).
fn normals_into(k: u32, chain: u32, step: u32, purpose: u32) {
    for (var b = lo / 4u; b * 4u < hi; b++) {
        let n = normal4(chain, step, purpose, b);
        for (var j = 0u; j < 4u; j++) {
            if (b * 4u + j < hi) {
                put(k, b * 4u + j, real(n[j]));
            }
        }
    }
}

// Vector k becomes a point uniform on the sphere of `radius` (a normalized Gaussian direction), or
// in the ball with `in_ball` (radius' uniform from the block after the normals), in f32.
fn sphere_into(k: u32, chain: u32, step: u32, purpose: u32, radius: f32, in_ball: bool) {
    normals_into(k, chain, step, purpose);
    var n2 = 0.0;
    for (var i = lo; i < hi; i++) {
        let z = f32(at(k, i));
        n2 = n2 + z * z;
    }
    n2 = lanes_sum_f32(n2);
    var r = radius;
    if (in_ball) {
        let u = uniform01_open(philox(vec4<u32>(chain, step, purpose, (D + 3u) / 4u), key()).x);
        r = radius * pow(u, 1.0 / f32(D));
    }
    let scale = r / max(sqrt(n2), 1.17549435e-38);
    for (var i = lo; i < hi; i++) {
        put(k, i, real(f32(at(k, i)) * scale));
    }
}

fn init_point(chain: u32) {
    let scale = params.init_scale;
    switch params.init_kind {
        case INIT_NORMAL: {
            normals_into(VX, chain, 0u, PURPOSE_INIT);
            for (var i = lo; i < hi; i++) {
                put(VX, i, real(f32(at(VX, i)) * scale));
            }
        }
        case INIT_UNIFORM: {
            for (var b = lo / 4u; b * 4u < hi; b++) {
                let w = philox(vec4<u32>(chain, 0u, PURPOSE_INIT, b), key());
                for (var j = 0u; j < 4u; j++) {
                    if (b * 4u + j < hi) {
                        put(VX, b * 4u + j, real((2.0 * uniform01(w[j]) - 1.0) * scale));
                    }
                }
            }
        }
        case INIT_BALL: {
            sphere_into(VX, chain, 0u, PURPOSE_INIT, scale, true);
        }
        case INIT_POINT: {
            for (var i = lo; i < hi; i++) {
                put(VX, i, real(init_points[i]));
            }
        }
        case INIT_POINTS: {
            for (var i = lo; i < hi; i++) {
                put(VX, i, real(init_points[chain * D + i]));
            }
        }
        case INIT_SPHERE: {
            sphere_into(VX, chain, 0u, PURPOSE_INIT, scale, false);
        }
        default: {
            for (var i = lo; i < hi; i++) {
                put(VX, i, 0.0);
            }
        }
    }
}

fn eval_point() -> Measured {
    if (LANES > 1u) {
        // Every lane's coordinates of x, written before this, are read by the objective.
        storageBarrier();
    }
    let e = objective_lanes();
    var gn2: real = 0.0;
    for (var i = lo; i < hi; i++) {
        let gi = at(VG, i);
        gn2 = gn2 + gi * gi;
    }
    if (LANES == 1u) {
        return Measured(e.f, gn2, e.label, e.ok);
    }
    let q = lane / 4u;
    let r = lane % 4u;
    red_r[q][r] = e.f;
    red_g[q][r] = gn2;
    red_l[q][r] = e.label;
    red_o[q][r] = e.ok;
    workgroupBarrier();
    var f = vec4<real>();
    var g2 = vec4<real>();
    var label = vec4<u32>(0u);
    var ok = vec4<u32>(1u);
    for (var k = 0u; k < RED; k++) {
        f = f + red_r[k];
        g2 = g2 + red_g[k];
        label = max(label, red_l[k]);
        ok = min(ok, red_o[k]);
    }
    workgroupBarrier();
    return Measured((f.x + f.y) + (f.z + f.w), (g2.x + g2.y) + (g2.z + g2.w), max(max(label.x, label.y), max(label.z, label.w)), min(min(ok.x, ok.y), min(ok.z, ok.w)));
}

fn restore_tilde() {
    for (var i = lo; i < hi; i++) {
        put(VX, i, at(VT, i));
    }
}

fn kick(chain: u32, t: u32) {
    // v is free until the step's direction: it holds the kick.
    sphere_into(VV, chain, t, PURPOSE_PERTURB, st.radius, true);
    for (var i = lo; i < hi; i++) {
        let xi = at(VX, i);
        put(VT, i, xi);
        put(VX, i, xi + at(VV, i));
    }
}

fn direction(chain: u32, t: u32) {
    switch ORACLE {
        case ORACLE_NOISE: {
            normals_into(VV, chain, t, PURPOSE_NOISE);
            for (var i = lo; i < hi; i++) {
                put(VV, i, at(VG, i) + real(params.sigma) * at(VV, i));
            }
        }
        case ORACLE_MINIBATCH: {
            for (var i = lo; i < hi; i++) {
                put(VV, i, 0.0);
            }
            var words = vec4<u32>(0u);
            for (var k = 0u; k < params.batch; k++) {
                if (k % 4u == 0u) {
                    words = philox(vec4<u32>(chain, t, PURPOSE_MINIBATCH, k / 4u), key());
                }
                objective_term_lanes(mulhilo(words[k % 4u], params.terms).x);
            }
            let inv_b = 1.0 / real(params.batch);
            for (var i = lo; i < hi; i++) {
                put(VV, i, at(VV, i) * inv_b);
            }
        }
        default: {
            if (!V_IS_G) {
                for (var i = lo; i < hi; i++) {
                    put(VV, i, at(VG, i));
                }
            }
        }
    }
    if (PERTURB == PERTURB_GAUSSIAN) {
        let s = real(st.radius / sqrt(f32(D)));
        for (var b = lo / 4u; b * 4u < hi; b++) {
            let n = normal4(chain, t, PURPOSE_PERTURB, b);
            for (var j = 0u; j < 4u; j++) {
                let i = b * 4u + j;
                if (i < hi) {
                    put(VV, i, at(VV, i) + s * real(n[j]));
                }
            }
        }
    }
}

fn norm_v() -> f32 {
    var s: real = 0.0;
    for (var i = lo; i < hi; i++) {
        let vi = at(VD, i);
        s = s + vi * vi;
    }
    return f32(sqrt(lanes_sum(s)));
}

fn update(stepsize: real, kicked: bool) -> bool {
    var moved = false;
    if (monitor_on()) {
        // The monitor's g.dx and |dx|^2: in coordinate order within a lane, lanes summed as
        // lanes_sum does (with one streamed invocation per chain, the CPU twin's order).
        var gdx: real = 0.0;
        var dx2: real = 0.0;
        for (var i = lo; i < hi; i++) {
            let xi = at(VX, i);
            let next = real(StateT(xi - stepsize * at(VD, i)));
            moved = moved || next != select(xi, at(VT, i), kicked);
            let dx = kept(next) - xi;
            gdx = gdx + at(VG, i) * dx;
            dx2 = dx2 + dx * dx;
            put(VX, i, next);
        }
        return lanes_update(moved, gdx, dx2);
    }
    for (var i = lo; i < hi; i++) {
        // Rounded to the storage type every step, so f16 results do not depend on dispatch size.
        let xi = at(VX, i);
        let next = real(StateT(xi - stepsize * at(VD, i)));
        moved = moved || next != select(xi, at(VT, i), kicked);
        put(VX, i, next);
    }
    return lanes_any(moved);
}

// lanes_any(moved), and the monitor's sums of every lane's gdx and dx2 into leave_gdx and
// leave_dx2, through one pair of barriers (a reduction apiece would add two pairs per step).
fn lanes_update(moved: bool, gdx: real, dx2: real) -> bool {
    if (LANES == 1u) {
        leave_gdx = gdx;
        leave_dx2 = dx2;
        return moved;
    }
    let q = lane / 4u;
    let r = lane % 4u;
    red_r[q][r] = gdx;
    red_g[q][r] = dx2;
    red_l[q][r] = select(0u, 1u, moved);
    workgroupBarrier();
    var a = vec4<real>();
    var b = vec4<real>();
    var any = vec4<u32>();
    for (var k = 0u; k < RED; k++) {
        a = a + red_r[k];
        b = b + red_g[k];
        any = any | red_l[k];
    }
    workgroupBarrier();
    leave_gdx = (a.x + a.y) + (a.z + a.w);
    leave_dx2 = (b.x + b.y) + (b.z + b.w);
    return (any.x | any.y | any.z | any.w) != 0u;
}

fn trace_x(base: u32) {
    for (var i = lo; i < hi; i++) {
        trace[base + i] = f32(at(VX, i));
    }
}

// The lane's place: its coordinates and its chain's vectors.
fn begin(c: u32, lid: u32) {
    lane = lid % LANES;
    lo = min(lane * CH, D);
    hi = min(lo + CH, D);
    if (LANES == 1u) {
        wb = c;
        ws = params.shard_chains;
    } else {
        wb = c * 4u * DP;
        ws = 1u;
    }
}

fn chain_of(gid: vec3<u32>, wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    // 2-D dispatch: ensembles beyond 65535 workgroups spill into y.
    if (LANES == 1u) {
        return gid.x + gid.y * nwg.x * WG;
    }
    return wid.x + wid.y * nwg.x;
}

// What every entry point does first: the objective's workgroup copy of its data, then the lane's
// place; its shard chain, or shard_chains beyond the shard (the same for every lane of a chain:
// the early return that follows leaves no lane of a running chain behind at a barrier).
fn enter(gid: vec3<u32>, wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    objective_load(lid);
    workgroupBarrier();
    let c = chain_of(gid, wid, nwg);
    if (c >= params.shard_chains) {
        return params.shard_chains;
    }
    begin(c, lid);
    return c;
}

@compute @workgroup_size(WG)
fn init_chains(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let c = enter(gid, wid, nwg, lid);
    if (c >= params.shard_chains) {
        return;
    }
    init_point(params.chain_offset + c);
    for (var i = lo; i < hi; i++) {
        let s = StateT(at(VX, i));
        put(VX, i, real(s));
        xs[point_at(c, i)] = s;
    }
    init_state();
    if (lane == 0u) {
        states[c] = st;
    }
}

@compute @workgroup_size(WG)
fn step_chains(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let c = enter(gid, wid, nwg, lid);
    if (c >= params.shard_chains) {
        return;
    }
    // Every lane reads the record before the leader writes it back: a running chain passes a
    // barrier in its first evaluation, and one that does not step writes back what it read.
    st = states[c];
    let chain = params.chain_offset + c;
    if (st.status == RUNNING) {
        for (var i = lo; i < hi; i++) {
            put(VX, i, real(xs[point_at(c, i)]));
        }
        if (PERTURB == PERTURB_BALL) {
            for (var i = lo; i < hi; i++) {
                put(VT, i, real(xt[point_at(c, i)]));
            }
        }
        let paused = fused(chain);
        for (var i = lo; i < hi; i++) {
            xs[point_at(c, i)] = StateT(at(VX, i));
        }
        if (PERTURB == PERTURB_BALL) {
            for (var i = lo; i < hi; i++) {
                xt[point_at(c, i)] = StateT(at(VT, i));
            }
        }
        if (lane == 0u) {
            states[c] = st;
        }
        after_steps(paused, lane == 0u);
    }
    if (lane == 0u) {
        count_status();
    }
}
