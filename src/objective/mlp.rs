//! A smooth multilayer perceptron on a classification data set:
//! f(x) = (1/N) sum_r loss(z_L(X_r), y_r) + wd/2 sum_l ||W_l||_F^2 + kappa/4 sum_l ||W_l||_F^4,
//! z_l = W_l a_{l-1} + b_l, a_l = sigma(z_l) for hidden layers, a_0 = X_r, with a C-infinity
//! activation (tanh, softplus or GELU's tanh form) so that the Hessian checks apply. x holds
//! [W_1, b_1, W_2, b_2, ...], each W_l (s_l x s_{l-1}) row-major. A finite sum over the rows
//! (minibatch oracles sample rows). The origin is a saddle (every hidden unit dead, all logits
//! equal); the label is the number of classes the network predicts for at least one training row
//! (docs/theory.md, "Network objectives": the staircase small initialisations climb). On the GPU
//! one invocation steps a chain up to d = 256 (mlp.wgsl), a workgroup beyond (mlp.coop.wgsl,
//! generated in `lanes`).

use super::dataset::Dataset;
use super::{Classifier, DeviceForm, Eval, FiniteSum, Objective, Scores, capabilities, to_float, wgsl_real};
use crate::Error;
use crate::method::PgdParams;
use num_traits::Float;
use std::fmt::Write as _;

/// The hidden layers' activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// tanh (the default).
    Tanh,
    /// softplus ln(1 + e^z).
    Softplus,
    /// GELU in its tanh form, z/2 (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3))).
    Gelu,
}

/// The loss of a row's output z_L against its class y.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// Softmax cross-entropy, logsumexp(z) - z_y (the default).
    CrossEntropy,
    /// 1/2 ||z - e_y||^2.
    Squared,
}

/// At most this many classes: the label is a bit set of the classes predicted.
pub const MAX_CLASSES: u32 = 32;

/// Pre-activations beyond +-this are clamped before tanh, in both twins (tanh is 1 to f64's
/// precision there; some tanh implementations overflow through exp far beyond).
const TANH_CLAMP: f64 = 20.0;

/// The network and its training rows.
#[derive(Clone, Debug)]
pub struct Mlp {
    sizes: Vec<usize>,
    activation: Activation,
    loss: Loss,
    weight_decay: f64,
    kappa: f64,
    train: Dataset,
    /// Rows held out of training, scored at the resting points ([`Classifier`]).
    holdout: Option<Dataset>,
    /// The training features rounded to f32 once, for the f32 twin's products.
    features32: Vec<f32>,
}

