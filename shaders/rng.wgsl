// Philox4x32-10 and samplers; twin of src/rng.rs. WGSL has no 64-bit integers, so the 32x32->64
// multiply is assembled from 16-bit halves. Draws are addressed by (seed; chain, step, purpose,
// block): nothing is carried between draws, so results do not depend on dispatch or batch size.

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

// (hi, lo) words of the 64-bit product a * b.
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xffffu;
    let a1 = a >> 16u;
    let b0 = b & 0xffffu;
    let b1 = b >> 16u;
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
    let hi = p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var round = 0u; round < 10u; round++) {
        if (round > 0u) {
            k = k + vec2<u32>(PHILOX_W0, PHILOX_W1);
        }
        let p0 = mulhilo(PHILOX_M0, c.x);
        let p1 = mulhilo(PHILOX_M1, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
    }
    return c;
}

fn uniform01(x: u32) -> f32 {
    return f32(x >> 8u) * (1.0 / 16777216.0);
}

fn uniform01_open(x: u32) -> f32 {
    return (f32(x >> 8u) + 1.0) * (1.0 / 16777216.0);
}

fn normal_pair(a: u32, b: u32) -> vec2<f32> {
    let r = sqrt(-2.0 * log(uniform01_open(a)));
    let theta = 6.2831855 * uniform01(b);
    return vec2<f32>(r * cos(theta), r * sin(theta));
}

fn finite_f32(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}
