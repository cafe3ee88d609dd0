//! Composes the WGSL modules: for the ensemble kernel, one per (objective, dimension, method,
//! precision): the declarations generated from the Rust contract (`crate::abi`: records, codes,
//! bindings), the method's selectors, the Philox prelude, the objective, the rho functions and
//! the kernel's logic, in that order; for the Hessian-vector kernel, one per objective.
//!
//! Positions, gradients and values are of type `real` (f32, or f64 for `--state f64`), declared
//! here; the stored type `StateT` is f16, f32 or f64. Random draws, chain bookkeeping and every
//! transcendental stay f32: Vulkan has no f64 log/exp/pow/sin/cos.

use crate::abi;
use crate::layout::{self, Access, Binding};
pub use crate::objective::wgsl::{defines, objective_header_for, resolve_real, validate};
use crate::objective::wgsl::{lanes_standins_for, new_directives, split_directives};
use crate::escape::{ChainState, EscapeEvent};
use crate::precision::Precision;
use crate::Error;
use crate::kernel::KernelParams;
use crate::method::{Method, StepRule};
use crate::objective::Objective;

/// Invocations per workgroup.
pub const WORKGROUP_SIZE: u32 = 64;

/// What a kernel is composed with or without: lavapipe runs a branch every step even when no
/// invocation takes it, so what an experiment does not use is left out of its kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Switches {
    /// Whether the experiment records positions (the trace check cost the toy saddle's step
    /// 1.5x on lavapipe).
    pub traced: bool,
    /// Whether the self-bounding monitor runs (`crate::monitor`; its sums in the update, its
    /// check after each evaluation).
    pub monitor: bool,
}

impl From<bool> for Switches {
    /// Traced or not, without the monitor.
    fn from(traced: bool) -> Self {
        Switches { traced, monitor: false }
    }
}

impl Switches {
    /// The switches experiment `exp` needs.
    pub fn of(exp: &crate::Experiment) -> Self {
        Switches { traced: exp.trace.is_some(), monitor: crate::monitor::flags_of(exp) & crate::monitor::flags::ON != 0 }
    }
}

/// The full WGSL source of the per-invocation ensemble kernel for positions stored at
/// `precision`; `pending` is how many escape events a chain holds per dispatch; `switches`: the
/// trace and the monitor, in or out ([`Switches`]).
pub fn compose(objective: &dyn Objective, method: &Method, precision: Precision, pending: u32, switches: impl Into<Switches>) -> String {
    let switches = switches.into();
    let mut own = objective.device().wgsl();
    // A custom file's cooperative form, never called here, against stand-ins.
    own += lanes_standins_for(&own);
    if objective.terms().is_none() {
        // Never called: minibatch oracles are refused for objectives without terms.
        own += "\nfn objective_term_grad(x: ptr<private, array<real, D>>, i: u32, acc: ptr<private, array<real, D>>) {}\n";
    }
    let family = Composition { workgroup: WORKGROUP_SIZE, consts: String::new(), bindings: &abi::KERNEL_BINDINGS, module: include_str!("../../../shaders/kernel.wgsl") };
    compose_family(objective, &own, method, precision, pending, switches, &family)
}

/// The ensemble kernel over chains in storage (`shaders/cooperative.wgsl`): `lanes` invocations per
/// chain (a workgroup; 1: one invocation per chain, [`WORKGROUP_SIZE`] chains per workgroup),
/// over the objective's cooperative form ([`Objective::wgsl_lanes`], which the caller checked).
pub fn compose_cooperative(objective: &dyn Objective, method: &Method, precision: Precision, pending: u32, switches: impl Into<Switches>, lanes: u32) -> String {
    let switches = switches.into();
    let d = objective.dim() as u32;
    let mut own = objective.device().wgsl_lanes().unwrap_or_default();
    if !defines(&own, "objective_term_lanes") {
        // Never called: minibatch oracles are refused for objectives without terms.
        own += "\nfn objective_term_lanes(k: u32) {}\n";
    }
    let per_lane = d.div_ceil(4 * lanes) * 4;
    let consts = format!("const LANES: u32 = {lanes}u;\nconst RED: u32 = {}u;\nconst CH: u32 = {per_lane}u;\nconst DP: u32 = {}u;\n", lanes.div_ceil(4), d.next_multiple_of(4));
    let workgroup = if lanes == 1 { WORKGROUP_SIZE } else { lanes };
    let family = Composition { workgroup, consts, bindings: &abi::COOPERATIVE_BINDINGS, module: include_str!("../../../shaders/cooperative.wgsl") };
    compose_family(objective, &own, method, precision, pending, switches, &family)
}

