//! Phase retrieval f(x) = 1/(4m) sum_i ((a_i.x)^2 - y_i)^2 with y_i = (a_i.x*)^2: a strict saddle
//! at 0, global minima +-x*. A finite sum (minibatch oracles sample its m terms). The data (A, y)
//! is shared read-only by all chains on the device.

use super::{Curvature, DeviceForm, Eval, FiniteSum, LANES, Lanes, Objective, capabilities, to_float, wgsl_real};
use super::data::{Matrix, expect_shape};
use super::products::Products;
use crate::method::{PgdParams, Rho};
use crate::{Error, rng};
use num_traits::Float;

/// Phase retrieval. Label 1 once x is within 25 degrees of +-x* (|cos| >= 0.9), 0 before; 0
/// always when x* is unknown (data from files).
#[derive(Clone, Debug)]
pub struct PhaseRetrieval {
    d: usize,
    m: usize,
    a: Vec<f64>,
    /// A rounded to f32 once, for the f32 lanes (the scalar path rounds each use the same way).
    a32: Vec<f32>,
    y: Vec<f64>,
    x_star: Option<Vec<f64>>,
    /// Whether f(x*) = 0: generated data, or given data that x* fits exactly (f_min).
    exact: bool,
}

impl PhaseRetrieval {
    /// a_i ~ N(0, I_d), x* uniform on the unit sphere, y_i = (a_i.x*)^2, all from `seed`.
    pub fn generate(d: usize, m: usize, seed: u64) -> Result<Self, Error> {
        if d == 0 {
            return Err(Error::invalid("dim", "an integer >= 1", d));
        }
        if m == 0 {
            return Err(Error::invalid("m", "an integer >= 1", m));
        }
        super::data::fits_host(m.checked_mul(d).and_then(|v| v.checked_add(m)), "A is m x d: --m and --dim")?;
        let a = rng::data_normals(seed, 0, m * d);
        let mut x_star = rng::data_normals(seed, 1, d);
        let norm = x_star.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-300);
        x_star.iter_mut().for_each(|v| *v /= norm);
        let y = (0..m).map(|i| (0..d).map(|j| a[i * d + j] * x_star[j]).sum::<f64>().powi(2)).collect();
        Ok(PhaseRetrieval { d, m, a32: a.iter().map(|&v| v as f32).collect(), a, y, x_star: Some(x_star), exact: true })
    }

    /// From a measurement matrix A (m x d) and measurements y (m values).
    pub fn from_data(a: Matrix, y: Matrix) -> Result<Self, Error> {
        if y.cols == 1 && y.rows == a.cols && y.rows != a.rows {
            // The shapes of a transposed A: name A, not y (whose length is right for A's m x d).
            return Err(Error::invalid(
                "A",
                format!("m x d, a row per measurement: {} x d for the {} values of y", y.rows, y.rows),
                format!("{} x {} (did you pass A transposed?)", a.rows, a.cols),
            ));
        }
        expect_shape(&y, "y", Some(a.rows), Some(1))?;
        if let Some(bad) = y.data.iter().find(|v| **v < 0.0) {
            return Err(Error::invalid("y", "squared magnitudes >= 0", bad));
        }
        Ok(PhaseRetrieval { d: a.cols, m: a.rows, a32: a.data.iter().map(|&v| v as f32).collect(), a: a.data, y: y.data, x_star: None, exact: false })
    }

    /// The data's own solution x* (d values, as a d x 1 or 1 x d matrix; None: none known), so
    /// that labels mean "near +-x*" as for generated data. f_min is 0 only where x* fits the
    /// measurements exactly (f(x*) <= 1e-12 (1 + mean y^2)); with noisy y it is unknown.
    pub fn with_solution(mut self, x_star: Option<Matrix>) -> Result<Self, Error> {
        let Some(xs) = x_star else { return Ok(self) };
        if xs.data.len() != self.d || (xs.rows != 1 && xs.cols != 1) {
            return Err(Error::invalid("x_star", format!("d = {} values (the columns of A)", self.d), format!("{} x {}", xs.rows, xs.cols)));
        }
        if xs.data.iter().all(|v| *v == 0.0) {
            return Err(Error::invalid("x_star", "a nonzero vector (labels measure the angle to it)", "all zeros"));
        }
        let mut g = vec![0.0; self.d];
        let f = self.eval::<f64>(&xs.data, &mut g).value;
        let scale = 1.0 + self.y.iter().map(|v| v * v).sum::<f64>() / self.m as f64;
        self.exact = f <= 1e-12 * scale;
        // Kept at unit norm, as generated: the label compares (x.x*)^2 with 0.81 |x|^2.
        let norm = xs.data.iter().map(|v| v * v).sum::<f64>().sqrt();
        self.x_star = Some(xs.data.iter().map(|v| v / norm).collect());
        Ok(self)
    }

    /// The planted solution, when generated.
    pub fn x_star(&self) -> Option<&[f64]> {
        self.x_star.as_deref()
    }

    /// Value, label and gradient, generic over the float type.
    pub fn eval<T: Float>(&self, x: &[T], g: &mut [T]) -> Eval<T> {
        let d = self.d;
        g.iter_mut().for_each(|v| *v = T::zero());
        let mut f = T::zero();
        for k in 0..self.m {
            let row = &self.a[k * d..(k + 1) * d];
            let mut ax = T::zero();
            for i in 0..d {
                ax = ax + to_float::<T>(row[i]) * x[i];
            }
            let r = ax * ax - to_float::<T>(self.y[k]);
            f = f + r * r;
            let w = r * ax;
            for i in 0..d {
                g[i] = g[i] + w * to_float::<T>(row[i]);
            }
        }
        let inv_m = to_float::<T>(1.0 / self.m as f64);
        g.iter_mut().for_each(|v| *v = *v * inv_m);
        Eval { value: f * to_float::<T>(0.25 / self.m as f64), label: self.label(x.iter().copied()), in_domain: true }
    }

    /// [`PhaseRetrieval::eval`] for [`LANES`] points side by side (each row of A read once for all
    /// lanes, each lane bit for bit the scalar path: see `sums_lanes`).
    pub fn eval_lanes<T: Float + 'static>(&self, x: &[[T; LANES]], g: &mut [[T; LANES]]) -> [Eval<T>; LANES] {
        let a = self.a_in::<T>();
        // The sums run on SUM_LANES lanes at a time (all of them since the sums take four rows
        // of A at once: BENCHMARKS.md, "Phase retrieval's sums, four rows at a time").
        let mut f = [T::zero(); LANES];
        let (mut xh, mut gh) = (vec![[T::zero(); SUM_LANES]; self.d], vec![[T::zero(); SUM_LANES]; self.d]);
        for h in (0..LANES).step_by(SUM_LANES) {
            xh.iter_mut().zip(x).for_each(|(part, row)| part.copy_from_slice(&row[h..h + SUM_LANES]));
            f[h..h + SUM_LANES].copy_from_slice(&sums_lanes(&a, &self.y, &xh, &mut gh));
            g.iter_mut().zip(&gh).for_each(|(row, part)| row[h..h + SUM_LANES].copy_from_slice(part));
        }
        let inv_m = to_float::<T>(1.0 / self.m as f64);
        g.iter_mut().for_each(|row| row.iter_mut().for_each(|v| *v = *v * inv_m));
        let scale = to_float::<T>(0.25 / self.m as f64);
        std::array::from_fn(|l| Eval { value: f[l] * scale, label: self.label(x.iter().map(|row| row[l])), in_domain: true })
    }

    /// [`PhaseRetrieval::eval`] as two matrix products, for the `n` points in the columns of `x`
    /// (d x n, row-major; `g` likewise): Z = A X, W = (Z o Z - y) o Z, G = A^T W / m. The sums
    /// over i and over k run in the products' order (blocked, with FMA where the CPU has it), so
    /// they agree with the loop to rounding (tested), not bit for bit; a column gets the same bits
    /// whatever n and its place (the products' property), so one point alone and a pack agree.
    fn eval_products<T: Products>(&self, x: &[T], g: &mut [T], n: usize) -> Vec<T> {
        let (d, m) = (self.d, self.m);
        let a = self.a_in::<T>();
        let mut f = vec![T::zero(); n];
        T::with_scratch(m * n, |z| {
            let (di, ni) = (d as isize, n as isize);
            // SAFETY: A is m x d row-major (strides d, 1) and A^T d x m (1, d); x, z and g are
            // d x n, m x n and d x n row-major (n, 1), each its own allocation.
            unsafe { T::product(m, d, n, T::one(), (a.as_ptr(), di, 1), (x.as_ptr(), ni, 1), (z.as_mut_ptr(), ni, 1)) };
            for (row, yk) in z.chunks_exact_mut(n).zip(&self.y) {
                let yk = to_float::<T>(*yk);
                for (zl, fl) in row.iter_mut().zip(f.iter_mut()) {
                    let r = *zl * *zl - yk;
                    *fl = *fl + r * r;
                    *zl = r * *zl;
                }
            }
            // SAFETY: as above.
            unsafe { T::product(d, m, n, T::one(), (a.as_ptr(), 1, di), (z.as_ptr(), ni, 1), (g.as_mut_ptr(), ni, 1)) };
        });
        // Scaled here, not by the product's alpha: sgemm applies an alpha other than 1 in
        // different ways for full and partial tiles, which would make a lane's bits depend on n.
        let inv_m = to_float::<T>(1.0 / m as f64);
        g.iter_mut().for_each(|v| *v = *v * inv_m);
        let scale = to_float::<T>(0.25 / m as f64);
        f.iter_mut().for_each(|v| *v = *v * scale);
        f
    }

    /// Lanes through [`PhaseRetrieval::eval_products`].
    fn eval_lanes_products<T: Products>(&self, x: &[[T; LANES]], g: &mut [[T; LANES]]) -> [Eval<T>; LANES] {
        let f = self.eval_products(x.as_flattened(), g.as_flattened_mut(), LANES);
        std::array::from_fn(|l| Eval { value: f[l], label: self.label(x.iter().map(|row| row[l])), in_domain: true })
    }

    /// One point through [`PhaseRetrieval::eval_products`].
    fn eval_one_product<T: Products>(&self, x: &[T], g: &mut [T]) -> Eval<T> {
        let f = self.eval_products(x, g, 1);
        Eval { value: f[0], label: self.label(x.iter().copied()), in_domain: true }
    }

    /// Whether the twins evaluate as matrix products: from d = [`PRODUCTS_FROM_D`] on.
    fn products(&self) -> bool {
        self.d >= PRODUCTS_FROM_D
    }

    /// A in T: rounded to f32 once for f32 (the same bits as rounding each use).
    fn a_in<T: Float + 'static>(&self) -> std::borrow::Cow<'_, [T]> {
        let (a32, a64): (&dyn std::any::Any, &dyn std::any::Any) = (&self.a32, &self.a);
        match a32.downcast_ref::<Vec<T>>().or_else(|| a64.downcast_ref::<Vec<T>>()) {
            Some(v) => std::borrow::Cow::Borrowed(v),
            None => self.a.iter().map(|&v| to_float::<T>(v)).collect(),
        }
    }

    /// 1 within 25 degrees of +-x* (|cos| >= 0.9), else 0 (always 0 without x*).
    fn label<T: Float>(&self, x: impl Iterator<Item = T> + Clone) -> u32 {
        let Some(xs) = &self.x_star else { return 0 };
        let (mut dot, mut n2) = (T::zero(), T::zero());
        for (xi, s) in x.zip(xs) {
            dot = dot + xi * to_float::<T>(*s);
            n2 = n2 + xi * xi;
        }
        u32::from(dot * dot >= to_float::<T>(0.81) * n2 && n2 > T::zero())
    }
}

