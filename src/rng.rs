//! Counter-based random numbers: Philox4x32-10 (Salmon et al. 2011) and the samplers built on it.
//!
//! Every draw is addressed by `(seed; chain, step, purpose, block)`: the key is the 64-bit seed and
//! the 128-bit counter is `[chain, step, purpose, block]`. No generator state is carried between
//! draws, so a chain's random numbers do not depend on how chains are batched, how steps are split
//! across dispatches, or on sharding and resume. `shaders/rng.wgsl` is the WGSL twin; the integer
//! streams of the two are bit-identical (tested), the float transforms agree to a few ulps.


const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// What a draw is for; part of the counter so different uses never share numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Purpose {
    /// The chain's starting point.
    Init = 0,
    /// PGD's uniform-ball perturbation, or perturbed SGD's Gaussian.
    Perturb = 1,
    /// SGD's additive gradient noise.
    Noise = 2,
    /// Minibatch indices.
    Minibatch = 3,
    /// Objective data generated from a seed (the chain field then names the data stream).
    Data = 4,
}

/// Version of the random-stream addressing; bump when a draw's address or transform changes
/// (reports and checkpoints record it).
pub const STREAM_VERSION: u32 = 1;

/// One Philox4x32-10 block: 4 random words for a 128-bit counter and a 64-bit key.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let p0 = u64::from(M0) * u64::from(c[0]);
        let p1 = u64::from(M1) * u64::from(c[2]);
        let (hi0, lo0) = ((p0 >> 32) as u32, p0 as u32);
        let (hi1, lo1) = ((p1 >> 32) as u32, p1 as u32);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// Splits a 64-bit seed into Philox's two key words (low word first), as the shaders receive it.
