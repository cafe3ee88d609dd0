//! Deep linear network / asymmetric factorization
//! f = 1/2 ||A_1 A_2 ... A_L - Y||_F^2 + kappa/4 sum_l ||A_l||_F^4, A_1 in R^{n x r},
//! A_2 .. A_{L-1} in R^{r x r}, A_L in R^{r x p}, x = [vec(A_1); ...; vec(A_L)] row-major (in the
//! network's order W_L ... W_1: A_1 = W_L is the output layer, A_L = W_1 the input layer, the
//! inputs the identity). Depth L = 2 is the two-layer f(W, H) = 1/2 ||W H - Y||^2 + kappa/4
//! (||W||^4 + ||H||^4) with W = A_1, H = A_2. Saddle at the origin: strict for L = 2 (Hessian
//! eigenvalues +-sigma_i(Y)), Hessian 0 for L >= 3 (Kawaguchi 2016; docs/theory.md, section 2).
//! With kappa = 0 it is NOT self-bounding: (W D, D^-1 H) keeps f while the Hessian grows.

use super::{DeviceForm, Eval, Objective, capabilities, to_float, wgsl_real};
use super::data::Matrix;
use super::products::Products;
use crate::method::PgdParams;
use crate::{Error, linalg, rng};
use num_traits::Float;
use std::fmt::Write as _;

/// The linear network. Label at depth 2: 0 (no regions); at depth L >= 3: the number of
/// singular values of Y the end-to-end product has learned, read off the data loss (the
/// staircase: [`LinearNetwork::staircase`]).
#[derive(Clone, Debug)]
pub struct LinearNetwork {
    n: usize,
    r: usize,
    p: usize,
    depth: usize,
    kappa: f64,
    y: Vec<f64>,
    /// Y rounded to f32 once, for the f32 twin's matrix products.
    y32: Vec<f32>,
    singular_values: Vec<f64>,
    /// The label's thresholds on the data loss, decreasing (depth >= 3; empty at depth 2).
    stairs: Vec<f64>,
}

impl LinearNetwork {
    /// Y with i.i.d. N(0, 1/p) entries from `seed`; depth 2 (see [`LinearNetwork::with_depth`]).
    pub fn generate(n: usize, r: usize, p: usize, kappa: f64, seed: u64) -> Result<Self, Error> {
        if p == 0 {
            return Err(Error::invalid("p", "an integer >= 1", p));
        }
        super::data::fits_host(n.checked_mul(p), "Y is n x p: --dim and --p")?;
        let scale = 1.0 / (p.max(1) as f64).sqrt();
        let y = rng::data_normals(seed, 0, n * p).into_iter().map(|v| v * scale).collect();
        Self::from_target(Matrix { rows: n, cols: p, data: y }, r, kappa)
    }