/// From this d on the CPU twins evaluate as matrix products (`PhaseRetrieval::eval_products`);
/// below it a pack's loop over rows (`sums_lanes`) is faster (16 lanes, one thread: d = 8, m = 80
/// products 0.83x the loop; d = 16, m = 64 1.6x; d = 32, m = 128 1.9x; d = 256, m = 2048 1.9x).
pub const PRODUCTS_FROM_D: usize = 16;

/// Workgroup memory the WGSL copies the first rows of A into (WebGPU's guaranteed minimum).
const PR_WORKGROUP_BYTES: usize = 16_384;

impl PhaseRetrieval {
    /// Where the WGSL finds things in [`Objective::data`] (floats): the stride of A's rows (d
    /// rounded up to a multiple of 4, so each row starts on a vec4) and the offset of y; x*
    /// follows y at the next vec4.
    fn layout(&self) -> (usize, usize) {
        let row = self.d.next_multiple_of(4);
        (row, row * self.m)
    }

    /// The constants both WGSL forms read: m, the layout of `data`, 1/m, 1/(4m), whether x* is known.
    fn wgsl_constants(&self) -> String {
        let (row, y) = self.layout();
        format!(
            "const PR_M: u32 = {}u;\nconst PR_ROW: u32 = {row}u;\nconst PR_Y: u32 = {y}u;\nconst PR_XSTAR: u32 = {}u;\n\
             const PR_INV_M: real = {};\nconst PR_INV_4M: real = {};\nconst PR_HAS_XSTAR: bool = {};\n",
            self.m,
            y + self.m.next_multiple_of(4),
            wgsl_real(1.0 / self.m as f64),
            wgsl_real(0.25 / self.m as f64),
            self.x_star.is_some(),
        )
    }

