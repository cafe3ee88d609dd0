//! The contract between the host and the WGSL kernels, declared once, here: the shared records
//! (declared with `shared_struct!`), every code the kernels branch on ([`codes`]) and the
//! binding numbers ([`KERNEL_BINDINGS`], [`HVP_BINDINGS`]). The WGSL declarations are generated
//! from these and put in front of the kernels' logic at composition, so the `.wgsl` files hold
//! logic only; a test compares naga's member offsets and sizes with Rust's for every record.

use crate::escape::{NEVER, status};
use crate::layout::{Access, Binding, shared_struct};
pub use crate::objective::wgsl::DATA;
use crate::init::Init;
use crate::method::{Oracle, Perturbation, PrecondKernel, Schedule, Transform};
use crate::rng::Purpose;
use crate::monitor;

/// Indices into the kernel's counters buffer (read back after every dispatch).
pub mod counter {
    /// Events appended this dispatch.
    pub const EVENTS: usize = 0;
    /// Chains still running.
    pub const RUNNING: usize = 1;
    /// Chains certified.
    pub const CERTIFIED: usize = 2;
    /// Chains diverged.
    pub const DIVERGED: usize = 3;
    /// Chains that stopped short of the dispatch's target: more escapes than it holds.
    pub const PAUSED: usize = 4;
    /// Invocations whose loops the driver cut short (results void).
    pub const CUT: usize = 5;
    /// The monitor's violations this dispatch (`crate::monitor`), low word: each chain adds
    /// what its counts grew by, once, after its steps.
    pub const VIOLATIONS_LO: usize = 6;
    /// Their high word (a carry out of the low word, so that no dispatch wraps the count).
    pub const VIOLATIONS_HI: usize = 7;
    /// The monitor's curvature maximum per bin this dispatch, as f32 bits (non-negative floats
    /// order as their bits, so atomicMax on the bits is the float maximum), words BINS..BINS +
    /// `crate::monitor::BINS`.
    pub const BINS: usize = 8;
    /// Length of the buffer.
    pub const LEN: usize = BINS + crate::monitor::BINS;
}

/// The monitor's part of a dispatch's counters (`counter::VIOLATIONS_LO` on) as a tally.
pub fn tally(counters: &[u32]) -> crate::monitor::Tally {
    let mut t = crate::monitor::Tally { violations: u64::from(counters[counter::VIOLATIONS_LO]) | (u64::from(counters[counter::VIOLATIONS_HI]) << 32), ..Default::default() };
    for (b, &bits) in t.bins.iter_mut().zip(&counters[counter::BINS..counter::LEN]) {
        *b = f32::from_bits(bits);
    }
    t
}

/// Every code the kernels branch on, with its WGSL name: chain status, "never", counters,
/// random-stream purposes, init kinds and the method's piece selectors. Each value comes from
/// the Rust type that owns it.
pub fn codes() -> Vec<(&'static str, u32)> {
    let init = |i: Init| i.code().0;
    let oracle = |o: Oracle| o.code();
    let transform = |t: Transform| t.code();
    vec![
        ("NEVER", NEVER),
        ("RUNNING", status::RUNNING),
        ("CERTIFIED", status::CERTIFIED),
        ("DIVERGED_NONFINITE", status::DIVERGED_NONFINITE),
        ("DIVERGED_DOMAIN", status::DIVERGED_DOMAIN),
        ("C_EVENTS", counter::EVENTS as u32),
        ("C_RUNNING", counter::RUNNING as u32),
        ("C_CERTIFIED", counter::CERTIFIED as u32),
        ("C_DIVERGED", counter::DIVERGED as u32),
        ("C_PAUSED", counter::PAUSED as u32),
        ("C_CUT", counter::CUT as u32),
        ("C_VIOL_LO", counter::VIOLATIONS_LO as u32),
        ("C_VIOL_HI", counter::VIOLATIONS_HI as u32),
        ("C_BINS", counter::BINS as u32),
        ("COUNTERS", counter::LEN as u32),
        ("MON_ON", monitor::flags::ON),
        ("MON_HALVE", monitor::flags::HALVE),
        ("MON_RHO1", monitor::flags::RHO1),
        ("MON_SUBLEVEL", monitor::flags::SUBLEVEL),
        ("PENDING_NONE", monitor::pending::NONE),
        ("PENDING_STEP", monitor::pending::STEP),
        ("PENDING_DESCENT", monitor::pending::DESCENT),
        ("COND_DESCENT", monitor::condition::DESCENT),
        ("COND_CURVATURE", monitor::condition::CURVATURE),
        ("COND_SUBLEVEL", monitor::condition::SUBLEVEL),
        ("BINS", monitor::BINS as u32),
        ("BIN_SHIFT", monitor::BIN_SHIFT as u32),
        ("PURPOSE_INIT", Purpose::Init as u32),
        ("PURPOSE_PERTURB", Purpose::Perturb as u32),
        ("PURPOSE_NOISE", Purpose::Noise as u32),
        ("PURPOSE_MINIBATCH", Purpose::Minibatch as u32),
        ("INIT_ZERO", init(Init::Zero)),
        ("INIT_NORMAL", init(Init::Normal(0.0))),
        ("INIT_UNIFORM", init(Init::Uniform(0.0))),
        ("INIT_BALL", init(Init::Ball(0.0))),
        ("INIT_POINT", init(Init::Point(Vec::new()))),
        ("INIT_SPHERE", init(Init::Sphere(0.0))),
        ("INIT_POINTS", crate::init::POINTS_CODE),
        ("ORACLE_EXACT", oracle(Oracle::Exact)),
        ("ORACLE_NOISE", oracle(Oracle::Noise { sigma: 0.0 })),
        ("ORACLE_MINIBATCH", oracle(Oracle::Minibatch { batch: 1 })),
        ("PERTURB_NONE", Perturbation::None.code()),
        ("PERTURB_BALL", Perturbation::Ball.code()),
        ("PERTURB_GAUSSIAN", Perturbation::Gaussian.code()),
        ("TRANSFORM_IDENTITY", transform(Transform::Identity)),
        ("TRANSFORM_CLIP_HARD", transform(Transform::ClipHard { gamma: 1.0 })),
        ("TRANSFORM_CLIP_SMOOTH", transform(Transform::ClipSmooth { gamma: 1.0 })),
        ("TRANSFORM_PRECONDITION", transform(Transform::Precondition { kernel: PrecondKernel::Asinh, lambda: 1.0 })),
        ("PRECOND_ASINH", PrecondKernel::Asinh.code()),
        ("PRECOND_LOG1P", PrecondKernel::Log1p.code()),
        ("PRECOND_RATIONAL", PrecondKernel::Rational.code()),
        ("PRECOND_CLIP", PrecondKernel::Clip.code()),
        ("SCHEDULE_CONSTANT", Schedule::Constant.code()),
        ("SCHEDULE_INV_SQRT", Schedule::InvSqrt.code()),
        ("SCHEDULE_PIECEWISE", Schedule::Piecewise { pieces: Vec::new() }.code()),
        ("RULE_FIXED", 0),
        ("RULE_SELF_BOUNDING", 1),
    ]
}

