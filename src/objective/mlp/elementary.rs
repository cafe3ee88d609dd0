//! tanh and exp for the f32 twin, written so that loops over a layer's values vectorize.
//!
//! Why: the network's CPU twin spent two thirds of its time in the C library's scalar `tanhf`
//! (through `expm1f`) at 13-16-3 on Wine, and a sixth in the softmax's scalar `expf` on Digits
//! (`perf record`, BENCHMARKS.md), more than in the matrix products. These forms have no branch
//! and no call, so LLVM turns the loops into SIMD. Both are within 1.5 ulp of the exact
//! function (tested below against f64 over dense grids; tanh's worst, 1.13 ulp, is just above
//! 0.625), as close as the C library's (glibc documents 2 ulp for tanhf). The f64 twin (checks,
//! certification, scores) keeps the C library's functions: their cost there does not matter and
//! their accuracy is the reference.
//!
//! - e^x = 2^k e^r, k = round(x / ln 2), r = x - k ln 2 in two parts (Cody and Waite), e^r by
//!   its Taylor polynomial of degree 7 (|r| <= ln 2 / 2: remainder below 5e-9); x is clamped to
//!   [-87, 88] first, so that 2^k is a normal f32 (e^-87 = 1.6e-38: where the softmax takes it,
//!   next to a sum >= 1, it is as good as 0).
//! - tanh, |z| < 0.625: tanh z = z + z u q(u), u = z^2, q a degree-4 polynomial fitted by this
//!   project (iteratively reweighted least squares for the relative error on [0, 0.625]; 0.77
//!   ulp at worst in f32). No cancellation near 0, where small initialisations start.
//! - tanh, |z| >= 0.625: tanh |z| = 1 - 2 / (e^{2|z|} + 1); tanh >= 0.55 there, so the
//!   subtraction loses nothing. |z| is clamped at 10 first, where tanh rounds to 1 in f32 (at 9
//!   it does not; both twins clamp at 20 before, `TANH_CLAMP`).

use num_traits::Float;

/// A float type's tanh and exp as the network's twins use them.
pub(crate) trait Elementary: Float {
    /// tanh(self).
    fn tanh_twin(self) -> Self;
    /// e^self.
    fn exp_twin(self) -> Self;
    /// e^v for every v of `z`, in place.
    fn exp_layer(z: &mut [Self]) {
        z.iter_mut().for_each(|v| *v = v.exp_twin());
    }

    /// A hidden layer's tanh activation in place, its derivative 1 - t^2 into `der`: per
    /// element what [`Mlp::sigma`](super::Mlp) gives (the same clamp at `clamp`, then
    /// `tanh_twin`), bit for bit, so the products path and the row loop agree.
    fn tanh_layer(z: &mut [Self], der: &mut [Self], clamp: Self) {
        for (v, d) in z.iter_mut().zip(der.iter_mut()) {
            let t = v.max(-clamp).min(clamp).tanh_twin();
            (*v, *d) = (t, Self::one() - t * t);
        }
    }
}

impl Elementary for f64 {
    fn tanh_twin(self) -> f64 {
        self.tanh()
    }
    fn exp_twin(self) -> f64 {
        self.exp()
    }
}

impl Elementary for f32 {
    #[inline(always)]
    fn tanh_twin(self) -> f32 {
        tanh_f32(self)
    }
    #[inline(always)]
    fn exp_twin(self) -> f32 {
        exp_f32(self)
    }
    fn tanh_layer(z: &mut [f32], der: &mut [f32], clamp: f32) {
        tanh_layer_f32(z, der, clamp);
    }
    fn exp_layer(z: &mut [f32]) {
        exp_layer_f32(z);
    }
}

/// [`Elementary::exp_layer`] for f32, compiled as [`tanh_layer_f32`].
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2", "aarch64+neon"))]
fn exp_layer_f32(z: &mut [f32]) {
    z.iter_mut().for_each(|v| *v = exp_f32(*v));
}

/// The f32 exp (module documentation).
#[inline(always)]
fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // Round to nearest by adding and subtracting 1.5 * 2^23 (|x / ln 2| < 2^22): `round` is a
    // library call on x86-64 without SSE4.1, and would stop the loop's vectorization. The same
    // sum's low bits are k as an integer, read without a float-to-int conversion (Rust's
    // saturating `as` would be scalar code in the loop).
    let big = x * std::f32::consts::LOG2_E + 12_582_912.0;
    let k = big - 12_582_912.0;
    let two_k = f32::from_bits(big.to_bits().wrapping_sub(12_582_912.0f32.to_bits()).wrapping_add(127) << 23);
    let r = (x - k * 0.693_145_75) - k * 1.428_606_8e-6;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    p * two_k
}

