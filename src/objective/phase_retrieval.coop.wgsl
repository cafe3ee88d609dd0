// Phase retrieval's cooperative form (shaders/cooperative.wgsl); the PR_* constants as for
// phase_retrieval.wgsl. The rows of A go in passes of PR_PASS: the lanes share a pass's rows,
// each forming a_k.x over all coordinates (in order, as the scalar twin; x in chunks of PR_XC
// vec4s copied to workgroup memory, where every lane reads the same address at once, instead of
// each lane gathering x from storage) and the row's weight w_k = ((a_k.x)^2 - y_k)(a_k.x) in
// workgroup memory; then each lane adds sum_k w_k a_k at its own coordinates, four at a time,
// rows in order. Each row of A is read twice per evaluation by the workgroup, not once per
// coordinate.
const PR_PASS: u32 = 256u;
const PR_XC: u32 = 128u;
// Rows of a pass per lane.
const PR_RPL: u32 = (PR_PASS + LANES - 1u) / LANES;
var<workgroup> pr_w: array<real, PR_PASS>;
var<workgroup> pr_x: array<vec4<real>, PR_XC>;

// The value at float offset j of `data`.
fn pr_at(j: u32) -> real {
    return real(data[j / 4u][j % 4u]);
}

// a_k.x, summed over the coordinates in order (x reads 0 beyond D, where A is padded with 0).
fn pr_dot(k: u32) -> real {
    var ax: real = 0.0;
    let b = k * (PR_ROW / 4u);
    for (var j = 0u; j < PR_ROW / 4u; j++) {
        let q = vec4<real>(data[b + j]);
        ax = ax + q.x * x_at(4u * j);
        ax = ax + q.y * x_at(4u * j + 1u);
        ax = ax + q.z * x_at(4u * j + 2u);
        ax = ax + q.w * x_at(4u * j + 3u);
    }
    return ax;
}

// 1 within 25 degrees of +-x* (|cos| >= 0.9), else 0 (always 0 without x*); the same in every lane.
fn pr_label_lanes() -> u32 {
    if (!PR_HAS_XSTAR) {
        return 0u;
    }
    var dot: real = 0.0;
    var n2: real = 0.0;
    for (var i = lo; i < hi; i++) {
        let xi = x_at(i);
        dot = dot + xi * pr_at(PR_XSTAR + i);
        n2 = n2 + xi * xi;
    }
    dot = lanes_sum(dot);
    n2 = lanes_sum(n2);
    return select(0u, 1u, dot * dot >= 0.81 * n2 && n2 > 0.0);
}

fn objective_lanes() -> Eval {
    var f: real = 0.0;
    for (var i = lo; i < hi; i++) {
        g_set(i, 0.0);
    }
    if (LANES == 1u) {
        // One invocation per chain: each row's weight goes straight into the gradient.
        for (var k = 0u; k < PR_M; k++) {
            let ax = pr_dot(k);
            let res = ax * ax - pr_at(PR_Y + k);
            f = f + res * res;
            let w = res * ax;
            for (var i = 0u; i < D; i++) {
                g_add(i, w * pr_at(k * PR_ROW + i));
            }
        }
        for (var i = 0u; i < D; i++) {
            g_set(i, g_at(i) * PR_INV_M);
        }
        return Eval(f * PR_INV_4M, pr_label_lanes(), 1u);
    }
    for (var r0 = 0u; r0 < PR_M; r0 += PR_PASS) {
        let n = min(PR_PASS, PR_M - r0);
        var ax: array<real, PR_RPL>;
        for (var c0 = 0u; c0 < PR_ROW / 4u; c0 += PR_XC) {
            let nc = min(PR_XC, PR_ROW / 4u - c0);
            for (var j = lane; j < nc; j += WG) {
                let i = 4u * (c0 + j);
                pr_x[j] = vec4<real>(x_at(i), x_at(i + 1u), x_at(i + 2u), x_at(i + 3u));
            }
            workgroupBarrier();
            for (var k = 0u; k < PR_RPL; k++) {
                let r = lane + k * WG;
                if (r < n) {
                    let b = (r0 + r) * (PR_ROW / 4u) + c0;
                    var s = ax[k];
                    for (var j = 0u; j < nc; j++) {
                        let q = vec4<real>(data[b + j]);
                        let xv = pr_x[j];
                        s = s + q.x * xv.x;
                        s = s + q.y * xv.y;
                        s = s + q.z * xv.z;
                        s = s + q.w * xv.w;
                    }
                    ax[k] = s;
                }
            }
            workgroupBarrier();
        }
        for (var k = 0u; k < PR_RPL; k++) {
            let r = lane + k * WG;
            if (r < n) {
                let res = ax[k] * ax[k] - pr_at(PR_Y + r0 + r);
                f = f + res * res;
                pr_w[r] = res * ax[k];
            }
        }
        workgroupBarrier();
        // lo is a multiple of 4 and rows start on a vec4: the lane's coordinates in vec4s.
        for (var i = lo; i < hi; i += 4u) {
            var acc = vec4<real>();
            for (var r = 0u; r < n; r++) {
                acc = acc + pr_w[r] * vec4<real>(data[(r0 + r) * (PR_ROW / 4u) + i / 4u]);
            }
            for (var j = 0u; j < 4u; j++) {
                if (i + j < hi) {
                    g_add(i + j, acc[j]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = lo; i < hi; i++) {
        g_set(i, g_at(i) * PR_INV_M);
    }
    return Eval(f * PR_INV_4M, pr_label_lanes(), 1u);
}

// Adds term k's gradient ((a_k.x)^2 - y_k)(a_k.x) a_k at the lane's coordinates.
fn objective_term_lanes(k: u32) {
    var part: real = 0.0;
    for (var i = lo; i < hi; i++) {
        part = part + pr_at(k * PR_ROW + i) * x_at(i);
    }
    let ax = lanes_sum(part);
    let w = (ax * ax - pr_at(PR_Y + k)) * ax;
    for (var i = lo; i < hi; i++) {
        v_add(i, w * pr_at(k * PR_ROW + i));
    }
}
