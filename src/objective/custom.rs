//! Custom objectives written in WGSL by the user: validated with naga (errors point at the
//! user's file:line:column), run on the GPU path. They have no CPU twin unless the user also
//! implements [`super::Objective`] in Rust.

use super::{DeviceForm, Eval, Objective, capabilities};
use crate::Error;
use super::wgsl::{LANES_STANDINS, defines, objective_header, resolve_real, split_directives};
use crate::method::PgdParams;
use std::path::{Path, PathBuf};

/// A WGSL-only objective loaded from a file.
#[derive(Clone, Debug)]
pub struct WgslObjective {
    path: PathBuf,
    source: String,
    dim: usize,
    f_min: Option<f64>,
    private_bytes: u64,
}

/// The private memory a GPU gives one invocation at most (NVIDIA's local-memory limit per
/// thread; other drivers spill to scratch memory of the same order). A custom objective whose
/// arrays need more is refused before anything is compiled: lavapipe would compile and run it
/// with gigabytes of stack per thread.
pub const PRIVATE_LIMIT: u64 = 512 * 1024;

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
        // The file's directives (`enable f16;`) come first, as in the kernel; then the header,
        // resolved apart from the file (no identifier spans its last newline), so that the user's
        // declarations start at byte `head.len()`, on line `header_lines + 1`.
        let (directives, body) = split_directives(&source);
        // A file with a cooperative form is checked against the functions the cooperative
        // kernel gives it (declared here as stand-ins).
        let lanes = if defines(&source, "objective_lanes") { LANES_STANDINS } else { "" };
        let head = directives + &resolve_real(objective_header(dim) + lanes, crate::Precision::F32);
        let header_lines = head.lines().count() as u32;
        let full = format!("{head}{}", resolve_real(body, crate::Precision::F32));
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
            .map_err(|e| at(innermost(&e, &full), chain(e.as_inner())))?;
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
        if let Some((h, f)) = module.functions.iter().find(|(_, f)| f.name.as_deref() == Some("objective_lanes")) {
            let eval = f.result.as_ref().is_some_and(|r| module.types[r.ty].name.as_deref() == Some("Eval"));
            if !f.arguments.is_empty() || !eval {
                return Err(at(module.functions.get_span(h).location(&full).into(), "fn objective_lanes has another signature; expected fn objective_lanes() -> Eval".into()));
            }
        }
        // Names the kernel uses are checked when it is composed (`compose_checked` in
        // backend::gpu::shader), which names this file too.
        // The other functions the kernel calls, by the signatures it calls them with.
        let scalar = |ty: naga::Handle<naga::Type>, s: naga::Scalar| module.types[ty].inner == naga::TypeInner::Scalar(s);
        for (name, arg, result, expected) in HOOKS {
            let Some((h, f)) = module.functions.iter().find(|(_, f)| f.name.as_deref() == Some(name)) else { continue };
            let result_ok = match (result, &f.result) {
                (None, None) => true,
                (Some(s), Some(r)) => scalar(r.ty, s),
                _ => false,
            };
            if f.arguments.len() != 1 || !scalar(f.arguments[0].ty, arg) || !result_ok {
                return Err(at(module.functions.get_span(h).location(&full).into(), format!("fn {name} has another signature; expected {expected}")));
            }
        }
        // The kernel calls the objective in non-uniform control flow (chains stop at different
        // steps), where a barrier is undefined behaviour; objective_load runs where all do.
        let users = |span: naga::Span| span.to_range().is_some_and(|r| r.start >= head.len());
        let own = module.functions.iter().filter(|(h, f)| users(module.functions.get_span(*h)) && f.name.as_deref() != Some("objective_load"));
        if let Some((f, span)) = own.filter_map(|(_, f)| barrier(&f.body).map(|s| (f, s))).next() {
            return Err(at(
                span.is_defined().then(|| span.location(&full)),
                format!("fn {} synchronizes the workgroup (a barrier or workgroupUniformLoad), but the kernel calls the objective where its invocations diverge: only fn objective_load may", f.name.as_deref().unwrap_or("?")),
            ));
        }
        let private_bytes = private_bytes(&module, head.len());
        if private_bytes > PRIVATE_LIMIT {
            return Err(Error::TooLarge(format!(
                "{shown}: its private variables (var<private> and function variables) take {} bytes per invocation, and a GPU gives an invocation at most {PRIVATE_LIMIT}: read large arrays from --data (a storage buffer)",
                private_bytes
            )));
        }
        Ok(WgslObjective { path: path.to_path_buf(), source, dim, f_min, private_bytes })
    }
}

/// The private memory one invocation of the user's code holds, at most: its `var<private>`
/// globals and every function's variables (as if all were live at once), in bytes. Declarations
/// before byte `from` (the header's) are not the user's.
fn private_bytes(module: &naga::Module, from: usize) -> u64 {
    let ctx = module.to_ctx();
    let size = |ty: naga::Handle<naga::Type>| module.types[ty].inner.try_size(ctx).map_or(u64::MAX, u64::from);
    let users = |span: naga::Span| span.to_range().is_some_and(|r| r.start >= from);
    let globals = module.global_variables.iter().filter(|(h, v)| v.space == naga::AddressSpace::Private && users(module.global_variables.get_span(*h))).map(|(_, v)| size(v.ty));
    let locals = module.functions.iter().filter(|(h, _)| users(module.functions.get_span(*h))).flat_map(|(_, f)| f.local_variables.iter().map(|(_, v)| size(v.ty)));
    globals.chain(locals).fold(0, u64::saturating_add)
}