    /// From a target Y (n x p), inner width r and regularization kappa >= 0; depth 2.
    pub fn from_target(y: Matrix, r: usize, kappa: f64) -> Result<Self, Error> {
        let (n, p) = (y.rows, y.cols);
        if r == 0 {
            return Err(Error::invalid("rank", "an integer >= 1", r));
        }
        if !(kappa.is_finite() && kappa >= 0.0) {
            return Err(Error::invalid("kappa", "a finite number >= 0", kappa));
        }
        super::data::fits_host(n.checked_mul(n).and_then(|v| v.checked_mul(2)), "Y Y^T is n x n: the rows of Y")?;
        let mut yyt = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                yyt[i * n + j] = (0..p).map(|k| y.at(i, k) * y.at(j, k)).sum();
            }
        }
        let (ev, _) = linalg::sym_eigen(&yyt, n);
        let singular_values = ev.iter().map(|v| v.max(0.0).sqrt()).collect();
        Ok(LinearNetwork { n, r, p, depth: 2, kappa, y32: y.data.iter().map(|&v| v as f32).collect(), y: y.data, singular_values, stairs: Vec::new() })
    }

    /// The same network with `depth` >= 2 weight matrices (hidden widths all r).
    pub fn with_depth(mut self, depth: usize) -> Result<Self, Error> {
        if depth < 2 {
            return Err(Error::invalid("depth", "an integer >= 2 (weight matrices; 2: W H)", depth));
        }
        let hidden = depth.checked_sub(2).and_then(|h| h.checked_mul(self.r)).and_then(|h| h.checked_mul(self.r));
        let d = hidden.and_then(|h| h.checked_add(self.n.checked_mul(self.r)?)).and_then(|h| h.checked_add(self.r.checked_mul(self.p)?));
        super::data::fits_host(d, "the weights: --dim, --rank, --p and --depth")?;
        self.depth = depth;
        self.stairs = if depth > 2 { Self::staircase(&self.singular_values, self.r.min(self.p)) } else { Vec::new() };
        Ok(self)
    }

    /// The label's thresholds for singular values sigma_1 >= sigma_2 >= ... of Y and at most
    /// `width` learned: t_k = 1/2 (sum_{i>k} sigma_i^2 + sigma_k^2 / 2), halfway between the data
    /// loss with k - 1 and with k singular values learned (the values at the saddles the
    /// unregularised network climbs down). Label = #{k : data loss < t_k}.
    pub fn staircase(singular_values: &[f64], width: usize) -> Vec<f64> {
        let k_max = width.min(singular_values.len());
        (1..=k_max).map(|k| 0.5 * (singular_values[k..].iter().map(|s| s * s).sum::<f64>() + 0.5 * singular_values[k - 1] * singular_values[k - 1])).collect()
    }

    /// Where weight matrix `k` (0-based: A_{k+1}) starts in x.
    fn offset(&self, k: usize) -> usize {
        if k == 0 { 0 } else { self.n * self.r + (k - 1) * self.r * self.r }
    }

    /// The label of data loss `loss` (half the squared residual): the thresholds it is below.
    fn label<T: Float>(&self, loss: T) -> u32 {
        self.stairs.iter().filter(|&&t| loss < to_float::<T>(t)).count() as u32
    }

    /// Value and gradient, generic over the float type, row by row of Y: the rows i of the
    /// prefix products A_1 ... A_k, the residual row, then back through the layers (the WGSL
    /// twins' order; at depth 2 exactly the two-layer loop's operations).
    pub fn eval<T: Float>(&self, x: &[T], g: &mut [T]) -> Eval<T> {
        let (n, r, p, depth) = (self.n, self.r, self.p, self.depth);
        let last = self.offset(depth - 1);
        g.iter_mut().for_each(|v| *v = T::zero());
        // u: rows i of A_1 ... A_{k+1}, k = 0 .. depth - 2; v: the residual row propagated back
        // to a layer's output; w: the next such row. On the stack when small: this loop serves
        // the small sizes, where an allocation per evaluation would cost as much as the sums.
        let len = depth * r + r;
        let (mut stack, mut heap) = ([T::zero(); 64], Vec::new());
        let s: &mut [T] = if len <= stack.len() {
            &mut stack[..len]
        } else {
            heap.resize(len, T::zero());
            &mut heap
        };
        let (u, vw) = s.split_at_mut((depth - 1) * r);
        let (v, w) = vw.split_at_mut(r);
        let mut f = T::zero();
        for i in 0..n {
            u[..r].copy_from_slice(&x[i * r..(i + 1) * r]);
            for k in 1..depth - 1 {
                let o = self.offset(k);
                let (before, after) = u.split_at_mut(k * r);
                let input = &before[(k - 1) * r..];
                for b in 0..r {
                    let mut sum = T::zero();
                    for a in 0..r {
                        sum = sum + input[a] * x[o + a * r + b];
                    }
                    after[b] = sum;
                }
            }
            let top = &u[(depth - 2) * r..];
            v.iter_mut().for_each(|e| *e = T::zero());
            for j in 0..p {
                let mut res = T::zero();
                for a in 0..r {
                    res = res + top[a] * x[last + a * p + j];
                }
                res = res - to_float::<T>(self.y[i * p + j]);
                f = f + res * res;
                for a in 0..r {
                    g[last + a * p + j] = g[last + a * p + j] + top[a] * res;
                    v[a] = v[a] + res * x[last + a * p + j];
                }
            }
            for k in (1..depth - 1).rev() {
                let o = self.offset(k);
                for a in 0..r {
                    let mut sum = T::zero();
                    for b in 0..r {
                        g[o + a * r + b] = g[o + a * r + b] + u[(k - 1) * r + a] * v[b];
                        sum = sum + x[o + a * r + b] * v[b];
                    }
                    w[a] = sum;
                }
                v.copy_from_slice(w);
            }
            for b in 0..r {
                g[i * r + b] = g[i * r + b] + v[b];
            }
        }
        self.regularise(x, g, f)
    }
}

/// From this many multiply-adds in W H (n r p) on the twins evaluate with matrix products
/// (`eval_products`); below it the loop of [`LinearNetwork::eval`], the WGSL twins' order.
pub const PRODUCTS_FROM: usize = 4096;