pub fn seed_key(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// The random words for one `(chain, step, purpose, block)` address under `seed`.
pub fn draw(seed: u64, chain: u32, step: u32, purpose: Purpose, block: u32) -> [u32; 4] {
    philox4x32_10([chain, step, purpose as u32, block], seed_key(seed))
}

/// Uniform float in [0, 1) from the top 24 bits of a word (exact in f32).
pub fn uniform01(x: u32) -> f32 {
    (x >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Uniform float in (0, 1], safe to take the logarithm of.
pub fn uniform01_open(x: u32) -> f32 {
    ((x >> 8) as f32 + 1.0) * (1.0 / 16_777_216.0)
}

/// Two standard normals from two words (Box-Muller), as `normal_pair` in rng.wgsl.
pub fn normal_pair(a: u32, b: u32) -> [f32; 2] {
    let r = (-2.0 * uniform01_open(a).ln()).sqrt();
    let theta = std::f32::consts::TAU * uniform01(b);
    [r * theta.cos(), r * theta.sin()]
}

/// Fills `out` with standard normals `0..out.len()` of the stream at `(chain, step, purpose)`.
pub fn normals(seed: u64, chain: u32, step: u32, purpose: Purpose, out: &mut [f32]) {
    for (block, slot) in out.chunks_mut(4).enumerate() {
        let w = draw(seed, chain, step, purpose, block as u32);
        let p = normal_pair(w[0], w[1]);
        // The second pair only where it is used (d = 1, 2 mod 4): the same numbers, less work.
        let q = if slot.len() > 2 { normal_pair(w[2], w[3]) } else { [0.0; 2] };
        let four = [p[0], p[1], q[0], q[1]];
        slot.copy_from_slice(&four[..slot.len()]);
    }
}

/// `n` standard normals of data stream `stream` under `seed` (generated objective data).
pub fn data_normals(seed: u64, stream: u32, n: usize) -> Vec<f64> {
    let mut out = vec![0.0f32; n];
    normals(seed, stream, 0, Purpose::Data, &mut out);
    out.into_iter().map(f64::from).collect()
}

/// A point uniform in the d-ball of `radius` (d = `out.len()`): a normalized Gaussian direction
/// times `radius * U^(1/d)`. The radius' uniform is word 0 of the block after the normals.
pub fn ball(seed: u64, chain: u32, step: u32, purpose: Purpose, radius: f32, out: &mut [f32]) {
    let d = out.len() as u32;
    let u = uniform01_open(draw(seed, chain, step, purpose, d.div_ceil(4))[0]);
    sphere(seed, chain, step, purpose, radius * u.powf(1.0 / d as f32), out);
}

/// A point uniform on the sphere of `radius`: a normalized Gaussian direction.
pub fn sphere(seed: u64, chain: u32, step: u32, purpose: Purpose, radius: f32, out: &mut [f32]) {
    normals(seed, chain, step, purpose, out);
    let mut n2 = 0.0f32;
    for v in out.iter() {
        n2 += v * v;
    }
    let scale = radius / n2.sqrt().max(f32::MIN_POSITIVE);
    for v in out.iter_mut() {
        *v *= scale;
    }
}

/// [`philox4x32_10`] for `N` counters at once (the CPU backend's pack width) under one key: word k of lane l's counter
/// at `c[k][l]`, and so its output. Why: the CPU backend's lockstep kicks (`kernel::lanes`) draw
/// a ball point for several chains of a pack at once; the rounds' 32x32->64 multiplies and xors
/// vectorise across lanes, the same integers as one block at a time.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2", "aarch64+neon"))]
pub fn philox_lanes<const N: usize>(counter: [[u32; N]; 4], key: [u32; 2]) -> [[u32; N]; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let mut next = [[0u32; N]; 4];
        for l in 0..N {
            let p0 = u64::from(M0) * u64::from(c[0][l]);
            let p1 = u64::from(M1) * u64::from(c[2][l]);
            next[0][l] = (p1 >> 32) as u32 ^ c[1][l] ^ k[0];
            next[1][l] = p1 as u32;
            next[2][l] = (p0 >> 32) as u32 ^ c[3][l] ^ k[1];
            next[3][l] = p0 as u32;
        }
        c = next;
    }
    c
}

/// [`ball`] for the lanes in `mask` of a pack at once: lane l's point (radius `radius[l]`,
/// address `(chains[l], steps[l], purpose)`) into `out[i][l]`, i < d = `out.len()`, bit for bit
/// what `ball` gives it. The Philox blocks run across lanes ([`philox_lanes`]); the
/// transcendentals (ln, cos, sin, powf) stay the very scalar calls `ball` makes, per lane, so the
/// draws cannot drift from the scalar path, the GPU twin's tests or earlier results. Lanes
/// outside `mask` are left with unspecified values. Every lane's blocks are computed: worth it
/// when most lanes draw (a vector block has the latency of several scalar ones).
pub fn ball_lanes<const N: usize>(seed: u64, chains: &[u32; N], steps: &[u32; N], purpose: Purpose, radius: &[f32; N], mask: &[bool; N], out: &mut [[f32; N]]) {
    let d = out.len();
    let key = seed_key(seed);
    let words = |block: u32| philox_lanes([*chains, *steps, [purpose as u32; N], [block; N]], key);
    let u = words(d.div_ceil(4) as u32)[0];
    let mut r = [0.0f32; N];
    for l in (0..N).filter(|&l| mask[l]) {
        r[l] = radius[l] * uniform01_open(u[l]).powf(1.0 / d as f32);
    }
    for (block, rows) in out.chunks_mut(4).enumerate() {
        let w = words(block as u32);
        for l in (0..N).filter(|&l| mask[l]) {
            let p = normal_pair(w[0][l], w[1][l]);
            let q = if rows.len() > 2 { normal_pair(w[2][l], w[3][l]) } else { [0.0; 2] };
            let four = [p[0], p[1], q[0], q[1]];
            rows.iter_mut().zip(four).for_each(|(row, v)| row[l] = v);
        }
    }
    // As `sphere`: the squared norm in coordinate order, then one scale per lane.
    let mut n2 = [0.0f32; N];
    for row in out.iter() {
        for l in 0..N {
            n2[l] += row[l] * row[l];
        }
    }
    let scale: [f32; N] = std::array::from_fn(|l| r[l] / n2[l].sqrt().max(f32::MIN_POSITIVE));
    for row in out.iter_mut() {
        for l in 0..N {
            row[l] *= scale[l];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::LANES;

    #[test]
    fn philox_known_answers() {
        assert_eq!(
            philox4x32_10([0; 4], [0; 2]),
            [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0]
            ),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }

    #[test]
    fn ball_lanes_is_ball_bit_for_bit() {
        // Dimensions 1..=9 cover every remainder mod 4 and several blocks; radii of all sizes.
        for d in 1..=9usize {
            let chains: [u32; LANES] = std::array::from_fn(|l| 1000 * d as u32 + 37 * l as u32);
            let steps: [u32; LANES] = std::array::from_fn(|l| (l as u32 * 7919) ^ 0x55);
            let radius: [f32; LANES] = std::array::from_fn(|l| 1e-3 * 3.7f32.powi(l as i32));
            let mask: [bool; LANES] = std::array::from_fn(|l| l % 5 != 3);
            let mut out = vec![[0.0f32; LANES]; d];
            ball_lanes(42, &chains, &steps, Purpose::Perturb, &radius, &mask, &mut out);
            for l in (0..LANES).filter(|&l| mask[l]) {
                let mut one = vec![0.0f32; d];
                ball(42, chains[l], steps[l], Purpose::Perturb, radius[l], &mut one);
                let lane: Vec<u32> = out.iter().map(|row| row[l].to_bits()).collect();
                assert_eq!(lane, one.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "d {d} lane {l}");
            }
            let c: [[u32; LANES]; 4] = [chains, steps, [d as u32; LANES], radius.map(f32::to_bits)];
            let w = philox_lanes(c, [7, 9]);
            for l in 0..LANES {
                assert_eq!(w.map(|k| k[l]), philox4x32_10(c.map(|k| k[l]), [7, 9]));
            }
        }
    }

    #[test]
    fn normals_have_unit_moments() {
        let n = 200_000u32;
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for c in 0..n / 8 {
            let mut v = [0.0f32; 8];
            normals(7, c, 3, Purpose::Perturb, &mut v);
            for x in v {
                s1 += f64::from(x);
                s2 += f64::from(x) * f64::from(x);
            }
        }
        let mean = s1 / f64::from(n);
        let var = s2 / f64::from(n) - mean * mean;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }

    #[test]
    fn ball_points_fill_the_ball_uniformly() {
        // In d dimensions the radius of a uniform ball point has CDF (s/r)^d: the fraction inside
        // half the radius is 2^-d.
        let (d, n) = (3usize, 40_000u32);
        let mut inside_half = 0u32;
        for c in 0..n {
            let mut v = vec![0.0f32; d];
            ball(11, c, 0, Purpose::Perturb, 2.0, &mut v);
            let r = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!(r <= 2.0 + 1e-5);
            if r < 1.0 {
                inside_half += 1;
            }
        }
        let frac = f64::from(inside_half) / f64::from(n);
        assert!((frac - 0.125).abs() < 0.01, "fraction {frac}");
    }
}
