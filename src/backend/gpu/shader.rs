//! Composes the WGSL modules: for the ensemble kernel, one per (objective, dimension, method,
//! precision): the declarations generated from the Rust contract (`crate::abi`: records, codes,
//! bindings), the method's selectors, the Philox prelude, the objective, the rho functions and
//! the kernel's logic, in that order; for the Hessian-vector kernel, one per objective.
//!
//! Positions, gradients and values are of type `real` (f32, or f64 for `--state f64`), declared
//! here; the stored type `StateT` is f16, f32 or f64. Random draws, chain bookkeeping and every
//! transcendental stay f32: Vulkan has no f64 log/exp/pow/sin/cos.

use crate::abi::{self, Access, Binding};
use crate::escape::{ChainState, EscapeEvent};
use crate::experiment::Precision;
use crate::kernel::KernelParams;
use crate::method::{Method, StepRule};
use crate::objective::Objective;

/// Invocations per workgroup.
pub const WORKGROUP_SIZE: u32 = 64;

/// Declarations every objective may use: the evaluation record and the shared data binding
/// (stored as f32 on every precision; objectives widen it with `real(data[i])`).
fn objective_prelude() -> String {
    format!("struct Eval {{ f: real, label: u32, ok: u32 }}\n{}", abi::DATA.declaration())
}

/// The header an objective's source is compiled after in f32: dimension, prelude, random stream.
/// Pass the composed text through [`resolve_real`].
pub fn objective_header(dim: usize) -> String {
    objective_header_in(dim, Precision::F32)
}

/// The header for positions of `precision` (f16 storage computes in f32).
pub fn objective_header_in(dim: usize, precision: Precision) -> String {
    let real = if precision == Precision::F64 {
        // NaN fails every ordered comparison, so this is false for NaN and both infinities.
        "alias real = f64;\nfn finite_real(v: real) -> bool { return abs(v) <= 1.7976931348623157e308; }\n"
    } else {
        "fn finite_real(v: real) -> bool { return finite_f32(v); }\n"
    };
    format!("const D: u32 = {dim}u;\nconst WG: u32 = {WORKGROUP_SIZE}u;\n{real}{}{}\n", objective_prelude(), include_str!("../../../shaders/rng.wgsl"))
}

/// Resolves the type name `real` in composed WGSL: f64 stays an alias (declared by the header);
/// for f32 every `real` identifier is written as `f32`, because naga does not unify
/// `array<real, D>` with a custom objective's `array<f32, D>` through an alias.
pub fn resolve_real(src: String, precision: Precision) -> String {
    if precision == Precision::F64 {
        return src;
    }
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(src.len());
    let mut rest = src.as_str();
    while let Some(i) = rest.find("real") {
        let before = rest[..i].chars().next_back();
        let after = rest[i + 4..].chars().next();
        out += &rest[..i];
        out += if before.is_some_and(ident) || after.is_some_and(ident) { "real" } else { "f32" };
        rest = &rest[i + 4..];
    }
    out + rest
}

/// The full WGSL source of the ensemble kernel for positions stored at `precision`; `pending`
/// is how many escape events a chain holds per dispatch.
pub fn compose(objective: &dyn Objective, method: &Method, precision: Precision, pending: u32) -> String {
    let src = objective.wgsl();
    let state = match precision {
        Precision::F16 => "enable f16;\nalias StateT = f16;\nconst MIN_NORMAL: f32 = 6.103515625e-5;\n",
        Precision::F32 => "alias StateT = f32;\nconst MIN_NORMAL: f32 = 1.17549435e-38;\n",
        Precision::F64 => "alias StateT = f64;\nconst MIN_NORMAL: f64 = 2.2250738585072014e-308;\n",
    };
    let mut out = format!(
        "{state}// escapade kernel: objective {}, d = {}, method {}\nconst PEND: u32 = {pending}u;\n{}{}{}\n{src}\n",
        objective.name(),
        objective.dim(),
        method.kind.name(),
        kernel_contract(),
        method.selectors().wgsl(),
        objective_header_in(objective.dim(), precision),
    );
    if objective.terms().is_none() {
        // Never called: minibatch oracles are refused for objectives without terms.
        out += "fn objective_term_grad(x: ptr<private, array<real, D>>, i: u32, acc: ptr<private, array<real, D>>) {}\n";
    }
    // rho1/rho2 for the self-bounding rule: the objective's own WGSL functions when it defines
    // them and the rule has no explicit forms, else the a + b max(F - fmin, 0)^p forms.
    let explicit = matches!(&method.step_rule, StepRule::SelfBounding(sb) if sb.rho1.is_some());
    for which in ["rho1", "rho2"] {
        let own = !explicit && defines(&src, which);
        let body = if own { format!("{which}(big_f)") } else { format!("rho_form(params.{which}, big_f)") };
        out += &format!("fn chain_{which}(big_f: f32) -> f32 {{ return {body}; }}\n");
    }
    resolve_real(out + include_str!("../../../shaders/kernel.wgsl"), precision)
}

