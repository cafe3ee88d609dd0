//! The WGSL side of the objective contract: the header every objective is compiled after
//! (dimension `D`, the arithmetic type `real`, `finite_real`, `struct Eval`, the shared `data`
//! binding, the Philox stream), the resolution of `real`, and naga validation.

use crate::layout::{Access, Binding};
use crate::precision::Precision;
use super::Objective;

/// The objective's shared read-only data (e.g. phase retrieval's A and y), f32 on every
/// precision; declared in the objective prelude, bound by both kernels.
pub const DATA: Binding = Binding { number: 6, name: "data", access: Access::Read, ty: "array<f32>" };

/// The same binding seen as vec4s, for objectives whose [`Objective::data_vec4`] says so: one
/// load brings four values (on lavapipe a load from a storage buffer costs far more than the
/// arithmetic it feeds; see BENCHMARKS.md).
pub const DATA_VEC4: Binding = Binding { ty: "array<vec4<f32>>", ..DATA };

/// Declarations every objective may use: the evaluation record and the shared data binding
/// (stored as f32 on every precision; objectives widen it with `real(data[i])`).
fn objective_prelude(vec4: bool) -> String {
    format!("struct Eval {{ f: real, label: u32, ok: u32 }}\n{}", if vec4 { DATA_VEC4 } else { DATA }.declaration())
}

/// The header an objective's source is compiled after in f32: dimension, prelude, random stream.
/// Pass the composed text through [`resolve_real`].
pub fn objective_header(dim: usize) -> String {
    header(dim, Precision::F32, false)
}

/// The header `objective` is compiled after, for positions of `precision` (f16 storage computes
/// in f32), with `data` declared as the objective reads it ([`Objective::data_vec4`]).
pub fn objective_header_for(objective: &dyn Objective, precision: Precision) -> String {
    header(objective.dim(), precision, objective.device().data_vec4())
}

fn header(dim: usize, precision: Precision, vec4: bool) -> String {
    let real = if precision == Precision::F64 {
        // NaN fails every ordered comparison, so this is false for NaN and both infinities.
        "alias real = f64;\nfn finite_real(v: real) -> bool { return abs(v) <= 1.7976931348623157e308; }\n"
    } else {
        "fn finite_real(v: real) -> bool { return finite_f32(v); }\n"
    };
    format!("const D: u32 = {dim}u;\n{real}{}{}\n", objective_prelude(vec4), include_str!("../../shaders/rng.wgsl"))
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

/// Parses and validates a composed module with naga: the error, with its nested causes, as text.
pub fn validate(src: &str) -> Result<(), String> {
    let module = naga::front::wgsl::parse_str(src).map_err(|e| e.message().to_string())?;
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
        .validate(&module)
        .map(|_| ())
        .map_err(|e| super::custom_error_chain(e.as_inner()))
}

/// What the cooperative kernel (`shaders/cooperative.wgsl`) gives an `objective_lanes`, as
/// stand-ins with the same signatures: a custom file that defines one is validated against these
/// (docs/adding-an-objective.md, "The cooperative form"), and the modules that hold the file but
/// never call its `objective_lanes` (the per-invocation kernel, the point kernels) declare them.
pub const LANES_STANDINS: &str = "const LANES: u32 = 1u;\nvar<private> lane: u32;\nvar<private> lo: u32;\nvar<private> hi: u32;\n\
fn x_at(i: u32) -> real { return real(i); }\nfn g_at(i: u32) -> real { return real(i); }\nfn g_set(i: u32, value: real) {}\n\
fn g_add(i: u32, value: real) {}\nfn v_add(i: u32, value: real) {}\nfn lanes_sum(a: real) -> real { return a; }\nfn lanes_min(u: u32) -> u32 { return u; }\n";

/// `LANES_STANDINS` when `src` defines `objective_lanes` for a module that does not call it.
pub fn lanes_standins_for(src: &str) -> &'static str {
    if defines(src, "objective_lanes") { LANES_STANDINS } else { "" }
}

/// Whether WGSL source `src` defines a function named `name`.
pub fn defines(src: &str, name: &str) -> bool {
    src.split("fn ").skip(1).any(|rest| rest.trim_start().strip_prefix(name).is_some_and(|r| r.trim_start().starts_with('(')))
}


/// Splits a source's leading directives (`enable`, `requires`, `diagnostic`), which WGSL allows
/// only before every declaration, from the rest: composed modules put them first, ahead of
/// escapade's declarations. The rest keeps an empty line where each directive was, so that
/// lines in error messages stay the user's.
pub fn split_directives(src: &str) -> (String, String) {
    let (mut directives, mut rest, mut leading) = (String::new(), String::with_capacity(src.len()), true);
    for line in src.split_inclusive('\n') {
        let t = line.trim();
        let keyword = ["enable", "requires", "diagnostic"].iter().any(|k| t.strip_prefix(k).is_some_and(|r| r.starts_with([' ', '\t', '('])));
        let directive = keyword && t.ends_with(';');
        leading &= directive || t.is_empty() || t.starts_with("//");
        if leading && directive {
            directives += t;
            directives += "\n";
            rest += &line[line.trim_end_matches(['\n', '\r']).len()..];
        } else {
            rest += line;
        }
    }
    (directives, rest)
}

/// `directives` without those `first` already holds (a module may enable f16 once for its state
/// and once for the user's objective).
pub fn new_directives(directives: &str, first: &str) -> String {
    directives.lines().filter(|d| !first.lines().any(|f| f.trim() == d.trim())).map(|d| format!("{d}\n")).collect()
}