/// What a kernel family puts into its module: its workgroup size, constants, bindings and its
/// own WGSL (the coordinate work of [`FAMILY_API`] and the entry points).
struct Composition {
    workgroup: u32,
    consts: String,
    bindings: &'static [Binding],
    module: &'static str,
}

/// The declarations generated from the Rust contract, the method's selectors, the objective's
/// header and its WGSL `own`, the rho functions, then [`STEP_MODULES`] and the family's module.
#[allow(clippy::too_many_arguments)]
fn compose_family(objective: &dyn Objective, own: &str, method: &Method, precision: Precision, pending: u32, switches: Switches, family: &Composition) -> String {
    let Switches { traced, monitor } = switches;
    // The objective's directives (`enable f16;`) go first, where WGSL wants them.
    let (directives, src) = split_directives(own);
    let state = match precision {
        Precision::F16 => "enable f16;\nalias StateT = f16;\n",
        Precision::F32 => "alias StateT = f32;\n",
        Precision::F64 => "alias StateT = f64;\n",
    };
    let mut out = format!(
        "{}{state}// escapade kernel: objective {}, d = {}, method {}\nconst WG: u32 = {}u;\nconst PEND: u32 = {pending}u;\nconst TRACED: bool = {traced};\nconst MONITOR: bool = {monitor};\nconst RHO1_ROOT: u32 = {}u;\n{}{}{}{}\n{src}\n",
        new_directives(&directives, state),
        objective.name(),
        objective.dim(),
        method.kind.name(),
        family.workgroup,
        rho1_root(objective, method),
        family.consts,
        kernel_contract(family.bindings),
        method.selectors().wgsl(),
        objective_header_for(objective, precision),
    );
    out += load_stub(&src);
    // rho1/rho2 for the self-bounding rule: the objective's own WGSL functions when it defines
    // them and the rule has no explicit forms, else the a + b max(F - fmin, 0)^p forms.
    let explicit = matches!(&method.step_rule, StepRule::SelfBounding(sb) if sb.rho1.is_some());
    for which in ["rho1", "rho2"] {
        let own = !explicit && defines(&src, which);
        let body = if own { format!("{which}(big_f)") } else { format!("rho_form(params.{which}, big_f)") };
        out += &format!("fn chain_{which}(big_f: f32) -> f32 {{ return {body}; }}\n");
    }
    resolve_real(out + &STEP_MODULES.iter().map(|m| m.source).collect::<String>() + family.module, precision)
}

/// A WGSL module of the ensemble kernel and the functions it defines for the modules after it.
pub struct Module {
    /// Its file under shaders/.
    #[cfg_attr(not(test), allow(dead_code))]
    pub file: &'static str,
    /// Its text.
    pub source: &'static str,
    /// The functions other modules call (checked by a test).
    #[cfg_attr(not(test), allow(dead_code))]
    pub exports: &'static [&'static str],
}

/// The modules every kernel family composes after the objective, in order: the method's scalar
/// pieces, then the chain's logic (the stall detector, kicks, escapes, the hold, the fused loop),
/// then the self-bounding monitor's check (`crate::monitor`). The family's own module follows
/// and provides [`FAMILY_API`].
pub const STEP_MODULES: [Module; 3] = [
    Module { file: "pieces.wgsl", source: include_str!("../../../shaders/pieces.wgsl"), exports: &["key", "chain_params", "transform_scale", "schedule_eta"] },
    Module {
        file: "detector.wgsl",
        source: include_str!("../../../shaders/detector.wgsl"),
        exports: &["evaluate", "step", "step_rare", "step_tail", "init_state", "fused", "after_steps", "count_status"],
    },
    Module { file: "monitor.wgsl", source: include_str!("../../../shaders/monitor.wgsl"), exports: &["monitor", "monitor_begin", "monitor_flush", "monitor_on", "leave", "kept"] },
];

/// What a kernel family's module provides to [`STEP_MODULES`]: the work on coordinates.
#[cfg_attr(not(test), allow(dead_code))]
pub const FAMILY_API: [&str; 8] = ["eval_point", "direction", "norm_v", "update", "restore_tilde", "kick", "trace_x", "init_point"];