/// The optional functions the kernel calls, as (name, argument, result, signature): the
/// self-bounding rule's rho1/rho2 of the value, and the workgroup's data loader.
const HOOKS: [(&str, naga::Scalar, Option<naga::Scalar>, &str); 3] = [
    ("rho1", naga::Scalar::F32, Some(naga::Scalar::F32), "fn rho1(F: f32) -> f32"),
    ("rho2", naga::Scalar::F32, Some(naga::Scalar::F32), "fn rho2(F: f32) -> f32"),
    ("objective_load", naga::Scalar::U32, None, "fn objective_load(lid: u32)"),
];

/// Where `block` first synchronizes the workgroup, if it does.
fn barrier(block: &naga::Block) -> Option<naga::Span> {
    use naga::Statement as S;
    block.span_iter().find_map(|(s, span)| match s {
        S::ControlBarrier(_) | S::MemoryBarrier(_) | S::WorkGroupUniformLoad { .. } => Some(*span),
        S::Block(b) => barrier(b),
        S::If { accept, reject, .. } => barrier(accept).or_else(|| barrier(reject)),
        S::Switch { cases, .. } => cases.iter().find_map(|c| barrier(&c.body)),
        S::Loop { body, continuing, .. } => barrier(body).or_else(|| barrier(continuing)),
        _ => None,
    })
}

/// The most specific place a validation error names: naga lists the function first (its first
/// line), then the expression inside it; the shortest span is the expression.
fn innermost<E>(e: &naga::WithSpan<E>, full: &str) -> Option<naga::SourceLocation> {
    e.spans().map(|(s, _)| *s).filter(|s| s.is_defined()).min_by_key(|s| s.to_range().map_or(usize::MAX, |r| r.len())).map(|s| s.location(full))
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
    fn params(&self) -> serde_json::Value {
        serde_json::json!({ "file": self.path.display().to_string(), "dim": self.dim })
    }
    fn default_params(&self) -> PgdParams {
        PgdParams { eta: 0.01, radius: 0.01, g_thres: 1e-3, f_thres: 1e-4, t_thres: 20, certify: 0 }
    }
    fn f_min(&self) -> Option<f64> {
        self.f_min
    }
    fn cpu_twin(&self) -> bool {
        false
    }
    capabilities!(device);
}

impl DeviceForm for WgslObjective {
    fn wgsl(&self) -> String {
        self.source.clone()
    }
    /// The file itself when it defines `objective_lanes` (besides `objective`).
    fn wgsl_lanes(&self) -> Option<String> {
        defines(&self.source, "objective_lanes").then(|| self.source.clone())
    }
    fn origin(&self) -> Option<String> {
        Some(self.path.display().to_string())
    }
    fn private_bytes(&self) -> u64 {
        self.private_bytes
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
        // Private arrays are counted (a 64 KiB one is allowed) and refused beyond the limit.
        let table = format!("var<private> t: array<f32, 16384>;\n{ok}");
        let obj = WgslObjective::from_source(Path::new("q.wgsl"), table, 1, None).unwrap();
        assert!((65536..PRIVATE_LIMIT).contains(&obj.private_bytes()), "{}", obj.private_bytes());
        let locals = ok.replace("(*g)[0] = (*x)[0];", "var a: array<vec4<f32>, 40000>;\n    (*g)[0] = (*x)[0];");
        let e = WgslObjective::from_source(Path::new("q.wgsl"), locals, 1, None).unwrap_err().to_string();
        assert!(e.contains("q.wgsl") && e.contains("640000 bytes"), "{e}");
        // A leading directive is the file's first line and the kernel's: both validate, and lines
        // after it keep their numbers.
        let f16 = format!("enable f16;\n{ok}");
        let obj = WgslObjective::from_source(Path::new("q.wgsl"), f16.clone(), 1, None).unwrap();
        for p in [crate::Precision::F16, crate::Precision::F32] {
            crate::backend::gpu::shader::compose_checked(&obj, &method, p, 4, false).unwrap();
        }
        crate::backend::gpu::shader::validate(&crate::backend::gpu::shader::hvp_source(&obj)).unwrap();
        let e = WgslObjective::from_source(Path::new("q.wgsl"), f16.replace("(*g)[0] = (*x)[0];", "(*g)[0] = 1u;"), 1, None).unwrap_err().to_string();
        assert!(e.contains("q.wgsl:3:"), "{e}");
        let missing = "fn helper() -> f32 { return 1.0; }\n";
        let e = WgslObjective::from_source(Path::new("q.wgsl"), missing.into(), 1, None).unwrap_err().to_string();
        assert!(e.contains("no objective function"), "{e}");
    }
}