impl Mlp {
    /// A network of layer sizes `sizes` (inputs first, classes last) on the training rows
    /// `train`; `weight_decay` and `kappa` >= 0.
    pub fn new(sizes: Vec<usize>, activation: Activation, loss: Loss, weight_decay: f64, kappa: f64, train: Dataset) -> Result<Self, Error> {
        let shown = sizes.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
        if sizes.len() < 2 || sizes.contains(&0) {
            return Err(Error::invalid("layers", "at least two sizes >= 1, inputs first and classes last (e.g. 13,16,3)", shown));
        }
        if sizes[0] != train.x.cols {
            return Err(Error::invalid("layers", format!("a first size equal to the data's {} features", train.x.cols), shown));
        }
        if sizes[sizes.len() - 1] != train.classes as usize {
            return Err(Error::invalid("layers", format!("a last size equal to the data's {} classes", train.classes), shown));
        }
        if train.classes > MAX_CLASSES {
            return Err(Error::invalid("labels", format!("at most {MAX_CLASSES} classes"), train.classes));
        }
        for (name, v) in [("weight-decay", weight_decay), ("kappa", kappa)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::invalid(name, "a finite number >= 0", v));
            }
        }
        let features32 = train.x.data.iter().map(|&v| v as f32).collect();
        Ok(Mlp { sizes, activation, loss, weight_decay, kappa, train, holdout: None, features32 })
    }

    /// The network with rows held out of training (None: none), scored beside the training rows
    /// at every resting point. Their features must match the network's inputs and their classes
    /// its outputs (a split of the training rows' set does).
    pub fn with_holdout(mut self, holdout: Option<Dataset>) -> Result<Self, Error> {
        if let Some(h) = &holdout {
            if h.x.cols != self.sizes[0] || h.labels.iter().any(|&y| y as usize >= self.sizes[self.layers()]) {
                return Err(Error::invalid("holdout", format!("rows of {} features with classes below {}", self.sizes[0], self.sizes[self.layers()]), format!("{} features", h.x.cols)));
            }
        }
        self.holdout = holdout;
        Ok(self)
    }

    /// Layers (weight matrices).
    fn layers(&self) -> usize {
        self.sizes.len() - 1
    }

    /// Offset of W_l in x (l from 1); b_l follows W_l.
    fn offset(&self, l: usize) -> usize {
        (1..l).map(|k| self.sizes[k] * (self.sizes[k - 1] + 1)).sum()
    }

    /// The activation and its derivative at z.
    fn sigma<T: Elementary>(&self, z: T) -> (T, T) {
        let one = T::one();
        match self.activation {
            Activation::Tanh => {
                let c = to_float::<T>(TANH_CLAMP);
                let t = z.max(-c).min(c).tanh_twin();
                (t, one - t * t)
            }
            Activation::Softplus => {
                let e = (-z.abs()).exp();
                (z.max(T::zero()) + (one + e).ln(), one / (one + (-z).exp()))
            }
            Activation::Gelu => {
                let (c, k) = (to_float::<T>((2.0 / std::f64::consts::PI).sqrt()), to_float::<T>(0.044715));
                let half = to_float::<T>(0.5);
                let u = c * (z + k * z * z * z);
                let c2 = to_float::<T>(TANH_CLAMP);
                let t = u.max(-c2).min(c2).tanh_twin();
                (half * z * (one + t), half * (one + t) + half * z * (one - t * t) * c * (one + to_float::<T>(3.0) * k * z * z))
            }
        }
    }

    /// Row r's loss, its gradient added (times `scale`) to `g`, and its predicted class.
    fn row<T: Elementary>(&self, x: &[T], r: usize, scale: T, g: &mut [T]) -> (T, usize) {
        let lcount = self.layers();
        let s = &self.sizes;
        // a[l] and sigma'(z_l) for l = 0..=L (a[0] the row's features, a[L] the logits z_L).
        let mut a: Vec<Vec<T>> = Vec::with_capacity(lcount + 1);
        let mut ds: Vec<Vec<T>> = Vec::with_capacity(lcount + 1);
        let feats = &self.train.x.data[r * s[0]..(r + 1) * s[0]];
        a.push(feats.iter().map(|&v| to_float::<T>(v)).collect());
        ds.push(Vec::new());
        for l in 1..=lcount {
            let (w, b) = (self.offset(l), self.offset(l) + s[l] * s[l - 1]);
            let (mut out, mut der) = (vec![T::zero(); s[l]], vec![T::one(); s[l]]);
            for i in 0..s[l] {
                let mut z = x[b + i];
                for j in 0..s[l - 1] {
                    z = z + x[w + i * s[l - 1] + j] * a[l - 1][j];
                }
                if l < lcount {
                    (out[i], der[i]) = self.sigma(z);
                } else {
                    out[i] = z;
                }
            }
            a.push(out);
            ds.push(der);
        }
        let mut delta = vec![T::zero(); s[lcount]];
        let (loss, predicted) = self.loss_row(&a[lcount], self.train.labels[r] as usize, &mut delta);
        for l in (1..=lcount).rev() {
            let (w, b) = (self.offset(l), self.offset(l) + s[l] * s[l - 1]);
            let mut back = vec![T::zero(); s[l - 1]];
            for i in 0..s[l] {
                let di = delta[i] * scale;
                g[b + i] = g[b + i] + di;
                for j in 0..s[l - 1] {
                    g[w + i * s[l - 1] + j] = g[w + i * s[l - 1] + j] + di * a[l - 1][j];
                    back[j] = back[j] + x[w + i * s[l - 1] + j] * delta[i];
                }
            }
            if l > 1 {
                delta = back.iter().zip(&ds[l - 1]).map(|(&v, &d)| v * d).collect();
            }
        }
        (loss, predicted)
    }

    /// A row's loss at logits `z` against class `y`, dloss/dz into `delta`, and the predicted
    /// class (the first largest logit).
    fn loss_row<T: Elementary>(&self, z: &[T], y: usize, delta: &mut [T]) -> (T, usize) {
        let mut predicted = 0;
        for k in 1..z.len() {
            if z[k] > z[predicted] {
                predicted = k;
            }
        }
        let loss = match self.loss {
            Loss::CrossEntropy => {
                let m = z[predicted];
                let mut sum = T::zero();
                for k in 0..z.len() {
                    delta[k] = (z[k] - m).exp_twin();
                    sum = sum + delta[k];
                }
                for d in delta.iter_mut() {
                    *d = *d / sum;
                }
                delta[y] = delta[y] - T::one();
                m + sum.ln() - z[y]
            }
            Loss::Squared => {
                let mut loss = T::zero();
                for k in 0..z.len() {
                    delta[k] = z[k] - if k == y { T::one() } else { T::zero() };
                    loss = loss + delta[k] * delta[k];
                }
                to_float::<T>(0.5) * loss
            }
        };
        (loss, predicted)
    }

    /// [`Mlp::loss_row`] over every row of the logits `z` (N x c) into `delta`, bit for bit:
    /// the summed loss, the bit set of classes predicted and the rows predicted right. The
    /// softmax's exponentials run as one slice ([`Elementary::exp_layer`]), which vectorizes.
    fn loss_rows<T: Elementary>(&self, z: &[T], labels: &[u32], delta: &mut [T]) -> (T, u32, usize) {
        let c = self.sizes[self.layers()];
        let (mut f, mut seen, mut right) = (T::zero(), 0u32, 0);
        if self.loss == Loss::Squared {
            for ((z, d), &y) in z.chunks_exact(c).zip(delta.chunks_exact_mut(c)).zip(labels) {
                let (loss, k) = self.loss_row(z, y as usize, d);
                f = f + loss;
                seen |= 1 << k;
                right += usize::from(k == y as usize);
            }
            return (f, seen, right);
        }
        let mut predicted = Vec::with_capacity(labels.len());
        for (z, d) in z.chunks_exact(c).zip(delta.chunks_exact_mut(c)) {
            // The first largest logit, as loss_row takes it (the running maximum in a register).
            let (mut k, mut top) = (0, z[0]);
            for (i, &v) in z.iter().enumerate().skip(1) {
                if v > top {
                    (k, top) = (i, v);
                }
            }
            d.iter_mut().zip(z).for_each(|(d, &v)| *d = v - z[k]);
            predicted.push(k);
        }
        T::exp_layer(delta);
        for (((z, d), &y), &k) in z.chunks_exact(c).zip(delta.chunks_exact_mut(c)).zip(labels).zip(&predicted) {
            let sum = d.iter().fold(T::zero(), |acc, &v| acc + v);
            d.iter_mut().for_each(|v| *v = *v / sum);
            d[y as usize] = d[y as usize] - T::one();
            f = f + (z[k] + sum.ln() - z[y as usize]);
            seen |= 1 << k;
            right += usize::from(k == y as usize);
        }
        (f, seen, right)
    }

    /// The regulariser's value, its gradient added to `g`.
    fn regularise<T: Float>(&self, x: &[T], g: &mut [T]) -> T {
        let (wd, kappa) = (to_float::<T>(self.weight_decay), to_float::<T>(self.kappa));
        let mut f = T::zero();
        for l in 1..=self.layers() {
            let w = self.offset(l);
            let n = self.sizes[l] * self.sizes[l - 1];
            let mut n2 = T::zero();
            for v in &x[w..w + n] {
                n2 = n2 + *v * *v;
            }
            let c = wd + kappa * n2;
            for i in w..w + n {
                g[i] = g[i] + c * x[i];
            }
            f = f + to_float::<T>(0.5) * wd * n2 + to_float::<T>(0.25) * kappa * n2 * n2;
        }
        f
    }

    /// Value, label (classes predicted on some training row) and gradient.
    #[cfg(test)]
    pub(crate) fn eval<T: Elementary>(&self, x: &[T], g: &mut [T]) -> Eval<T> {
        g.iter_mut().for_each(|v| *v = T::zero());
        let inv_n = to_float::<T>(1.0 / self.train.x.rows as f64);
        let (mut f, mut seen) = (T::zero(), 0u32);
        for r in 0..self.train.x.rows {
            let (loss, k) = self.row(x, r, inv_n, g);
            f = f + loss;
            seen |= 1 << k;
        }
        let value = f * inv_n + self.regularise(x, g);
        Eval { value, label: seen.count_ones(), in_domain: true }
    }

    /// [`Mlp::eval`] over all rows at once as matrix products (the CPU twins' path): per layer
    /// Z_l = A_{l-1} W_l^T + b_l, and backwards g_W_l = Delta_l^T A_{l-1} / N and Delta_{l-1} =
    /// (Delta_l W_l) o sigma'(Z_{l-1}), each a sum of outer products in register tiles
    /// ([`tiles`]: no packing of the training rows at every call, as a general product would).
    /// Sums run in the products' order: floats agree with the
    /// row loop (the WGSL twin's order) to rounding (tested), not bit for bit.
    fn eval_products<T: Tiled + Elementary>(&self, x: &[T], g: &mut [T], features: &[T]) -> Eval<T> {
        let (f, seen, _) = self.data_term(x, g, features, &self.train.labels);
        let value = f + self.regularise(x, g);
        Eval { value, label: seen.count_ones(), in_domain: true }
    }

    /// The data term over the rows `labels` with `features` (N x s_0, row-major) as matrix
    /// products ([`Mlp::eval_products`]): the mean loss, its gradient written to `g`, the bit set
    /// of classes predicted, and the rows predicted right.
    fn data_term<T: Tiled + Elementary>(&self, x: &[T], g: &mut [T], features: &[T], labels: &[u32]) -> (T, u32, usize) {
        let (n, s, lcount) = (labels.len(), &self.sizes, self.layers());
        let inv_n = to_float::<T>(1.0 / n as f64);
        // a[l]: N x s_l activations (a[L] the logits; a[0] stays empty: layer 1 reads the
        // features in place, `input(l)`); ds[l]: sigma'(z_l).
        let mut a: Vec<Vec<T>> = vec![Vec::new()];
        let mut ds: Vec<Vec<T>> = vec![Vec::new()];
        fn input<'a, T>(features: &'a [T], a: &'a [Vec<T>], l: usize) -> &'a [T] {
            if l == 1 { features } else { &a[l - 1] }
        }
        let mut wt = Vec::new();
        for l in 1..=lcount {
            let (w, b, (si, so)) = (self.offset(l), self.offset(l) + s[l] * s[l - 1], (s[l - 1], s[l]));
            // Z = A W^T: the sum over the inputs j of A's column j times W^T's row j.
            wt.resize(si * so, T::zero());
            for (i, row) in x[w..w + so * si].chunks_exact(si).enumerate() {
                row.iter().enumerate().for_each(|(j, &v)| wt[j * so + i] = v);
            }
            let mut z = vec![T::zero(); n * so];
            let rows = Strided { at: input(features, &a, l), q_stride: si, j_stride: 1 };
            outer_sum(n, so, si, rows, &wt, so, &mut z);
            let mut der = Vec::new();
            for row in z.chunks_exact_mut(so) {
                row.iter_mut().zip(&x[b..b + so]).for_each(|(v, &bias)| *v = *v + bias);
            }
            if l < lcount {
                der = vec![T::zero(); n * so];
                if self.activation == Activation::Tanh {
                    T::tanh_layer(&mut z, &mut der, to_float(TANH_CLAMP));
                } else {
                    for (v, d) in z.iter_mut().zip(der.iter_mut()) {
                        (*v, *d) = self.sigma(*v);
                    }
                }
            }
            a.push(z);
            ds.push(der);
        }
        let c = s[lcount];
        let mut delta = vec![T::zero(); n * c];
        let (f, seen, right) = self.loss_rows(&a[lcount], labels, &mut delta);
        delta.iter_mut().for_each(|v| *v = *v * inv_n);
        for l in (1..=lcount).rev() {
            let (w, (si, so)) = (self.offset(l), (s[l - 1], s[l]));
            let (gw, rest) = g[w..].split_at_mut(so * si);
            // g_W = Delta^T A: the sum over the rows r of Delta's row r times A's row r.
            outer_sum(so, si, n, Strided { at: &delta, q_stride: 1, j_stride: so }, input(features, &a, l), si, gw);
            // The bias gradient: Delta's rows summed in order (per element the same sum as a
            // column walk, as a vector add per row).
            let gb = &mut rest[..so];
            gb.iter_mut().for_each(|v| *v = T::zero());
            for row in delta.chunks_exact(so) {
                gb.iter_mut().zip(row).for_each(|(v, &d)| *v = *v + d);
            }
            if l > 1 {
                // Delta W: the sum over the outputs i of Delta's column i times W's row i.
                let mut back = vec![T::zero(); n * si];
                outer_sum(n, si, so, Strided { at: &delta, q_stride: so, j_stride: 1 }, &x[w..w + so * si], si, &mut back);
                back.iter_mut().zip(&ds[l - 1]).for_each(|(v, &d)| *v = *v * d);
                delta = back;
            }
        }
        (f * inv_n, seen, right)
    }

    /// Training rows.
    pub fn rows(&self) -> usize {
        self.train.x.rows
    }

    /// The WGSL constants both forms read.
    fn wgsl_constants(&self) -> String {
        let s = &self.sizes;
        let lcount = self.layers();
        format!(
            "const MLP_ROWS: u32 = {}u;\nconst MLP_IN: u32 = {}u;\nconst MLP_CLASSES: u32 = {}u;\nconst MLP_LABELS: u32 = {}u;\n\
             const MLP_INV_N: real = {};\nconst MLP_WD: real = {};\nconst MLP_KAPPA: real = {};\nconst MLP_TANH_CLAMP: real = {};\n\
             const MLP_ACTIVATION: u32 = {}u;\nconst MLP_CROSS_ENTROPY: bool = {};\nconst MLP_WIDTH: u32 = {}u;\n",
            self.rows(),
            s[0],
            s[lcount],
            self.rows() * s[0],
            wgsl_real(1.0 / self.rows() as f64),
            wgsl_real(self.weight_decay),
            wgsl_real(self.kappa),
            wgsl_real(TANH_CLAMP),
            self.activation as u32,
            self.loss == Loss::CrossEntropy,
            s.iter().max().copied().unwrap_or(1),
        )
    }

    /// The WGSL constants and the unrolled layers (sizes and offsets are constants per layer).
    fn wgsl_source(&self) -> String {
        let s = &self.sizes;
        let lcount = self.layers();
        let mut src = self.wgsl_constants();
        src += include_str!("mlp.wgsl");
        // The row function: forward through each layer into a[l], backward from the loss.
        src += "fn mlp_row(x: ptr<private, array<real, D>>, r: u32, scale: real, g: ptr<private, array<real, D>>) -> MlpRow {\n";
        for (l, size) in s.iter().enumerate() {
            let _ = writeln!(src, "    var a{l}: array<real, {size}>;");
            if l > 0 && l < lcount {
                let _ = writeln!(src, "    var d{l}: array<real, {size}>;");
            }
        }
        let _ = writeln!(src, "    for (var j = 0u; j < MLP_IN; j++) {{ a0[j] = real(data[r * MLP_IN + j]); }}");
        for l in 1..=lcount {
            let (w, b, n_in) = (self.offset(l), self.offset(l) + s[l] * s[l - 1], s[l - 1]);
            let _ = writeln!(src, "    for (var i = 0u; i < {}u; i++) {{\n        var z = (*x)[{b}u + i];\n        for (var j = 0u; j < {n_in}u; j++) {{ z = z + (*x)[{w}u + i * {n_in}u + j] * a{}[j]; }}", s[l], l - 1);
            if l < lcount {
                let _ = writeln!(src, "        let sd = mlp_sigma(z);\n        a{l}[i] = sd.x;\n        d{l}[i] = sd.y;\n    }}");
            } else {
                let _ = writeln!(src, "        a{l}[i] = z;\n    }}");
            }
        }
        let _ = writeln!(src, "    var delta: array<real, MLP_WIDTH>;\n    for (var k = 0u; k < MLP_CLASSES; k++) {{ delta[k] = a{lcount}[k]; }}");
        let _ = writeln!(src, "    let y = u32(data[MLP_LABELS + r]);\n    let lp = mlp_loss(&delta, y);");
        for l in (1..=lcount).rev() {
            let (w, b, n_in) = (self.offset(l), self.offset(l) + s[l] * s[l - 1], s[l - 1]);
            let _ = writeln!(src, "    var back{l}: array<real, MLP_WIDTH>;\n    for (var i = 0u; i < {}u; i++) {{\n        let di = delta[i] * scale;\n        (*g)[{b}u + i] = (*g)[{b}u + i] + di;", s[l]);
            let _ = writeln!(src, "        for (var j = 0u; j < {n_in}u; j++) {{\n            (*g)[{w}u + i * {n_in}u + j] = (*g)[{w}u + i * {n_in}u + j] + di * a{}[j];\n            back{l}[j] = back{l}[j] + (*x)[{w}u + i * {n_in}u + j] * delta[i];\n        }}\n    }}", l - 1);
            if l > 1 {
                let _ = writeln!(src, "    for (var j = 0u; j < {n_in}u; j++) {{ delta[j] = back{l}[j] * d{}[j]; }}", l - 1);
            }
        }
        src += "    return lp;\n}\n\n";
        // The regulariser, layer by layer.
        src += "fn mlp_regularise(x: ptr<private, array<real, D>>, g: ptr<private, array<real, D>>) -> real {\n    var f: real = 0.0;\n";
        for l in 1..=lcount {
            let (w, n) = (self.offset(l), s[l] * s[l - 1]);
            let _ = writeln!(src, "    {{\n        var n2: real = 0.0;\n        for (var i = {w}u; i < {}u; i++) {{ n2 = n2 + (*x)[i] * (*x)[i]; }}\n        let c = MLP_WD + MLP_KAPPA * n2;\n        for (var i = {w}u; i < {}u; i++) {{ (*g)[i] = (*g)[i] + c * (*x)[i]; }}\n        f = f + 0.5 * MLP_WD * n2 + 0.25 * MLP_KAPPA * n2 * n2;\n    }}", w + n, w + n);
        }
        src += "    return f;\n}\n";
        src
    }
}

