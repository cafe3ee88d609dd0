//! Matrix products for the CPU twins of data objectives: matrixmultiply's sgemm and dgemm
//! (measured against `gemm` on this project's 2-core machine: 110 vs 80 GFLOP/s at 16 x 32 x 128,
//! 142 vs 100 at 1024^3, one thread; BENCHMARKS.md). Each element of a product gets the same bits
//! whatever the number of columns and its place among them (tested below), so a pack of lanes
//! evaluated as one product gives every lane the bits of that lane alone.

use num_traits::Float;

/// A float type with a matrix product (matrixmultiply's sgemm and dgemm) and a scratch matrix
/// per thread.
pub(crate) trait Products: Float + 'static {
    /// C (m x n) = alpha A (m x k) B (k x n), each given by its pointer and row and column strides.
    ///
    /// # Safety
    /// The pointers and strides address valid matrices of those shapes, C not overlapping A or B.
    #[allow(clippy::too_many_arguments)]
    unsafe fn product(m: usize, k: usize, n: usize, alpha: Self, a: (*const Self, isize, isize), b: (*const Self, isize, isize), c: (*mut Self, isize, isize));
    /// Runs `f` on this thread's scratch of `len` values (reused: an n x n matrix per evaluation
    /// would otherwise be allocated and faulted in at every step).
    fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R;
}

thread_local! {
    static SCRATCH_F32: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
    static SCRATCH_F64: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

macro_rules! products {
    ($t:ty, $gemm:path, $scratch:ident) => {
        impl Products for $t {
            unsafe fn product(m: usize, k: usize, n: usize, alpha: Self, a: (*const Self, isize, isize), b: (*const Self, isize, isize), c: (*mut Self, isize, isize)) {
                // SAFETY: the caller's contract; beta = 0, so C is only written.
                unsafe { $gemm(m, k, n, alpha, a.0, a.1, a.2, b.0, b.1, b.2, 0.0, c.0, c.1, c.2) }
            }
            fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R {
                $scratch.with(|s| {
                    let mut s = s.borrow_mut();
                    s.resize(len, 0.0);
                    f(&mut s[..len])
                })
            }
        }
    };
}
products!(f32, matrixmultiply::sgemm, SCRATCH_F32);
products!(f64, matrixmultiply::dgemm, SCRATCH_F64);

#[cfg(test)]
mod tests {
    use super::*;

    /// The property the lanes rely on: a column of a product gets the same bits whether it is
    /// computed alone or among 16 (at any place), for A and for A^T as the left factor, in f32
    /// and f64, at shapes with partial tiles.
    #[test]
    fn a_column_gets_the_same_bits_alone_and_in_a_pack() {
        column_bits::<f32>();
        column_bits::<f64>();
    }

    fn column_bits<T: Products + std::fmt::Debug>() {
        for (m, k) in [(128, 32), (37, 301), (700, 19)] {
            let a: Vec<T> = crate::rng::data_normals(1, m as u32, m * k).into_iter().map(crate::objective::to_float).collect();
            let n = 16;
            let x: Vec<T> = crate::rng::data_normals(2, k as u32, k.max(m) * n).into_iter().map(crate::objective::to_float).collect();
            // Left factor A (m x k, strides k, 1) and A^T (k x m, strides 1, k).
            for (rows, inner, rs, cs) in [(m, k, k as isize, 1), (k, m, 1, k as isize)] {
                let mut c = vec![T::zero(); rows * n];
                // SAFETY: a holds m k values, x at least inner n, c rows n.
                unsafe { T::product(rows, inner, n, T::one(), (a.as_ptr(), rs, cs), (x.as_ptr(), n as isize, 1), (c.as_mut_ptr(), n as isize, 1)) };
                for l in 0..n {
                    let col: Vec<T> = (0..inner).map(|i| x[i * n + l]).collect();
                    let mut alone = vec![T::zero(); rows];
                    // SAFETY: as above, one column.
                    unsafe { T::product(rows, inner, 1, T::one(), (a.as_ptr(), rs, cs), (col.as_ptr(), 1, 1), (alone.as_mut_ptr(), 1, 1)) };
                    let packed: Vec<T> = (0..rows).map(|i| c[i * n + l]).collect();
                    assert!(packed.iter().zip(&alone).all(|(p, q)| p == q), "{m}x{k}, column {l}: {:?} vs {:?}", &packed[..3], &alone[..3]);
                }
            }
        }
    }
}