/// [`Elementary::tanh_layer`] for f32, compiled for the widest SIMD the machine has (the same bits on
/// every target: no fused multiply-adds are formed, Rust does not contract a * b + c).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2", "aarch64+neon"))]
fn tanh_layer_f32(z: &mut [f32], der: &mut [f32], clamp: f32) {
    for (v, d) in z.iter_mut().zip(der.iter_mut()) {
        let t = tanh_f32(v.max(-clamp).min(clamp));
        (*v, *d) = (t, 1.0 - t * t);
    }
}

/// The f32 tanh (module documentation).
#[inline(always)]
fn tanh_f32(z: f32) -> f32 {
    let a = z.abs().min(10.0);
    // The odd polynomial, for |z| < 0.625.
    let u = a * a;
    let q = -0.333_332_8_f32 + u * (0.133_314_42 + u * (-0.053_739_715 + u * (0.020_639_084 + u * -0.005_704_984)));
    let near = a + a * u * q;
    // 1 - 2 / (e^{2a} + 1), for |z| >= 0.625.
    let e = exp_f32(2.0 * a);
    let far = 1.0 - 2.0 / (e + 1.0);
    // Both computed, one kept: a select, not a branch, so the loop stays SIMD.
    let t = if a < 0.625 { near } else { far };
    t.copysign(z)
}

#[cfg(test)]
mod tests {
    use super::Elementary;

    /// tanh and exp within 1.5 ulp:
    /// tanh (computed in f64, rounded) at every f32 of a dense grid over
    /// [-12, 12], at the boundaries of the two forms, and odd; tiny arguments are returned as
    /// they are (tanh z = z to f32 precision), and the extremes are +-1.
    #[test]
    fn f32_tanh_and_exp_are_within_one_and_a_half_ulp() {
        let mut worst = (0.0f64, 0.0f32);
        let mut check = |z: f32| {
            let t = z.tanh_twin();
            let exact = (z as f64).tanh();
            let e32 = (exact as f32).abs().max(f32::MIN_POSITIVE);
            let ulp = (e32.next_up() - e32) as f64;
            let err = (t as f64 - exact).abs() / ulp;
            if err > worst.0 {
                worst = (err, z);
            }
            assert_eq!((-z).tanh_twin(), -t, "not odd at {z}");
        };
        let n = 2_000_000;
        for i in 0..=n {
            check(-12.0 + 24.0 * i as f32 / n as f32);
        }
        for z in [0.625f32, 0.625f32.next_down(), 10.0, 10.0f32.next_down(), 9.0, 1e-30, 1e-6, 3e-4, 20.0, 1e30] {
            check(z);
        }
        assert!(worst.0 <= 1.5, "{} ulp at {}", worst.0, worst.1);
        // exp over its whole clamped range, and the slice form equal to the scalar.
        let mut worst_exp = (0.0f64, 0.0f32);
        let n = 1_000_000;
        let grid: Vec<f32> = (0..=n).map(|i| -87.0 + 175.0 * i as f32 / n as f32).collect();
        let mut slice = grid.clone();
        f32::exp_layer(&mut slice);
        for (&x, &e) in grid.iter().zip(&slice) {
            assert_eq!(e.to_bits(), x.exp_twin().to_bits(), "slice and scalar at {x}");
            let exact = (x as f64).exp();
            let e32 = exact as f32;
            let err = (e as f64 - exact).abs() / (e32.next_up() - e32) as f64;
            if err > worst_exp.0 {
                worst_exp = (err, x);
            }
        }
        assert!(worst_exp.0 <= 1.5, "exp: {} ulp at {}", worst_exp.0, worst_exp.1);
        assert_eq!(0.0f32.exp_twin(), 1.0);
        assert_eq!(1e-20f32.tanh_twin(), 1e-20);
        assert_eq!(f32::INFINITY.tanh_twin(), 1.0);
        assert_eq!(0.0f32.tanh_twin().to_bits(), 0);
    }
}