    /// The WGSL `objective`, unrolled over the d coordinates: x and the gradient's partial sums
    /// live in named registers and each row of A arrives in d/4 vec4 loads. On lavapipe a private
    /// array indexed by a loop counter is a per-lane gather or scatter, and a storage load costs
    /// several times the multiply-add it feeds: unrolled, the evaluation runs about 1.7x faster,
    /// vec4 loads give as much again, and the rows that fit in 16 KiB of workgroup memory
    /// (copied once per dispatch by `objective_load`, where reads are not bounds-checked) another
    /// 1.2x (BENCHMARKS.md). Same operations in the same order as
    /// [`PhaseRetrieval::eval`]: a.x summed over i in order, the gradient over rows in order.
    fn wgsl_objective(&self) -> String {
        use std::fmt::Write;
        let (d, row) = (self.d, self.layout().0);
        let a = |i: usize| format!("real(q{}.{})", i / 4, ['x', 'y', 'z', 'w'][i % 4]);
        // The first rows of A from the workgroup's copy (at most 16 KiB, WebGPU's guaranteed
        // workgroup storage), the rest from `data`.
        let cached = (PR_WORKGROUP_BYTES / (4 * row)).min(self.m);
        let mut s = String::new();
        if cached > 0 {
            let n = cached * row / 4;
            let _ = writeln!(s, "var<workgroup> pr_rows: array<vec4<f32>, {n}>;");
            let _ = writeln!(s, "fn objective_load(lid: u32) {{\n    for (var j = lid; j < {n}u; j += WG) {{\n        pr_rows[j] = data[j];\n    }}\n}}");
        }
        s += "fn objective(x: ptr<private, array<real, D>>, g: ptr<private, array<real, D>>) -> Eval {\n";
        for i in 0..d {
            let _ = writeln!(s, "    let x{i} = (*x)[{i}];\n    var g{i}: real = 0.0;");
        }
        s += "    var f: real = 0.0;\n";
        for (rows, from) in [(0..cached, "pr_rows"), (cached..self.m, "data")] {
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(s, "    for (var k = {}u; k < {}u; k++) {{\n        let b = k * {}u;", rows.start, rows.end, row / 4);
            for j in 0..row / 4 {
                let _ = writeln!(s, "        let q{j} = {from}[b + {j}u];");
            }
            s += "        var ax: real = 0.0;\n";
            for i in 0..d {
                let _ = writeln!(s, "        ax = ax + {} * x{i};", a(i));
            }
            s += "        let r = ax * ax - pr_at(PR_Y + k);\n        f = f + r * r;\n        let w = r * ax;\n";
            for i in 0..d {
                let _ = writeln!(s, "        g{i} = g{i} + w * {};", a(i));
            }
            s += "    }\n";
        }
        for i in 0..d {
            let _ = writeln!(s, "    (*g)[{i}] = g{i} * PR_INV_M;");
        }
        s + "    return Eval(f * PR_INV_4M, pr_label(x), 1u);\n}\n"
    }