impl LinearNetwork {
    /// Value and gradient as matrix products: the prefixes P_k = A_1 ... A_k (n x r), E = P_{L-1}
    /// A_L - Y, g_L = P_{L-1}^T E, D = E A_L^T, then per hidden layer g_k = P_{k-1}^T D and
    /// D <- D A_k^T, g_1 = D (at depth 2: E = W H - Y, g_W = E H^T, g_H = W^T E), plus the
    /// regulariser's terms as in the loop. The sums run in the products' order: floats agree
    /// with [`LinearNetwork::eval`] to rounding (tested), not bit for bit.
    fn eval_products<T: Products>(&self, x: &[T], g: &mut [T], y: &[T]) -> Eval<T> {
        let (n, r, p, depth) = (self.n, self.r, self.p, self.depth);
        let (ri, pi) = (r as isize, p as isize);
        let (nr, np) = (n * r, n * p);
        let hidden = depth - 2;
        // Scratch: the prefixes P_2 .. P_{L-1}, E, and D twice (taken in turn).
        let f = T::with_scratch(hidden * nr + np + if hidden > 0 { 2 * nr } else { 0 }, |s| {
            let (pre, rest) = s.split_at_mut(hidden * nr);
            let (e, d) = rest.split_at_mut(np);
            let (xp, gp, dp) = (x.as_ptr(), g.as_mut_ptr(), d.as_mut_ptr());
            // P_k for k = 1 .. L-1 (P_1 = A_1 is x's first block).
            let prefix = |k: usize, pre: &[T]| -> *const T { if k == 1 { xp } else { pre[(k - 2) * nr..].as_ptr() } };
            // SAFETY (every product below): x holds the blocks at `offset` (A_1 n x r, strides
            // r, 1; A_k r x r; A_L r x p; transposes by swapped strides), g the same shapes at the
            // same offsets; P_k, E and D are disjoint parts of this thread's scratch, apart from
            // x and g; each product writes a block no operand of it reads.
            for k in 2..depth {
                let (done, todo) = pre.split_at_mut((k - 2) * nr);
                let input = if k == 2 { xp } else { done[(k - 3) * nr..].as_ptr() };
                unsafe { T::product(n, r, r, T::one(), (input, ri, 1), (xp.add(self.offset(k - 1)), ri, 1), (todo.as_mut_ptr(), ri, 1)) };
            }
            let (top, last) = (prefix(depth - 1, pre), self.offset(depth - 1));
            unsafe { T::product(n, r, p, T::one(), (top, ri, 1), (xp.add(last), pi, 1), (e.as_mut_ptr(), pi, 1)) };
            let mut f = T::zero();
            for (ev, &yv) in e.iter_mut().zip(y) {
                *ev = *ev - yv;
                f = f + *ev * *ev;
            }
            // D is written to g_1 directly when no hidden layer follows, else to the scratch.
            let target = |k: usize| if k == 1 { gp } else { unsafe { dp.add((k % 2) * nr) } };
            unsafe {
                T::product(n, p, r, T::one(), (e.as_ptr(), pi, 1), (xp.add(last), 1, pi), (target(depth - 1), ri, 1));
                T::product(r, n, p, T::one(), (top, 1, ri), (e.as_ptr(), pi, 1), (gp.add(last), pi, 1));
            }
            for k in (1..depth - 1).rev() {
                // D (n x r) is the gradient at P_{k+1}: g_{k+1} = P_k^T D, D <- D A_{k+1}^T.
                let (dk, o) = (target(k + 1) as *const T, self.offset(k));
                unsafe {
                    T::product(r, n, r, T::one(), (prefix(k, pre), 1, ri), (dk, ri, 1), (gp.add(o), ri, 1));
                    T::product(n, r, r, T::one(), (dk, ri, 1), (xp.add(o), 1, ri), (target(k), ri, 1));
                }
            }
            f
        });
        self.regularise(x, g, f)
    }

    /// Adds the regulariser kappa/4 sum_l ||A_l||^4 to the data term's value `f` (twice the
    /// loss) and gradient `g`; the label from the data loss.
    fn regularise<T: Float>(&self, x: &[T], g: &mut [T], f: T) -> Eval<T> {
        let kappa = to_float::<T>(self.kappa);
        let mut sum = T::zero();
        for k in 0..self.depth {
            let block = self.offset(k)..if k + 1 == self.depth { x.len() } else { self.offset(k + 1) };
            let mut n2 = T::zero();
            for v in &x[block.clone()] {
                n2 = n2 + *v * *v;
            }
            g[block.clone()].iter_mut().zip(&x[block]).for_each(|(g, v)| *g = *g + kappa * n2 * *v);
            sum = sum + n2 * n2;
        }
        let loss = to_float::<T>(0.5) * f;
        Eval { value: loss + kappa * to_float::<T>(0.25) * sum, label: self.label(loss), in_domain: true }
    }