/// [`compose`], validated with naga. A module that does not validate is the objective's fault
/// when the objective is WGSL-only: its names clash with the kernel's, or (with f64 state) it
/// is written in f32; both come back as errors naming the cause, never as a device error.
pub fn compose_checked(objective: &dyn Objective, method: &Method, precision: Precision, pending: u32, switches: impl Into<Switches>) -> Result<String, Error> {
    let switches = switches.into();
    checked(objective, precision, |p| compose(objective, method, p, pending, switches))
}

/// [`compose_cooperative`], validated as [`compose_checked`] validates.
pub fn compose_cooperative_checked(objective: &dyn Objective, method: &Method, precision: Precision, pending: u32, switches: impl Into<Switches>, lanes: u32) -> Result<String, Error> {
    let switches = switches.into();
    checked(objective, precision, |p| compose_cooperative(objective, method, p, pending, switches, lanes))
}

/// The module `compose` makes at `precision`, validated, or what is wrong with it.
fn checked(objective: &dyn Objective, precision: Precision, compose: impl Fn(Precision) -> String) -> Result<String, Error> {
    let src = compose(precision);
    let Err(why) = validate(&src) else { return Ok(src) };
    // Only f64 state can fail where f32 passes: then the objective is written in f32.
    let f32_ok = precision == Precision::F64 && validate(&compose(Precision::F32)).is_ok();
    Err(match (objective.cpu_twin(), f32_ok) {
        (false, true) => Error::invalid(
            "state",
            format!("f32 or f16 for {}: its WGSL does not compile in f64, write `real` where it writes f32 ({why})", objective.wgsl_origin()),
            "f64",
        ),
        (false, false) => Error::Shader(format!(
            "{}: conflicts with escapade's kernel ({why}); avoid its names: x, g, v, st, params, data, step, evaluate, \
             ball, sphere, normals, philox, key and names starting with init_, chain_, trace, events, counters, xs, states",
            objective.wgsl_origin()
        )),
        (true, _) => Error::Gpu(format!("escapade's kernel for {} does not validate: {why}", objective.name())),
    })
}

/// The power of the rho1 form the monitor checks against (`KernelParams::rho1`, resolved as
/// `KernelParams::new` does) as a root: 2 for p = 1/2, 4 for p = 1/4, 0 otherwise. The monitor
/// evaluates rho1 at every check, and `rho_form` pays for its general power even where a square
/// root replaces it (lavapipe runs the branch not taken; a GPU evaluates pow as two special
/// functions): knowing p here, the kernel computes the one it needs, as `Rho::eval_f32` does.
fn rho1_root(objective: &dyn Objective, method: &Method) -> u32 {
    let rho1 = match &method.step_rule {
        StepRule::SelfBounding(sb) if sb.rho1.is_some() => sb.rho1,
        _ => objective.rho().map(|r| r.0),
    };
    match rho1.map(|r| r.p as f32) {
        Some(0.5) => 2,
        Some(0.25) => 4,
        _ => 0,
    }
}

/// A no-op `objective_load` unless the objective defines one (its workgroup copy of its data;
/// the kernels call it once per dispatch, then a barrier, before any invocation returns).
fn load_stub(src: &str) -> &'static str {
    if defines(src, "objective_load") { "" } else { "fn objective_load(lid: u32) {}\n" }
}

/// The ensemble kernel's half of the contract, generated from `crate::abi`: codes, records,
/// bindings and the fresh chain state.
fn kernel_contract(bindings: &[Binding]) -> String {
    let mut out = abi::constants();
    out += &layout::declaration::<KernelParams>();
    out += &layout::declaration::<ChainState>();
    out += &layout::declaration::<EscapeEvent>();
    out += &bindings.iter().map(Binding::declaration).collect::<String>();
    out + &layout::constant_fn("fresh_state", &ChainState::fresh())
}

/// The Hessian-vector product kernel for `objective` (positions in f32).
pub fn hvp_source(objective: &dyn Objective) -> String {
    point_source(objective, "", include_str!("../../../shaders/hvp.wgsl"))
}

/// The bare update loop for `objective` (positions in f32): `steps` plain gradient steps of size
/// `eta` per invocation, the baseline of the benchmarks.
pub fn bare_source(objective: &dyn Objective, eta: f32, steps: u32) -> String {
    point_source(objective, &format!("const ETA: f32 = {eta:?};\nconst STEPS: u32 = {steps}u;\n"), include_str!("../../../shaders/bare.wgsl"))
}

