//! Custom objectives written in WGSL by the user: validated with naga (errors point at the
//! user's file:line:column), run on the GPU path. They have no CPU twin unless the user also
//! implements [`super::Objective`] in Rust.

use super::{Eval, Objective};
use crate::Error;
use super::wgsl::{defines, objective_header, resolve_real};
use crate::method::PgdParams;
use std::path::{Path, PathBuf};

/// A WGSL-only objective loaded from a file.
#[derive(Clone, Debug)]
pub struct WgslObjective {
    path: PathBuf,
    source: String,
    dim: usize,
    f_min: Option<f64>,
}

/// The contract a custom objective's file must meet, for error messages.
pub const CONTRACT: &str = "fn objective(x: ptr<private, array<f32, D>>, g: ptr<private, array<f32, D>>) -> Eval \
     (write the gradient into g; return Eval(value, label, 1u), or Eval(0.0, 0u, 0u) outside the domain)";

impl WgslObjective {
    /// Reads and validates `path` for dimension `dim`; `f_min` is the known minimum, if any.
    pub fn from_file(path: &Path, dim: usize, f_min: Option<f64>) -> Result<Self, Error> {
        let source = crate::error::read_regular_text(path)?;
        Self::from_source(path, source, dim, f_min)
    }

    /// Validates `source` (shown as `path` in errors) for dimension `dim`.
    pub fn from_source(path: &Path, source: String, dim: usize, f_min: Option<f64>) -> Result<Self, Error> {
        if dim == 0 {
            return Err(Error::invalid("dim", "an integer >= 1", dim));
        }
        if let Some(f) = f_min.filter(|f| !(*f as f32).is_finite()) {
            return Err(Error::invalid("f-min", "a finite number f32 holds (|f| below 3.4e38)", f));
        }
        let shown = path.display().to_string();
        let header = objective_header(dim);
        let header_lines = header.lines().count() as u32;
        let full = resolve_real(format!("{header}{source}"), crate::Precision::F32);
        let at = |loc: Option<naga::SourceLocation>, msg: String| {
            let place = match loc {
                Some(l) if l.line_number > header_lines => format!("{shown}:{}:{}", l.line_number - header_lines, l.line_position),
                _ => shown.clone(),
            };
            Error::Shader(format!("{place}: {msg}"))
        };
        let module = naga::front::wgsl::parse_str(&full).map_err(|e| at(e.location(&full), e.message().to_string()))?;
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
            .validate(&module)
            .map_err(|e| at(e.location(&full), chain(e.as_inner())))?;
        if !defines(&source, "objective") {
            return Err(Error::Shader(format!("{shown}: no objective function; expected {CONTRACT}")));
        }
        // The kernel calls objective(&x, &g) and reads an Eval: another signature is named here,
        // not later as a clash inside the composed kernel.
        if let Some((h, f)) = module.functions.iter().find(|(_, f)| f.name.as_deref() == Some("objective")) {
            let pointer = |a: &naga::FunctionArgument| matches!(module.types[a.ty].inner, naga::TypeInner::Pointer { .. });
            let eval = f.result.as_ref().is_some_and(|r| module.types[r.ty].name.as_deref() == Some("Eval"));
            if f.arguments.len() != 2 || !f.arguments.iter().all(pointer) || !eval {
                return Err(at(module.functions.get_span(h).location(&full).into(), format!("fn objective has another signature; expected {CONTRACT}")));
            }
        }
        // Names the kernel uses are checked when it is composed (`compose_checked` in
        // backend::gpu::shader), which names this file too.
        let obj = WgslObjective { path: path.to_path_buf(), source, dim, f_min };
        Ok(obj)
    }
}

/// An error with its sources, joined by ": " (naga nests the useful part).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg += &format!(": {s}");
        src = s.source();
    }
    msg
}

impl Objective for WgslObjective {
    fn name(&self) -> &'static str {
        "custom"
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn eval_f64(&self, _x: &[f64], _grad: &mut [f64]) -> Eval<f64> {
        Eval::outside()
    }
    fn eval_f32(&self, _x: &[f32], _grad: &mut [f32]) -> Eval<f32> {
        Eval::outside()
    }
    fn wgsl(&self) -> String {
        self.source.clone()
    }
    fn params(&self) -> serde_json::Value {
        serde_json::json!({ "file": self.path.display().to_string(), "dim": self.dim })
    }
    fn default_params(&self) -> PgdParams {
        PgdParams { eta: 0.01, radius: 0.01, g_thres: 1e-3, f_thres: 1e-4, t_thres: 20, certify: 0 }
    }
    fn f_min(&self) -> Option<f64> {
        self.f_min
    }
    fn wgsl_origin(&self) -> String {
        self.path.display().to_string()
    }
    fn cpu_twin(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_point_into_the_users_file() {
        let ok = "fn objective(x: ptr<private, array<f32, D>>, g: ptr<private, array<f32, D>>) -> Eval {\n\
                  \x20   (*g)[0] = (*x)[0];\n    return Eval(0.5 * (*x)[0] * (*x)[0], 0u, 1u);\n}\n";
        if let Err(e) = WgslObjective::from_source(Path::new("q.wgsl"), ok.into(), 1, Some(0.0)) {
            panic!("{e}");
        }
        // A file that clashes with the kernel's names loads, and is refused when composed.
        let clash = format!("{ok}fn step(a: f32) -> f32 {{ return a; }}\n");
        let obj = WgslObjective::from_source(Path::new("q.wgsl"), clash, 1, None).unwrap();
        let method = crate::method::Method::preset(crate::method::MethodKind::Pgd, obj.default_params());
        let e = crate::backend::gpu::shader::compose_checked(&obj, &method, crate::Precision::F32, 4, false).unwrap_err().to_string();
        assert!(e.contains("q.wgsl") && e.contains("conflicts with escapade's kernel"), "{e}");
        let e = crate::backend::gpu::shader::compose_checked(&WgslObjective::from_source(Path::new("q.wgsl"), ok.into(), 1, None).unwrap(), &method, crate::Precision::F64, 4, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("state") && e.contains("real"), "{e}");
        let typo = ok.replace("(*g)[0] = (*x)[0];", "(*g)[0] = (*x)[0] +;");
        let e = WgslObjective::from_source(Path::new("q.wgsl"), typo, 1, None).unwrap_err().to_string();
        assert!(e.contains("q.wgsl:2:"), "{e}");
        let wrong_type = ok.replace("(*g)[0] = (*x)[0];", "(*g)[0] = 1u;");
        let e = WgslObjective::from_source(Path::new("q.wgsl"), wrong_type, 1, None).unwrap_err().to_string();
        assert!(e.contains("q.wgsl:2:"), "{e}");
        let missing = "fn helper() -> f32 { return 1.0; }\n";
        let e = WgslObjective::from_source(Path::new("q.wgsl"), missing.into(), 1, None).unwrap_err().to_string();
        assert!(e.contains("no objective function"), "{e}");
    }
}
