//! Composes the WGSL module for one (objective, dimension, method): generated constants, the
//! Philox prelude, the objective and the kernel, in that order.

use crate::objective::Objective;

/// Invocations per workgroup.
pub const WORKGROUP_SIZE: u32 = 64;

/// The full WGSL source of the ensemble kernel.
pub fn compose(objective: &dyn Objective, perturbs: bool) -> String {
    format!(
        "// escapade kernel: objective {name}, d = {d}, perturbs = {perturbs}\n\
         const D: u32 = {d}u;\nconst WG: u32 = {WORKGROUP_SIZE}u;\nconst PERTURB: bool = {perturbs};\n\
         struct Eval {{ f: f32, label: u32, ok: u32 }}\n\
         {rng}\n{obj}\n{kernel}",
        name = objective.name(),
        d = objective.dim(),
        rng = include_str!("../../../shaders/rng.wgsl"),
        obj = objective.wgsl(),
        kernel = include_str!("../../../shaders/kernel.wgsl"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::ObjectiveSpec;

    /// Every objective's composed module parses and validates with naga, for GD and PGD.
    #[test]
    fn composed_modules_validate() {
        for (name, d) in [("toy-saddle", 2), ("quartic", 1), ("quartic", 16), ("octopus", 5), ("octopus", 1)] {
            let obj = ObjectiveSpec::from_name(name, d).unwrap().build().unwrap();
            for perturbs in [false, true] {
                let src = compose(obj.as_ref(), perturbs);
                let module = naga::front::wgsl::parse_str(&src)
                    .unwrap_or_else(|e| panic!("{name} d={d}: {}", e.emit_to_string(&src)));
                naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
                    .validate(&module)
                    .unwrap_or_else(|e| panic!("{name} d={d}: {}", e.emit_to_string(&src)));
            }
        }
    }
}