/// A one-invocation-per-point kernel over the product bindings: the objective's header, the
/// bindings, `consts`, the objective (with its data loader) and `logic`.
fn point_source(objective: &dyn Objective, consts: &str, logic: &str) -> String {
    let contract = layout::declaration::<abi::HvpParams>() + &abi::HVP_BINDINGS.iter().map(Binding::declaration).collect::<String>();
    let (directives, own) = split_directives(&objective.device().wgsl());
    let header = objective_header_for(objective, Precision::F32);
    resolve_real(format!("{directives}{header}const WG: u32 = {WORKGROUP_SIZE}u;\n{consts}{contract}{}{own}\n{}{logic}", lanes_standins_for(&own), load_stub(&own)), Precision::F32)
}

/// Bind-group entries for `bindings` plus the objective's data binding, each binding given the
/// buffer of its name in `buffers`: a binding without a buffer, or a buffer no binding names, is
/// refused here, so reordering a bindings table can never swap two buffers silently.
pub fn bind_entries<'a>(bindings: &[Binding], buffers: &[(&str, &'a wgpu::Buffer)]) -> Result<Vec<wgpu::BindGroupEntry<'a>>, Error> {
    let all: Vec<&Binding> = bindings.iter().chain([&abi::DATA]).collect();
    if let Some((name, _)) = buffers.iter().find(|(name, _)| !all.iter().any(|b| b.name == *name)) {
        return Err(Error::Gpu(format!("a buffer for {name}, which the kernel does not bind")));
    }
    all.iter()
        .map(|b| match buffers.iter().find(|(name, _)| *name == b.name) {
            Some((_, buf)) => Ok(wgpu::BindGroupEntry { binding: b.number, resource: buf.as_entire_binding() }),
            None => Err(Error::Gpu(format!("no buffer for the kernel's binding {}", b.name))),
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method::{MethodKind, SelfBounding};
    use crate::objective::ObjectiveSpec;

    /// Every preset for `obj`, with the self-bounding rule on PGD and a minibatch oracle on SGD
    /// where the objective is a finite sum.
    fn every_method(obj: &dyn Objective) -> Vec<Method> {
        MethodKind::ALL
            .into_iter()
            .map(|kind| {
                let mut method = Method::preset(kind, obj.default_params());
                if kind == MethodKind::Pgd {
                    method.step_rule = StepRule::SelfBounding(SelfBounding::default());
                }
                if kind == MethodKind::Sgd && obj.terms().is_some() {
                    method.oracle = crate::method::Oracle::Minibatch { batch: 4 };
                }
                method
            })
            .collect()
    }

    /// The linear network with n = p, `rank` and `depth` (d = 2 n r + (depth - 2) r^2).
    fn deep_linear_network(n: usize, rank: usize, depth: usize) -> std::sync::Arc<dyn crate::Objective> {
        ObjectiveSpec::LinearNetwork { n, rank, p: n, kappa: 0.1, depth, data: crate::objective::DataSource::Seed(1) }.build().unwrap()
    }

    /// A network on a shipped data set (d from `layers`).
    fn network(dataset: &str, layers: &[usize], activation: crate::objective::Activation, loss: crate::objective::Loss, kappa: f64) -> std::sync::Arc<dyn crate::Objective> {
        let data = crate::objective::DataSource::Seed(0);
        let (weight_decay, holdout, standardise, split_seed) = (1e-3, 0.5, true, 1);
        ObjectiveSpec::Mlp { dataset: dataset.into(), layers: layers.to_vec(), activation, loss, weight_decay, kappa, holdout, standardise, split_seed, data }.build().unwrap()
    }

    /// Every objective's composed module parses and validates with naga, for every preset, at
    /// each of the catalogue's test dimensions.
    #[test]
    fn composed_modules_validate() {
        let cases = crate::objective::catalogue::CATALOGUE.iter().flat_map(|e| e.tests.iter().map(move |&d| (e.name, d)));
        let built = cases.map(|(name, d)| (name, d, ObjectiveSpec::from_name(name, d).unwrap().build().unwrap()));
        let deep = deep_linear_network(3, 3, 3);
        for (name, d, obj) in built.chain([("linear-network depth 3", deep.dim(), deep.clone())]) {
            for method in every_method(obj.as_ref()) {
                for precision in [Precision::F16, Precision::F32, Precision::F64] {
                    for (traced, monitor) in [(false, false), (true, true)] {
                        let src = compose(obj.as_ref(), &method, precision, 4, Switches { traced, monitor });
                        validate(&src).unwrap_or_else(|e| panic!("{name} d={d} {precision:?}: {e}"));
                    }
                }
            }
        }
    }

    /// The cooperative family's module validates for every objective with a cooperative form,
    /// every method and precision, at dimensions that do and do not fill the lanes.
    #[test]
    fn cooperative_modules_validate() {
        use crate::objective::{Activation, Loss};
        let cases = [("quartic", 3), ("quartic", 257), ("rosenbrock", 1030), ("phase-retrieval", 5), ("phase-retrieval", 300), ("matrix-factorization", 3), ("matrix-factorization", 130), ("octopus", 3), ("octopus", 300), ("linear-network", 3), ("linear-network", 100), ("mlp", 1)];
        let built = cases.iter().map(|&(name, d)| (name, ObjectiveSpec::from_name(name, d).unwrap().build().unwrap()));
        // Networks beyond the per-invocation family's 256: Wine 13-16-3 (d = 275), three layers
        // of each activation and loss (d = 299), Digits 64-32-10 (d = 2410) and 64-72-10 (whose
        // 72-term sums loop over blocks).
        let networks = [
            ("mlp wine 13-16-3", network("wine", &[13, 16, 3], Activation::Tanh, Loss::CrossEntropy, 0.0)),
            ("mlp wine 13-12-8-3 softplus", network("wine", &[13, 12, 8, 3], Activation::Softplus, Loss::Squared, 0.1)),
            ("mlp wine 13-12-8-3 gelu", network("wine", &[13, 12, 8, 3], Activation::Gelu, Loss::CrossEntropy, 0.1)),
            ("mlp digits 64-32-10", network("digits", &[64, 32, 10], Activation::Tanh, Loss::CrossEntropy, 0.0)),
            ("mlp digits 64-72-10", network("digits", &[64, 72, 10], Activation::Gelu, Loss::Squared, 0.0)),
        ];
        let deep = [("linear-network depth 3", deep_linear_network(3, 3, 3)), ("linear-network depth 4", deep_linear_network(13, 8, 4))];
        for (name, obj) in built.chain(deep).chain(networks) {
            let d = obj.dim();
            assert!(obj.device().wgsl_lanes().is_some(), "{name}");
            for method in every_method(obj.as_ref()) {
                for (precision, lanes) in [Precision::F16, Precision::F32, Precision::F64].into_iter().flat_map(|p| [(p, 1), (p, super::super::family::Cooperative::lanes(d))]) {
                    let src = compose_cooperative(obj.as_ref(), &method, precision, 4, true, lanes);
                    validate(&src).unwrap_or_else(|e| panic!("{name} d={d} {precision:?} {lanes} lanes: {e}"));
                }
            }
        }
    }

    /// Each module defines what it declares it exports, and each family's module the functions
    /// the shared modules call.
    #[test]
    fn modules_define_what_they_export() {
        for m in STEP_MODULES {
            for f in m.exports {
                assert!(defines(m.source, f), "{} does not define {f}", m.file);
            }
        }
        for (file, family) in [("kernel.wgsl", include_str!("../../../shaders/kernel.wgsl")), ("cooperative.wgsl", include_str!("../../../shaders/cooperative.wgsl"))] {
            for f in FAMILY_API {
                assert!(defines(family, f), "{file} does not define {f}");
            }
        }
    }

    /// The Hessian-vector kernel and the bare loop compose and validate for every objective.
    #[test]
    fn hvp_modules_validate() {
        let catalogue = crate::objective::catalogue::CATALOGUE.iter().flat_map(|e| e.tests.iter().map(move |&d| (e.name, d)));
        // Phase retrieval at 7: rows that neither fill vec4s nor are a multiple of the products' block.
        for (name, d) in catalogue.chain([("phase-retrieval", 7)]) {
            let obj = ObjectiveSpec::from_name(name, d).unwrap().build().unwrap();
            validate(&hvp_source(obj.as_ref())).unwrap_or_else(|e| panic!("{name}: {e}"));
            validate(&bare_source(obj.as_ref(), 0.01, 10)).unwrap_or_else(|e| panic!("{name}: {e}"));
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
