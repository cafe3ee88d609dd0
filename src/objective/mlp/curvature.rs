//! The network's exact Hessian-vector product in f64 (forward over reverse: Pearlmutter's
//! R-operator applied to the back-propagation of `Mlp::data_term`), for `check` and for the
//! certification of resting points. Central differences of gradients, the fallback for objectives
//! without one, carry an error of order h^2 |f'''| that a network with saturated tanh units makes
//! large enough to keep Lanczos's measured residual above its 1e-8 relative tolerance: resting
//! points at a minimum then read as "unconverged" instead of certified. The exact product has
//! only rounding error.
//!
//! With R{.} the directional derivative along v = (V_l, c_l) (V_l the direction of W_l, c_l of
//! b_l), over all rows at once as matrix products:
//! - forward: R Z_l = R A_{l-1} W_l^T + A_{l-1} V_l^T + 1 c_l^T (R A_0 = 0), R A_l = sigma'(Z_l) o R Z_l;
//! - the loss: Delta_L = dloss/dZ_L / N, and R Delta_L = (P o R Z_L - P diag(P R Z_L^T)) / N for
//!   softmax cross-entropy (P the softmax rows), R Z_L / N for squared error;
//! - backward: (H v)_{W_l} = R Delta_l^T A_{l-1} + Delta_l^T R A_{l-1}, (H v)_{b_l} = the column
//!   sums of R Delta_l, and R Delta_{l-1} = (R Delta_l W_l + Delta_l V_l) o sigma'(Z_{l-1})
//!   + (Delta_l W_l) o sigma''(Z_{l-1}) o R Z_{l-1};
//! - the regulariser per layer: (wd + kappa ||W_l||^2) V_l + 2 kappa <W_l, V_l> W_l.

use super::{Activation, Loss, Mlp, TANH_CLAMP};
use crate::objective::Curvature;
use crate::objective::products::Products;

/// C (m x n) = A B, A and B given by pointer and (row, column) strides, into a new matrix.
fn product(m: usize, k: usize, n: usize, a: (*const f64, isize, isize), b: (*const f64, isize, isize)) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    // SAFETY: every caller passes pointers and strides of live matrices of these shapes (checked
    // where they are built); c is a fresh m x n allocation.
    unsafe { f64::product(m, k, n, 1.0, a, b, (c.as_mut_ptr(), n as isize, 1)) };
    c
}

impl Mlp {
    /// The activation's first and second derivatives at z (its value is not needed here).
    fn sigma_derivatives(&self, z: f64) -> (f64, f64) {
        match self.activation {
            Activation::Tanh => {
                let t = z.clamp(-TANH_CLAMP, TANH_CLAMP).tanh();
                (1.0 - t * t, -2.0 * t * (1.0 - t * t))
            }
            Activation::Softplus => {
                let s = 1.0 / (1.0 + (-z).exp());
                (s, s * (1.0 - s))
            }
            Activation::Gelu => {
                let (c, k) = ((2.0 / std::f64::consts::PI).sqrt(), 0.044715);
                let t = (c * (z + k * z * z * z)).clamp(-TANH_CLAMP, TANH_CLAMP).tanh();
                let (du, ddu) = (c * (1.0 + 3.0 * k * z * z), 6.0 * c * k * z);
                let sech2 = 1.0 - t * t;
                (0.5 * (1.0 + t) + 0.5 * z * sech2 * du, sech2 * du + 0.5 * z * sech2 * (ddu - 2.0 * t * du * du))
            }
        }
    }