    /// Adds the gradient of term k, ((a_k.x)^2 - y_k)(a_k.x) a_k, to `acc` (data in T, as `eval`).
    fn term_grad<T: Float>(&self, x: &[T], k: u32, acc: &mut [T]) {
        let d = self.d;
        let row = &self.a[k as usize * d..(k as usize + 1) * d];
        let data = |v: f64| to_float::<T>(v);
        let mut ax = T::zero();
        for i in 0..d {
            ax = ax + data(row[i]) * x[i];
        }
        let w = (ax * ax - data(self.y[k as usize])) * ax;
        for i in 0..d {
            acc[i] = acc[i] + w * data(row[i]);
        }
    }
}

impl Objective for PhaseRetrieval {
    fn name(&self) -> &'static str {
        "phase-retrieval"
    }
    fn dim(&self) -> usize {
        self.d
    }
    fn eval_f64(&self, x: &[f64], g: &mut [f64]) -> Eval<f64> {
        if self.products() { self.eval_one_product(x, g) } else { self.eval(x, g) }
    }
    fn eval_f32(&self, x: &[f32], g: &mut [f32]) -> Eval<f32> {
        if self.products() { self.eval_one_product(x, g) } else { self.eval(x, g) }
    }
    fn params(&self) -> serde_json::Value {
        serde_json::json!({ "dim": self.d, "m": self.m, "planted": self.x_star.is_some() })
    }
    fn default_params(&self) -> PgdParams {
        PgdParams { eta: 0.1, radius: 0.01, g_thres: 1e-3, f_thres: 1e-4, t_thres: 20, certify: 0 }
    }
    fn minimum_labels(&self) -> Vec<u32> {
        // Label 1 (near +-x*) exists only when x* is known.
        if self.x_star.is_some() { vec![1] } else { Vec::new() }
    }
    fn f_min(&self) -> Option<f64> {
        self.exact.then_some(0.0)
    }
    /// rho1(F) = (1/m) sum ||a_i||^2 (4 y_i + 6 sqrt(m F)), from (a_i.x)^2 <= y_i + 2 sqrt(m f);
    /// rho2(F) = (6/m) sum ||a_i||^3 (sqrt(y_i) + sqrt(2) (m F)^(1/4)) bounds the third derivative
    /// (6/m) sum |a_i.x| (a_i.u)^3 the same way (derived, not from the paper).
    fn rho(&self) -> Option<(Rho, Rho)> {
        let d = self.d;
        let m = self.m as f64;
        let n2: Vec<f64> = (0..self.m).map(|k| self.a[k * d..(k + 1) * d].iter().map(|v| v * v).sum()).collect();
        let a1 = 4.0 / m * n2.iter().zip(&self.y).map(|(n, y)| n * y).sum::<f64>();
        let b1 = 6.0 / m.sqrt() * n2.iter().sum::<f64>();
        let n3: Vec<f64> = n2.iter().map(|n| n.powf(1.5)).collect();
        let a2 = 6.0 / m * n3.iter().zip(&self.y).map(|(n, y)| n * y.sqrt()).sum::<f64>();
        let b2 = 6.0 * 2f64.sqrt() * m.powf(0.25) / m * n3.iter().sum::<f64>();
        Some((Rho { a: a1, b: b1, p: 0.5, fmin: 0.0 }, Rho { a: a2, b: b2, p: 0.25, fmin: 0.0 }))
    }
    capabilities!(device, finite_sum, curvature, lanes);
}