    /// Whether the twins evaluate as matrix products (see [`PRODUCTS_FROM`]).
    fn products(&self) -> bool {
        self.n * self.r * self.p >= PRODUCTS_FROM
    }

    /// The constants both WGSL forms read: n, r, p and kappa; beyond depth 2 the depth, the
    /// prefix rows' length, where each weight matrix starts (`ln_off`) and the label's
    /// thresholds (`ln_label`). Depth 2 gets exactly the two-layer constants (its kernels, and
    /// so its fingerprints, are unchanged).
    fn wgsl_constants(&self) -> String {
        let mut src = format!("const LN_N: u32 = {}u;\nconst LN_R: u32 = {}u;\nconst LN_P: u32 = {}u;\nconst LN_KAPPA: real = {};\n", self.n, self.r, self.p, wgsl_real(self.kappa));
        if self.depth > 2 {
            let _ = writeln!(src, "const LN_L: u32 = {}u;\nconst LN_U: u32 = {}u;", self.depth, (self.depth - 1) * self.r);
            src += "// Where weight matrix k (0-based: A_{k+1}) starts in x; k = LN_L gives D.\nfn ln_off(k: u32) -> u32 {\n    if (k == 0u) {\n        return 0u;\n    }\n    if (k == LN_L) {\n        return D;\n    }\n    return LN_N * LN_R + (k - 1u) * LN_R * LN_R;\n}\n";
            src += "fn ln_label(loss: real) -> u32 {\n    var k = 0u;\n";
            for t in &self.stairs {
                let _ = writeln!(src, "    if (loss < {}) {{ k++; }}", wgsl_real(*t));
            }
            src += "    return k;\n}\n";
        }
        src
    }
}

impl Objective for LinearNetwork {
    fn name(&self) -> &'static str {
        "linear-network"
    }
    fn dim(&self) -> usize {
        self.n * self.r + (self.depth - 2) * self.r * self.r + self.r * self.p
    }
    fn eval_f64(&self, x: &[f64], g: &mut [f64]) -> Eval<f64> {
        if self.products() { self.eval_products(x, g, &self.y) } else { self.eval(x, g) }
    }
    fn eval_f32(&self, x: &[f32], g: &mut [f32]) -> Eval<f32> {
        if self.products() { self.eval_products(x, g, &self.y32) } else { self.eval(x, g) }
    }
    /// n, rank, p, kappa, and the depth when it is not 2 (so that depth-2 results keep their
    /// fingerprints).
    fn params(&self) -> serde_json::Value {
        let mut v = serde_json::json!({ "n": self.n, "rank": self.r, "p": self.p, "kappa": self.kappa });
        if self.depth != 2 {
            v["depth"] = self.depth.into();
        }
        v
    }
    fn default_params(&self) -> PgdParams {
        let smax = self.singular_values.first().copied().unwrap_or(1.0).max(1e-6);
        PgdParams { eta: 0.05 / smax, radius: 0.01, g_thres: 1e-3, f_thres: 1e-4, t_thres: 20, certify: 0 }
    }
    /// For kappa = 0: f* = 1/2 sum of the squared singular values of Y beyond the r-th
    /// (Eckart-Young; the product has rank at most r at any depth). Unknown for kappa > 0.
    fn f_min(&self) -> Option<f64> {
        (self.kappa == 0.0).then(|| 0.5 * self.singular_values.iter().skip(self.r).map(|s| s * s).sum::<f64>())
    }
    capabilities!(device);
}

impl DeviceForm for LinearNetwork {
    fn wgsl(&self) -> String {
        let body = if self.depth == 2 { include_str!("../linear_network.wgsl") } else { include_str!("deep.wgsl") };
        self.wgsl_constants() + body
    }
    fn wgsl_lanes(&self) -> Option<String> {
        let body = if self.depth == 2 { include_str!("../linear_network.coop.wgsl") } else { include_str!("deep.coop.wgsl") };
        Some(self.wgsl_constants() + body)
    }
    fn data(&self) -> Vec<f32> {
        self.y.iter().map(|&v| v as f32).collect()
    }
}

#[cfg(test)]
mod tests;