    /// The data term's Hessian along `v` into `out` (overwritten).
    fn data_hvp(&self, x: &[f64], v: &[f64], out: &mut [f64]) {
        let (s, lcount) = (&self.sizes, self.layers());
        let n = self.train.labels.len();
        let features = &self.train.x.data;
        // a[l], ra[l], rz[l] (N x s_l) for l >= 1 (a[0] is the features, ra[0] = 0; a[L] and
        // ra[L] the logits and their R); d1, d2: sigma', sigma'' at Z_l.
        let (mut a, mut ra, mut rzs) = (vec![Vec::new()], vec![Vec::new()], vec![Vec::new()]);
        let (mut d1, mut d2) = (vec![Vec::new()], vec![Vec::new()]);
        let input = |a: &[Vec<f64>], l: usize| -> *const f64 { if l == 1 { features.as_ptr() } else { a[l - 1].as_ptr() } };
        for l in 1..=lcount {
            let (w, b, (si, so)) = (self.offset(l), self.offset(l) + s[l] * s[l - 1], (s[l - 1], s[l]));
            let wt = (x[w..].as_ptr(), 1, si as isize);
            let mut z = product(n, si, so, (input(&a, l), si as isize, 1), wt);
            let mut rz = product(n, si, so, (input(&a, l), si as isize, 1), (v[w..].as_ptr(), 1, si as isize));
            if l > 1 {
                let carried = product(n, si, so, (ra[l - 1].as_ptr(), si as isize, 1), wt);
                rz.iter_mut().zip(&carried).for_each(|(r, c)| *r += c);
            }
            for (zr, rr) in z.chunks_exact_mut(so).zip(rz.chunks_exact_mut(so)) {
                zr.iter_mut().zip(&x[b..b + so]).for_each(|(z, bias)| *z += bias);
                rr.iter_mut().zip(&v[b..b + so]).for_each(|(r, c)| *r += c);
            }
            let (mut p1, mut p2) = (Vec::new(), Vec::new());
            let mut rzl = Vec::new();
            if l < lcount {
                (p1, p2) = z.iter().map(|&zv| self.sigma_derivatives(zv)).unzip();
                rzl = rz.clone();
                rz.iter_mut().zip(&p1).for_each(|(r, d)| *r *= d);
                z.iter_mut().for_each(|zv| *zv = self.sigma(*zv).0);
            }
            a.push(z);
            ra.push(rz);
            rzs.push(rzl);
            d1.push(p1);
            d2.push(p2);
        }
        let c = s[lcount];
        let inv_n = 1.0 / n as f64;
        let (mut delta, mut rdelta) = (vec![0.0; n * c], vec![0.0; n * c]);
        for r in 0..n {
            let (z, rz) = (&a[lcount][r * c..(r + 1) * c], &ra[lcount][r * c..(r + 1) * c]);
            let (dl, rdl) = (&mut delta[r * c..(r + 1) * c], &mut rdelta[r * c..(r + 1) * c]);
            self.loss_row(z, self.train.labels[r] as usize, dl);
            match self.loss {
                Loss::CrossEntropy => {
                    // P is Delta + e_y; P R Z^T is the same for every class.
                    let y = self.train.labels[r] as usize;
                    let p = |k: usize| dl[k] + if k == y { 1.0 } else { 0.0 };
                    let pr: f64 = (0..c).map(|k| p(k) * rz[k]).sum();
                    for k in 0..c {
                        rdl[k] = p(k) * (rz[k] - pr) * inv_n;
                    }
                }
                Loss::Squared => rdl.iter_mut().zip(rz).for_each(|(o, r)| *o = r * inv_n),
            }
            dl.iter_mut().for_each(|d| *d *= inv_n);
        }
        for l in (1..=lcount).rev() {
            let (w, b, (si, so)) = (self.offset(l), self.offset(l) + s[l] * s[l - 1], (s[l - 1], s[l]));
            let mut hw = product(so, n, si, (rdelta.as_ptr(), 1, so as isize), (input(&a, l), si as isize, 1));
            if l > 1 {
                let second = product(so, n, si, (delta.as_ptr(), 1, so as isize), (ra[l - 1].as_ptr(), si as isize, 1));
                hw.iter_mut().zip(&second).for_each(|(h, t)| *h += t);
            }
            out[w..w + so * si].copy_from_slice(&hw);
            for (k, o) in out[b..b + so].iter_mut().enumerate() {
                *o = rdelta.iter().skip(k).step_by(so).sum();
            }
            if l > 1 {
                let back = product(n, so, si, (delta.as_ptr(), so as isize, 1), (x[w..].as_ptr(), si as isize, 1));
                let mut rback = product(n, so, si, (rdelta.as_ptr(), so as isize, 1), (x[w..].as_ptr(), si as isize, 1));
                let dv = product(n, so, si, (delta.as_ptr(), so as isize, 1), (v[w..].as_ptr(), si as isize, 1));
                rback.iter_mut().zip(&dv).for_each(|(r, t)| *r += t);
                let (p1, p2, rz) = (&d1[l - 1], &d2[l - 1], &rzs[l - 1]);
                delta = back.iter().zip(p1).map(|(bk, d)| bk * d).collect();
                rdelta = (0..n * si).map(|i| rback[i] * p1[i] + back[i] * p2[i] * rz[i]).collect();
            }
        }
    }
}

impl Curvature for Mlp {
    fn hvp_f64(&self, x: &[f64], v: &[f64], out: &mut [f64]) {
        self.data_hvp(x, v, out);
        for l in 1..=self.layers() {
            let (w, len) = (self.offset(l), self.sizes[l] * self.sizes[l - 1]);
            let (wl, vl) = (&x[w..w + len], &v[w..w + len]);
            let n2: f64 = wl.iter().map(|a| a * a).sum();
            let dot: f64 = wl.iter().zip(vl).map(|(a, b)| a * b).sum();
            let (scale, along) = (self.weight_decay + self.kappa * n2, 2.0 * self.kappa * dot);
            for i in 0..len {
                out[w + i] += scale * vl[i] + along * wl[i];
            }
        }
    }
}