impl DeviceForm for PhaseRetrieval {
    fn wgsl(&self) -> String {
        self.wgsl_constants() + include_str!("phase_retrieval.wgsl") + &self.wgsl_objective()
    }
    fn wgsl_lanes(&self) -> Option<String> {
        Some(self.wgsl_constants() + include_str!("phase_retrieval.coop.wgsl"))
    }
    fn data(&self) -> Vec<f32> {
        // The layout phase_retrieval.wgsl reads (see PhaseRetrieval::layout).
        let (row, y) = self.layout();
        let mut v: Vec<f32> = self.a.chunks_exact(self.d).flat_map(|r| r.iter().map(|&x| x as f32).chain(std::iter::repeat_n(0.0, row - self.d))).collect();
        v.extend(self.y.iter().map(|&x| x as f32));
        v.resize(y + self.m.next_multiple_of(4), 0.0);
        v.extend(self.x_star.iter().flatten().map(|&x| x as f32));
        v.resize(v.len().next_multiple_of(4), 0.0);
        v
    }
    fn data_vec4(&self) -> bool {
        true
    }
}

impl FiniteSum for PhaseRetrieval {
    fn terms(&self) -> u32 {
        self.m as u32
    }
    fn term_grad_f32(&self, x: &[f32], k: u32, acc: &mut [f32]) {
        self.term_grad(x, k, acc);
    }
    fn term_grad_f64(&self, x: &[f64], k: u32, acc: &mut [f64]) {
        self.term_grad(x, k, acc);
    }
}

