//! The network's cooperative form ([`crate::objective::DeviceForm::wgsl_lanes`]): mlp.coop.wgsl
//! over the row pass and the regulariser generated for the lanes. A row's sums are written out
//! term by term (in blocks beyond [`UNROLL`] terms) rather than looped: software adapters stop an
//! invocation after 65535 loop iterations in all, and every lane runs every row (Wine 13-16-3
//! loops some 75 times per row instead of some 400; on lavapipe one Digits 64-32-10 evaluation
//! fits the limit on 540 training rows, `--holdout 0.7`, not on 719 nor on all 1797).

use super::Mlp;
use std::fmt::Write as _;

/// Sums (and copies) of at most this many terms are written out in full.
const UNROLL: usize = 64;

/// Longer ones loop over blocks of this many terms written out, the rest written out after.
const BLOCK: usize = 16;

/// WGSL that runs the statement `body(j)` for j = 0..n in order, each on its own line after
/// `indent`; `body` gets j as a WGSL u32 expression.
fn each(n: usize, indent: &str, body: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let whole = if n <= UNROLL { 0 } else { n / BLOCK * BLOCK };
    if whole > 0 {
        let _ = writeln!(out, "{indent}for (var jb = 0u; jb < {whole}u; jb += {BLOCK}u) {{");
        for k in 0..BLOCK {
            let _ = writeln!(out, "{indent}    {}", body(&format!("(jb + {k}u)")));
        }
        let _ = writeln!(out, "{indent}}}");
    }
    for j in whole..n {
        let _ = writeln!(out, "{indent}{}", body(&format!("{j}u")));
    }
    out
}

impl Mlp {
    /// The cooperative form: the constants, mlp.wgsl's activation and loss (the file up to its
    /// `objective`, which reads private arrays this family does not have), mlp.coop.wgsl, then
    /// `mlp_row_lanes` and `mlp_regularise_lanes`.
    pub(super) fn wgsl_lanes_source(&self) -> String {
        let shared = include_str!("../mlp.wgsl");
        let shared = &shared[..shared.find("\nfn objective(").map_or(shared.len(), |k| k + 1)];
        let mut src = self.wgsl_constants() + shared + include_str!("../mlp.coop.wgsl");
        src += &self.wgsl_row_lanes();
        src += &self.wgsl_regularise_lanes();
        src
    }