impl Objective for Mlp {
    fn name(&self) -> &'static str {
        "mlp"
    }
    fn dim(&self) -> usize {
        self.offset(self.sizes.len())
    }
    fn eval_f64(&self, x: &[f64], g: &mut [f64]) -> Eval<f64> {
        self.eval_products(x, g, &self.train.x.data)
    }
    fn eval_f32(&self, x: &[f32], g: &mut [f32]) -> Eval<f32> {
        self.eval_products(x, g, &self.features32)
    }
    fn params(&self) -> serde_json::Value {
        serde_json::json!({
            "dataset": self.train.name, "layers": self.sizes, "activation": self.activation, "loss": self.loss,
            "weight_decay": self.weight_decay, "kappa": self.kappa, "rows": self.rows(),
        })
    }
    fn default_params(&self) -> PgdParams {
        PgdParams { eta: 0.1, radius: 0.01, g_thres: 1e-3, f_thres: 1e-3, t_thres: 20, certify: 0 }
    }
    /// Unknown: the loss is >= 0, its minimum over the weights is not known in closed form.
    fn f_min(&self) -> Option<f64> {
        None
    }
    capabilities!(device, finite_sum, curvature, classifier);
}

impl Classifier for Mlp {
    /// Mean loss and accuracy on the training rows and the held-out ones, through the CPU twin's
    /// products in f64 (its gradient computed and dropped).
    fn scores(&self, x: &[f64]) -> Scores {
        let mut g = vec![0.0; x.len()];
        let mut score = |set: &Dataset| {
            let (loss, _, right) = self.data_term(x, &mut g, &set.x.data, &set.labels);
            (loss, right as f64 / set.labels.len() as f64)
        };
        let (train_loss, train_accuracy) = score(&self.train);
        let held = self.holdout.as_ref().map(&mut score);
        Scores { train_loss, train_accuracy, holdout_loss: held.map(|h| h.0), holdout_accuracy: held.map(|h| h.1) }
    }
}