impl Curvature for PhaseRetrieval {
    /// H v = (1/m) sum_k (3 (a_k.x)^2 - y_k) (a_k.v) a_k: one pass over A, exact (the judging of
    /// resting points otherwise takes two gradients per product by central differences).
    fn hvp_f64(&self, x: &[f64], v: &[f64], out: &mut [f64]) {
        out.iter_mut().for_each(|o| *o = 0.0);
        for (row, yk) in self.a.chunks_exact(self.d).zip(&self.y) {
            let (mut ax, mut av) = (0.0, 0.0);
            for ((a, xi), vi) in row.iter().zip(x).zip(v) {
                ax += a * xi;
                av += a * vi;
            }
            let w = (3.0 * ax * ax - yk) * av;
            out.iter_mut().zip(row).for_each(|(o, a)| *o += w * a);
        }
        let inv_m = 1.0 / self.m as f64;
        out.iter_mut().for_each(|o| *o *= inv_m);
    }
    fn hvp_lanes_f64(&self, x: &[[f64; LANES]], v: &[[f64; LANES]], out: &mut [[f64; LANES]]) -> bool {
        hvp_lanes(&self.a, &self.y, x, v, out);
        let inv_m = 1.0 / self.m as f64;
        out.iter_mut().for_each(|row| row.iter_mut().for_each(|o| *o *= inv_m));
        true
    }
}

impl Lanes for PhaseRetrieval {
    fn eval_lanes_f32(&self, x: &[[f32; LANES]], g: &mut [[f32; LANES]]) -> [Eval<f32>; LANES] {
        if self.products() { self.eval_lanes_products(x, g) } else { self.eval_lanes(x, g) }
    }
    fn eval_lanes_f64(&self, x: &[[f64; LANES]], g: &mut [[f64; LANES]]) -> [Eval<f64>; LANES] {
        if self.products() { self.eval_lanes_products(x, g) } else { self.eval_lanes(x, g) }
    }
}

#[cfg(test)]
mod tests;

/// The unscaled sums of [`Objective::hvp_f64`] for [`LANES`] points and directions side by side:
/// each row of A read once for all lanes, every lane the scalar product's operations in its order.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2", "aarch64+neon"))]
fn hvp_lanes(a: &[f64], y: &[f64], x: &[[f64; LANES]], v: &[[f64; LANES]], out: &mut [[f64; LANES]]) {
    let d = x.len();
    out.iter_mut().for_each(|row| *row = [0.0; LANES]);
    for (row, yk) in a.chunks_exact(d).zip(y) {
        let (mut ax, mut av) = ([0.0f64; LANES], [0.0f64; LANES]);
        for ((a, xi), vi) in row.iter().zip(x).zip(v) {
            for l in 0..LANES {
                ax[l] += a * xi[l];
                av[l] += a * vi[l];
            }
        }
        let mut w = [0.0f64; LANES];
        for l in 0..LANES {
            w[l] = (3.0 * ax[l] * ax[l] - yk) * av[l];
        }
        for (a, o) in row.iter().zip(out.iter_mut()) {
            for l in 0..LANES {
                o[l] += w[l] * a;
            }
        }
    }
}

