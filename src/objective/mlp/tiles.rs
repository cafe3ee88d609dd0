//! The network's matrix products on the CPU, as sums of outer products in register tiles.
//!
//! Why not matrixmultiply (which the other data objectives use): its products pack both factors
//! at every call, and one factor here is the training rows (1797 x 64 on Digits), the same at
//! every step of every chain. At the network's shapes (a few thousand rows, layers of 3 to 64)
//! the packing was a fifth of a Digits step (`perf record`, BENCHMARKS.md) and the products'
//! kernel another third. An 8 x 16 tile that reads both factors in place needs no packing.
//!
//! Every element of C is the sum over j of a_j[q] w_j[c], accumulated in the order of j from 0
//! by fused multiply-adds (`mul_add`: correctly rounded, so the same bits on every machine,
//! whether the target has FMA or not), whatever the tile it falls in: a product's bits do not
//! depend on its shape or on the machine's SIMD width (tested below). Measured on Digits
//! (2-core machine, CPU seconds per chain-step, BENCHMARKS.md): 8 x 16 tiles with FMA 0.85x the
//! time of matrixmultiply's products; without FMA 1.15x; 4 x 32 tiles 1.15x.

use num_traits::Float;

/// Columns per tile: one AVX-512 register of f32 (two of AVX2).
const C: usize = 16;
/// Rows per tile: R independent sums per column in flight, enough to hide an addition's latency.
const R: usize = 8;

/// A factor of [`outer_sum`]: element (q, j) at `at[q * q_stride + j * j_stride]`.
#[derive(Clone, Copy)]
pub(crate) struct Strided<'a, T> {
    /// The values.
    pub at: &'a [T],
    /// Step between q (rows of C).
    pub q_stride: usize,
    /// Step between j (the summed index).
    pub j_stride: usize,
}

/// C (m x n, row-major, overwritten) = sum over j < k of a_j (x) w_j: C[q][c] = sum_j a(q, j)
/// w[j * w_stride + c]. a is laid out with j_stride 1 (rows of A) or q_stride 1 (columns of
/// Delta), the network's two products' layouts.
pub(crate) fn outer_sum<T: Tiled>(m: usize, n: usize, k: usize, a: Strided<T>, w: &[T], w_stride: usize, c: &mut [T]) {
    assert!(a.j_stride == 1 || a.q_stride == 1, "outer_sum: a factor with j_stride 1 or q_stride 1");
    T::outer_sum(m, n, k, a, w, w_stride, c);
}

/// A float type with [`outer_sum`] compiled for the widest SIMD the machine has, with FMA (the
/// same bits on every target: see the module documentation).
pub(crate) trait Tiled: Float {
    /// [`outer_sum`].
    fn outer_sum(m: usize, n: usize, k: usize, a: Strided<Self>, w: &[Self], w_stride: usize, c: &mut [Self]);
}

macro_rules! tiled {
    ($t:ty, $f:ident) => {
        impl Tiled for $t {
            fn outer_sum(m: usize, n: usize, k: usize, a: Strided<$t>, w: &[$t], w_stride: usize, c: &mut [$t]) {
                $f(m, n, k, a, w, w_stride, c);
            }
        }

        #[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+fma", "x86_64+avx2+fma", "aarch64+neon"))]
        fn $f(m: usize, n: usize, k: usize, a: Strided<$t>, w: &[$t], w_stride: usize, c: &mut [$t]) {
            outer_sum_generic(m, n, k, a, w, w_stride, c);
        }
    };
}
tiled!(f32, outer_sum_f32);
tiled!(f64, outer_sum_f64);

/// [`outer_sum`]'s body, inlined into each target's compilation.
#[inline(always)]
fn outer_sum_generic<T: Float>(m: usize, n: usize, k: usize, a: Strided<T>, w: &[T], w_stride: usize, c: &mut [T]) {
    let mut padded = Vec::new();
    for c0 in (0..n).step_by(C) {
        let width = C.min(n - c0);
        // The column block's rows of w, C apart: w itself where whole, else a zero-padded copy.
        let (block, stride, offset): (&[T], usize, usize) = if width == C {
            (w, w_stride, c0)
        } else {
            padded.clear();
            padded.resize(k * C, T::zero());
            for j in 0..k {
                padded[j * C..j * C + width].copy_from_slice(&w[j * w_stride + c0..j * w_stride + c0 + width]);
            }
            (&padded, C, 0)
        };
        let mut q = 0;
        while q + R <= m {
            store(&tile::<T, R>(k, a, q, block, stride, offset), c, n, q, c0, width);
            q += R;
        }
        while q < m {
            store(&tile::<T, 1>(k, a, q, block, stride, offset), c, n, q, c0, width);
            q += 1;
        }
    }
}