impl DeviceForm for Mlp {
    fn wgsl(&self) -> String {
        self.wgsl_source()
    }
    fn wgsl_lanes(&self) -> Option<String> {
        Some(self.wgsl_lanes_source())
    }
    /// The training rows' features, then their labels, as f32.
    fn data(&self) -> Vec<f32> {
        self.train.x.data.iter().map(|&v| v as f32).chain(self.train.labels.iter().map(|&l| l as f32)).collect()
    }
}

impl FiniteSum for Mlp {
    fn terms(&self) -> u32 {
        self.rows() as u32
    }
    /// Row k's loss gradient plus the regulariser's (so that the terms average to f).
    fn term_grad_f32(&self, x: &[f32], k: u32, acc: &mut [f32]) {
        self.row(x, k as usize, 1.0, acc);
        self.regularise(x, acc);
    }
    fn term_grad_f64(&self, x: &[f64], k: u32, acc: &mut [f64]) {
        self.row(x, k as usize, 1.0, acc);
        self.regularise(x, acc);
    }
    /// The batch's rows gathered and taken as matrix products (the data term's tiles), the
    /// regulariser added once: per step one pass of B rows instead of B passes of one row and
    /// B regularisers (the per-row path was most of a minibatch step's time on Digits).
    fn batch_grad_f32(&self, x: &[f32], terms: &[u32], out: &mut [f32]) {
        self.batch_grad(x, terms, out, &self.features32);
    }
    fn batch_grad_f64(&self, x: &[f64], terms: &[u32], out: &mut [f64]) {
        self.batch_grad(x, terms, out, &self.train.x.data);
    }
}

impl Mlp {
    /// [`FiniteSum::batch_grad_f32`] over `features` (the training rows in T).
    fn batch_grad<T: Tiled + Elementary>(&self, x: &[T], terms: &[u32], out: &mut [T], features: &[T]) {
        let cols = self.sizes[0];
        let rows: Vec<T> = terms.iter().flat_map(|&k| &features[k as usize * cols..(k as usize + 1) * cols]).copied().collect();
        let labels: Vec<u32> = terms.iter().map(|&k| self.train.labels[k as usize]).collect();
        self.data_term(x, out, &rows, &labels);
        self.regularise(x, out);
    }
}

mod curvature;
mod lanes;
mod elementary;
mod tiles;
use elementary::Elementary;
use tiles::{Strided, Tiled, outer_sum};

#[cfg(test)]
mod tests;