/// [`codes`] as WGSL constants, and the monitor's float tolerance, resolution and halving
/// limit (powers of two and an integer, written exactly).
pub fn constants() -> String {
    let codes: String = codes().into_iter().map(|(name, v)| format!("const {name}: u32 = {v}u;\n")).collect();
    codes
        + &format!("const TOL_REL: f32 = {:e};\n", f64::from(monitor::TOL_REL))
        + &format!("const RESOLVED: f32 = {:e};\nconst MAX_HALVINGS: u32 = {}u;\n", f64::from(monitor::RESOLVED), monitor::MAX_HALVINGS)
}

/// The ensemble kernel's bindings besides [`DATA`]. `StateT` is the stored type of positions.
pub const KERNEL_BINDINGS: [Binding; 8] = [
    Binding { number: 0, name: "params", access: Access::Uniform, ty: "KernelParams" },
    // Chain-major interleaved: coordinate i of chain c at xs[i * chains + c], so neighbouring
    // invocations touch neighbouring addresses.
    Binding { number: 1, name: "xs", access: Access::ReadWrite, ty: "array<StateT>" },
    Binding { number: 2, name: "states", access: Access::ReadWrite, ty: "array<ChainState>" },
    Binding { number: 3, name: "events", access: Access::ReadWrite, ty: "array<EscapeEvent>" },
    Binding { number: 4, name: "counters", access: Access::ReadWrite, ty: "array<atomic<u32>, COUNTERS>" },
    // Slot-major trace of positions: trace[(slot * trace_chains + chain) * D + i].
    Binding { number: 5, name: "trace", access: Access::ReadWrite, ty: "array<f32>" },
    // A given starting point (Init::Point), shared by all chains, or one per chain (Init::Points:
    // chain c's at c * D).
    Binding { number: 7, name: "init_points", access: Access::Read, ty: "array<f32>" },
    // x~ of every chain (the point before its last kick; ball perturbation only), laid out as xs.
    Binding { number: 8, name: "xt", access: Access::ReadWrite, ty: "array<StateT>" },
];

/// The cooperative family's chain vectors: x, g, v and x~ of each chain in turn, each DP reals
/// (the dimension rounded up to 4), chain-major (`shaders/cooperative.wgsl`).
pub const WORK: Binding = Binding { number: 9, name: "work", access: Access::ReadWrite, ty: "array<real>" };

/// The cooperative family's bindings: [`KERNEL_BINDINGS`] and [`WORK`].
pub const COOPERATIVE_BINDINGS: [Binding; 9] = {
    let mut out = [WORK; 9];
    let mut i = 0;
    while i < KERNEL_BINDINGS.len() {
        out[i] = KERNEL_BINDINGS[i];
        i += 1;
    }
    out
};