/// R rows from q0 by C columns: the sums over j, in registers, in the two layouts the network
/// uses (a's rows contiguous in j, or a's R values at each j contiguous in q), each a loop
/// without index checks inside; the order of the sums is the same in both.
#[inline(always)]
fn tile<T: Float, const R: usize>(k: usize, a: Strided<T>, q0: usize, w: &[T], w_stride: usize, offset: usize) -> [[T; C]; R] {
    let mut acc = [[T::zero(); C]; R];
    // One j: acc[q] += a(q, j) w_j for every q. A macro, not a closure: LLVM keeps the
    // accumulators in registers only when the loop body is written out in place.
    macro_rules! add {
        ($j:expr, $aq:expr) => {{
            let row: &[T; C] = w[$j * w_stride + offset..][..C].try_into().expect("C values");
            for (q, acc) in acc.iter_mut().enumerate() {
                let aq = $aq(q);
                for (s, &wc) in acc.iter_mut().zip(row) {
                    *s = aq.mul_add(wc, *s);
                }
            }
        }};
    }
    if a.j_stride == 1 {
        let rows: [&[T]; R] = std::array::from_fn(|q| &a.at[(q0 + q) * a.q_stride..][..k]);
        for j in 0..k {
            // SAFETY: every rows[q] is exactly k long (sliced above) and j < k; the index check
            // LLVM cannot prove away here costs a third of the loop.
            add!(j, |q: usize| unsafe { *rows[q].get_unchecked(j) });
        }
    } else {
        // q_stride == 1 ([`outer_sum`] admits only the two layouts).
        for j in 0..k {
            let av: &[T; R] = a.at[j * a.j_stride + q0..][..R].try_into().expect("R values");
            add!(j, |q: usize| av[q]);
        }
    }
    acc
}

fn store<T: Float, const R: usize>(acc: &[[T; C]; R], c: &mut [T], n: usize, q0: usize, c0: usize, width: usize) {
    for (q, acc) in acc.iter().enumerate() {
        c[(q0 + q) * n + c0..(q0 + q) * n + c0 + width].copy_from_slice(&acc[..width]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a plain triple loop in the same order, bit for bit, at shapes with partial tiles
    /// in both directions and with both factor layouts the network uses (rows of A times W^T;
    /// Delta^T times rows), in f32 and f64; and each element is the same whatever the shape
    /// around it (m = 1 and n <= 16 against the full product).
    #[test]
    fn tiles_add_in_the_plain_order() {
        check::<f32>();
        check::<f64>();
    }

    fn check<T: Tiled + std::fmt::Debug>() {
        for (m, n, k) in [(37, 10, 64), (8, 32, 13), (4, 16, 1), (1, 3, 7), (130, 19, 33)] {
            let vals: Vec<T> = crate::rng::data_normals(4, 0, (m + n) * k + m * k).into_iter().map(crate::objective::to_float).collect();
            let (a, w) = vals.split_at(m * k);
            for (q_stride, j_stride) in [(k, 1), (1, m)] {
                let fa = Strided { at: a, q_stride, j_stride };
                let mut c = vec![T::zero(); m * n];
                outer_sum(m, n, k, fa, w, n, &mut c);
                for q in 0..m {
                    for col in 0..n {
                        let plain = (0..k).fold(T::zero(), |s, j| a[q * q_stride + j * j_stride].mul_add(w[j * n + col], s));
                        assert_eq!(c[q * n + col], plain, "{m}x{n}x{k} at ({q}, {col})");
                    }
                }
                // One row alone, and the first columns alone (w's rows keep their stride n).
                let mut row = vec![T::zero(); n];
                let one = Strided { at: &a[(m - 1) * q_stride..], q_stride, j_stride };
                outer_sum(1, n, k, one, w, n, &mut row);
                assert_eq!(row, c[(m - 1) * n..]);
                let few = n.min(5);
                let mut narrow = vec![T::zero(); m * few];
                outer_sum(m, few, k, fa, w, n, &mut narrow);
                assert!((0..m).all(|q| narrow[q * few..(q + 1) * few] == c[q * n..q * n + few]));
            }
        }
    }
}