/// Lanes of one call of `sums_lanes` (a divisor of [`LANES`]).
const SUM_LANES: usize = 16;

/// The sums of [`PhaseRetrieval::eval`] for [`SUM_LANES`] points side by side: sum_k r_k^2 per lane
/// returned, sum_k r_k (a_k.x) a_k into `g` (unscaled), r_k = (a_k.x)^2 - y_k. Each row of A is
/// read once for all lanes, and every lane does exactly the scalar path's operations in its order
/// (the loops over lanes vectorise; results are bit for bit the scalar ones, tested). Built for
/// the widest vector unit the CPU has, picked at run time: Rust never fuses a multiply and an add
/// on its own, so every build gives the same bits.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2", "aarch64+neon"))]
fn sums_lanes<T: Float>(a: &[T], y: &[f64], x: &[[T; SUM_LANES]], g: &mut [[T; SUM_LANES]]) -> [T; SUM_LANES] {
    let d = x.len();
    g.iter_mut().for_each(|row| *row = [T::zero(); SUM_LANES]);
    let mut f = [T::zero(); SUM_LANES];
    // ROWS rows of A at a time: x and g are loaded (and g stored) once per ROWS rows instead of
    // once per row, and ROWS independent sums hide the adds' latency. Each lane's sums still run
    // over i (A x) and over k (the gradient) in the scalar path's order, so the bits are the same.
    const ROWS: usize = 4;
    let whole = y.len() / ROWS * ROWS;
    for (block, yb) in a[..whole * d].chunks_exact(ROWS * d).zip(y.chunks_exact(ROWS)) {
        let rows: [&[T]; ROWS] = std::array::from_fn(|j| &block[j * d..(j + 1) * d]);
        let mut ax = [[T::zero(); SUM_LANES]; ROWS];
        for (i, xi) in x.iter().enumerate() {
            for (axj, row) in ax.iter_mut().zip(&rows) {
                let a = row[i];
                for l in 0..SUM_LANES {
                    axj[l] = axj[l] + a * xi[l];
                }
            }
        }
        let mut w = [[T::zero(); SUM_LANES]; ROWS];
        for ((wj, axj), yk) in w.iter_mut().zip(&ax).zip(yb) {
            let yk = to_float::<T>(*yk);
            for l in 0..SUM_LANES {
                let r = axj[l] * axj[l] - yk;
                f[l] = f[l] + r * r;
                wj[l] = r * axj[l];
            }
        }
        for (i, gi) in g.iter_mut().enumerate() {
            for (wj, row) in w.iter().zip(&rows) {
                let a = row[i];
                for l in 0..SUM_LANES {
                    gi[l] = gi[l] + wj[l] * a;
                }
            }
        }
    }
    // The rows left over, one at a time.
    for (row, yk) in a[whole * d..].chunks_exact(d).zip(&y[whole..]) {
        let mut ax = [T::zero(); SUM_LANES];
        for (a, xi) in row.iter().zip(x) {
            let a = *a;
            for l in 0..SUM_LANES {
                ax[l] = ax[l] + a * xi[l];
            }
        }
        let yk = to_float::<T>(*yk);
        let mut w = [T::zero(); SUM_LANES];
        for l in 0..SUM_LANES {
            let r = ax[l] * ax[l] - yk;
            f[l] = f[l] + r * r;
            w[l] = r * ax[l];
        }
        for (a, gi) in row.iter().zip(g.iter_mut()) {
            let a = *a;
            for l in 0..SUM_LANES {
                gi[l] = gi[l] + w[l] * a;
            }
        }
    }
    f
}