/// The Hessian-vector product kernel's bindings besides [`DATA`]: points and vectors n x D
/// row-major, products out.
pub const HVP_BINDINGS: [Binding; 4] = [
    Binding { number: 0, name: "hvp_params", access: Access::Uniform, ty: "HvpParams" },
    Binding { number: 1, name: "hvp_points", access: Access::Read, ty: "array<f32>" },
    Binding { number: 2, name: "hvp_vectors", access: Access::Read, ty: "array<f32>" },
    Binding { number: 3, name: "hvp_out", access: Access::ReadWrite, ty: "array<f32>" },
];

shared_struct! {
    /// Parameters of a Hessian-vector product dispatch (16 bytes).
    pub struct HvpParams {
        /// Number of points.
        pub n: u32,
        /// Padding.
        pub pad0: u32,
        /// Padding.
        pub pad1: u32,
        /// Padding.
        pub pad2: u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::escape::{ChainState, EscapeEvent};
    use crate::kernel::KernelParams;
    use crate::layout::{SharedStruct, constant_fn, declaration};

    /// naga's layout of struct `name` in `src`: (member, offset, size), and the struct's size.
    fn naga_layout(src: &str, name: &str) -> (Vec<(String, u32, u32)>, u32) {
        let module = naga::front::wgsl::parse_str(src).unwrap_or_else(|e| panic!("{}", e.emit_to_string(src)));
        let mut layouter = naga::proc::Layouter::default();
        layouter.update(module.to_ctx()).unwrap();
        let (handle, ty) = module.types.iter().find(|(_, t)| t.name.as_deref() == Some(name)).unwrap();
        let naga::TypeInner::Struct { members, span } = &ty.inner else { panic!("{name} is not a struct") };
        let _ = handle;
        let layout = members
            .iter()
            .map(|m| (m.name.clone().unwrap_or_default(), m.offset, layouter[m.ty].size))
            .collect();
        (layout, *span)
    }

    fn same_layout<T: SharedStruct>(uses: &str) {
        let src = format!("{}{}", declaration::<T>(), uses);
        let (naga, span) = naga_layout(&src, T::NAME);
        let rust: Vec<(String, u32, u32)> = T::members().iter().map(|m| (m.name.to_string(), m.offset as u32, m.size as u32)).collect();
        assert_eq!(naga, rust, "{} member offsets and sizes", T::NAME);
        assert_eq!(span as usize, std::mem::size_of::<T>(), "{} size", T::NAME);
    }

    /// Every shared record has the same member offsets and sizes in WGSL (as naga lays them out
    /// in the address space the kernel uses) and in Rust.
    #[test]
    fn shared_records_have_one_layout() {
        same_layout::<KernelParams>("@group(0) @binding(0) var<uniform> p: KernelParams;\n");
        same_layout::<HvpParams>("@group(0) @binding(0) var<uniform> p: HvpParams;\n");
        same_layout::<ChainState>("@group(0) @binding(0) var<storage, read_write> s: array<ChainState>;\n");
        same_layout::<EscapeEvent>("@group(0) @binding(0) var<storage, read_write> e: array<EscapeEvent>;\n");
    }

    /// The generated constant function reproduces the Rust value bit for bit (checked by naga's
    /// constant evaluation is not available, so by parsing the literals back).
    #[test]
    fn constant_fn_spells_every_member() {
        let st = ChainState::fresh();
        let f = constant_fn("fresh", &st);
        for m in <ChainState as SharedStruct>::members() {
            assert!(f.contains(&format!("r.{} = ", m.name)), "{f}");
        }
        assert!(f.contains(&format!("r.t_noise = {}u;", NEVER)), "{f}");
        let src = format!("{}{f}", declaration::<ChainState>());
        naga::front::wgsl::parse_str(&src).unwrap_or_else(|e| panic!("{}", e.emit_to_string(&src)));
    }

    #[test]
    fn codes_are_distinct_within_each_family() {
        let codes = codes();
        let families = ["C_", "MON_", "PENDING_", "COND_", "PURPOSE_", "INIT_", "ORACLE_", "PERTURB_", "TRANSFORM_", "PRECOND_", "SCHEDULE_", "RULE_"];
        for family in families {
            let values: Vec<u32> = codes.iter().filter(|(n, _)| n.starts_with(family) && *n != "COUNTERS").map(|c| c.1).collect();
            let distinct: std::collections::BTreeSet<u32> = values.iter().copied().collect();
            assert!(values.len() >= 2 && distinct.len() == values.len(), "{family}: {values:?}");
        }
        let status: std::collections::BTreeSet<u32> = [status::RUNNING, status::CERTIFIED, status::DIVERGED_NONFINITE, status::DIVERGED_DOMAIN].into();
        assert_eq!(status.len(), 4);
        let numbers: std::collections::BTreeSet<u32> = KERNEL_BINDINGS.iter().map(|b| b.number).chain([DATA.number]).collect();
        assert_eq!(numbers.len(), KERNEL_BINDINGS.len() + 1);
        assert!(HVP_BINDINGS.iter().all(|b| b.number != DATA.number));
    }
}