/// Parses and validates a composed module with naga: the error, with its nested causes, as text.
pub fn validate(src: &str) -> Result<(), String> {
    let module = naga::front::wgsl::parse_str(src).map_err(|e| e.message().to_string())?;
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
        .validate(&module)
        .map(|_| ())
        .map_err(|e| crate::objective::custom_error_chain(e.as_inner()))
}

/// The ensemble kernel's half of the contract, generated from `crate::abi`: codes, records,
/// bindings and the fresh chain state.
fn kernel_contract() -> String {
    let mut out = abi::constants();
    out += &abi::declaration::<KernelParams>();
    out += &abi::declaration::<ChainState>();
    out += &abi::declaration::<EscapeEvent>();
    out += &abi::KERNEL_BINDINGS.iter().map(Binding::declaration).collect::<String>();
    out + &abi::constant_fn("fresh_state", &ChainState::fresh())
}

/// The Hessian-vector product kernel for `objective` (positions in f32).
pub fn hvp_source(objective: &dyn Objective) -> String {
    let contract = abi::declaration::<abi::HvpParams>() + &abi::HVP_BINDINGS.iter().map(Binding::declaration).collect::<String>();
    let src = format!("{}{contract}{}\n{}", objective_header(objective.dim()), objective.wgsl(), include_str!("../../../shaders/hvp.wgsl"));
    resolve_real(src, Precision::F32)
}

/// Bind-group layout entries for `bindings` plus the objective's data binding (compute stage).
pub fn layout_entries(bindings: &[Binding]) -> Vec<wgpu::BindGroupLayoutEntry> {
    bindings
        .iter()
        .chain([&abi::DATA])
        .map(|b| wgpu::BindGroupLayoutEntry {
            binding: b.number,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: match b.access {
                    Access::Uniform => wgpu::BufferBindingType::Uniform,
                    Access::Read => wgpu::BufferBindingType::Storage { read_only: true },
                    Access::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        })
        .collect()
}

/// Whether WGSL source `src` defines a function named `name`.
pub fn defines(src: &str, name: &str) -> bool {
    src.split("fn ").skip(1).any(|rest| rest.trim_start().strip_prefix(name).is_some_and(|r| r.trim_start().starts_with('(')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method::{MethodKind, SelfBounding};
    use crate::objective::ObjectiveSpec;

    /// Every objective's composed module parses and validates with naga, for every preset.
    #[test]
    fn composed_modules_validate() {
        let cases = [("toy-saddle", 2), ("quartic", 1), ("quartic", 16), ("octopus", 5), ("octopus", 1), ("phase-retrieval", 4),
            ("matrix-factorization", 3), ("linear-network", 3), ("degenerate-quartic", 2), ("rosenbrock", 3)];
        for (name, d) in cases {
            let obj = ObjectiveSpec::from_name(name, d).unwrap().build().unwrap();
            for kind in MethodKind::ALL {
                let mut method = Method::preset(kind, obj.default_params());
                if kind == MethodKind::Pgd {
                    method.step_rule = StepRule::SelfBounding(SelfBounding::default());
                }
                if kind == MethodKind::Sgd && obj.terms().is_some() {
                    method.oracle = crate::method::Oracle::Minibatch { batch: 4 };
                }
                for precision in [Precision::F16, Precision::F32, Precision::F64] {
                    let src = compose(obj.as_ref(), &method, precision, 4);
                    validate(&src).unwrap_or_else(|e| panic!("{name} d={d} {precision:?}: {e}"));
                }
            }
        }
    }

    /// The Hessian-vector kernel composes and validates for every objective.
    #[test]
    fn hvp_modules_validate() {
        for (name, d) in [("toy-saddle", 2), ("quartic", 16), ("octopus", 5), ("phase-retrieval", 4), ("matrix-factorization", 3)] {
            let obj = ObjectiveSpec::from_name(name, d).unwrap().build().unwrap();
            validate(&hvp_source(obj.as_ref())).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn real_becomes_f32_only_as_a_whole_identifier() {
        let src = "var a: real = real(1.0); fn finite_real(v: real) -> bool {} // surreal".to_string();
        assert_eq!(resolve_real(src.clone(), Precision::F32), "var a: f32 = f32(1.0); fn finite_real(v: f32) -> bool {} // surreal");
        assert_eq!(resolve_real(src.clone(), Precision::F64), src);
    }

    #[test]
    fn finds_function_definitions() {
        assert!(defines("fn rho1(F: f32) -> f32 { return F; }", "rho1"));
        assert!(defines("fn  rho2 (F: f32) -> f32", "rho2"));
        assert!(!defines("fn rho12(F: f32) -> f32", "rho1"));
        assert!(!defines("let rho1 = 3;", "rho1"));
    }
}