    /// Row r's pass for the lane: forward through a{l} (sigma' in d{l}), the loss, then backward
    /// with layer l's dloss/dz in e{l} (the loss's `delta` at the top), adding `scale` times the
    /// row's gradient to the lane's coordinates of g, or of v with `term`.
    fn wgsl_row_lanes(&self) -> String {
        let (s, lcount) = (&self.sizes, self.layers());
        let mut src = String::from("\nfn mlp_row_lanes(r: u32, scale: real, term: bool) -> MlpRow {\n");
        let _ = writeln!(src, "    var a0: array<real, {}>;\n    let base = r * MLP_IN;", s[0]);
        src += &each(s[0], "    ", |j| format!("a0[{j}] = real(data[base + {j}]);"));
        for l in 1..=lcount {
            let (w, b, n_in) = (self.offset(l), self.offset(l) + s[l] * s[l - 1], s[l - 1]);
            let _ = writeln!(src, "    var a{l}: array<real, {}>;", s[l]);
            if l < lcount {
                let _ = writeln!(src, "    var d{l}: array<real, {}>;", s[l]);
            }
            let _ = writeln!(src, "    for (var i = 0u; i < {}u; i++) {{\n        let wi = {w}u + i * {n_in}u;\n        var z = x_at({b}u + i);", s[l]);
            src += &each(n_in, "        ", |j| format!("z = z + x_at(wi + {j}) * a{}[{j}];", l - 1));
            if l < lcount {
                let _ = writeln!(src, "        let sd = mlp_sigma(z);\n        a{l}[i] = sd.x;\n        d{l}[i] = sd.y;\n    }}");
            } else {
                let _ = writeln!(src, "        a{l}[i] = z;\n    }}");
            }
        }
        let _ = writeln!(src, "    var delta: array<real, MLP_WIDTH>;\n    for (var k = 0u; k < MLP_CLASSES; k++) {{\n        delta[k] = a{lcount}[k];\n    }}");
        src += "    let lp = mlp_loss(&delta, u32(data[MLP_LABELS + r]));\n";
        for l in (1..=lcount).rev() {
            let (w, b, n_in) = (self.offset(l), self.offset(l) + s[l] * s[l - 1], s[l - 1]);
            let e = if l == lcount { "delta".to_string() } else { format!("e{l}") };
            // A lane of several (CH coordinates at most) loops over its coordinates of W_l. One
            // lane alone (the streamed family), which owns every coordinate, would loop D times
            // per row that way, near the loop limit for Wine 13-16-3: it loops over the rows i of
            // W_l, each row's n_in coordinates written out (measured on lavapipe: 15% slower
            // than the former with several lanes, which then guard each coordinate).
            let _ = writeln!(
                src,
                "    if (LANES > 1u) {{\n        for (var c = max(lo, {w}u); c < min(hi, {b}u); c++) {{\n            let q = c - {w}u;\n            \
                 mlp_add(c, ({e}[q / {n_in}u] * scale) * a{}[q % {n_in}u], term);\n        }}\n    }} else {{",
                l - 1
            );
            let _ = writeln!(src, "        for (var i = 0u; i < {}u; i++) {{\n            let di = {e}[i] * scale;\n            let ci = {w}u + i * {n_in}u;", s[l]);
            src += &each(n_in, "            ", |j| format!("mlp_add(ci + {j}, di * a{}[{j}], term);", l - 1));
            src += "        }\n    }\n";
            let _ = writeln!(src, "    for (var c = max(lo, {b}u); c < min(hi, {}u); c++) {{\n        mlp_add(c, {e}[c - {b}u] * scale, term);\n    }}", b + s[l]);
            if l > 1 {
                // Layer l-1's dloss/dz: W_l^T e_l summed over i in order, as mlp.wgsl's back{l}.
                let _ = writeln!(src, "    var e{}: array<real, {n_in}>;\n    for (var j = 0u; j < {n_in}u; j++) {{\n        var back: real = 0.0;", l - 1);
                src += &each(s[l], "        ", |i| format!("back = back + x_at({w}u + {i} * {n_in}u + j) * {e}[{i}];"));
                let _ = writeln!(src, "        e{0}[j] = back * d{0}[j];\n    }}", l - 1);
            }
        }
        src + "    return lp;\n}\n"
    }

    /// The regulariser's value (the same in every lane), its gradient added to the lane's
    /// coordinates of g, or of v with `term`; each layer's squared norm a sum over the lanes.
    fn wgsl_regularise_lanes(&self) -> String {
        let mut src = String::from("\nfn mlp_regularise_lanes(term: bool) -> real {\n    var f: real = 0.0;\n");
        for l in 1..=self.layers() {
            let (w, n) = (self.offset(l), self.sizes[l] * self.sizes[l - 1]);
            let _ = writeln!(
                src,
                "    {{\n        let c0 = max(lo, {w}u);\n        let c1 = min(hi, {}u);\n        var part: real = 0.0;\n        for (var c = c0; c < c1; c++) {{\n            let xc = x_at(c);\n            part = part + xc * xc;\n        }}\n        \
                 let n2 = lanes_sum(part);\n        let k = MLP_WD + MLP_KAPPA * n2;\n        for (var c = c0; c < c1; c++) {{\n            mlp_add(c, k * x_at(c), term);\n        }}\n        \
                 f = f + 0.5 * MLP_WD * n2 + 0.25 * MLP_KAPPA * n2 * n2;\n    }}",
                w + n
            );
        }
        src + "    return f;\n}\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every index once, in order, whether written out in full or in blocks.
    #[test]
    fn each_runs_every_index_in_order() {
        for n in [0, 1, UNROLL, UNROLL + 1, 100] {
            let src = each(n, "", |j| format!("s({j});"));
            let (looped, rest): (Vec<&str>, Vec<&str>) = src.lines().filter(|l| l.contains("s(")).partition(|l| l.contains("jb"));
            let blocks = if n > UNROLL { n / BLOCK } else { 0 };
            let mut seen: Vec<usize> = (0..blocks).flat_map(|b| looped.iter().map(move |l| b * BLOCK + l.trim().trim_start_matches("s((jb + ").trim_end_matches("u));").parse::<usize>().unwrap())).collect();
            seen.extend(rest.iter().map(|l| l.trim_start_matches("s(").trim_end_matches("u);").parse::<usize>().unwrap()));
            assert_eq!(seen, (0..n).collect::<Vec<_>>(), "n = {n}");
            assert_eq!(src.contains("for (var jb"), n > UNROLL, "n = {n}");
        }
    }
}
