//! Helpers shared by the integration tests.
#![allow(dead_code)]

use escapade::{GpuEngine, Objective, ObjectiveSpec};
use std::sync::Arc;

/// The GPU engine, or None outside CI when no adapter exists. With CI=true a missing adapter is
/// a failure: GPU tests must run for real on lavapipe there.
pub fn gpu() -> Option<GpuEngine> {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        let dir = std::env::temp_dir().join("escapade-xdg");
        let _ = std::fs::create_dir_all(&dir);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        }
        // SAFETY: set before any thread of this test reads the environment for wgpu.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
    match GpuEngine::new() {
        Ok(e) => Some(e),
        Err(err) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but no GPU adapter: {err} (install mesa-vulkan-drivers for lavapipe)")
        }
        Err(err) => {
            eprintln!("SKIPPED: no GPU adapter ({err}); install mesa-vulkan-drivers to run GPU tests");
            None
        }
    }
}

/// Builds a named objective with default parameters.
pub fn objective(name: &str, dim: usize) -> Arc<dyn Objective> {
    ObjectiveSpec::from_name(name, dim).unwrap().build().unwrap()
}

pub mod table;

/// GPU against CPU chain records: the integer bookkeeping exactly, values, gradient norms and
/// stall values to `tol` relative.
pub fn assert_close_states(g: &escapade::Report, c: &escapade::Report, tol: f64) {
    let close = |a: f32, b: f32| (f64::from(a) - f64::from(b)).abs() <= tol * (1.0 + f64::from(b).abs());
    assert_eq!(g.raw.states.len(), c.raw.states.len());
    for (i, (a, b)) in g.raw.states.iter().zip(&c.raw.states).enumerate() {
        let ints = |s: &escapade::advanced::ChainState| (s.t, s.status, s.stalled, s.t_stall, s.stall_label, s.t_noise, s.escapes, s.label, s.label_since);
        assert_eq!(ints(a), ints(b), "chain {i}");
        assert!(close(a.f, b.f) && close(a.gnorm, b.gnorm) && close(a.f_stall, b.f_stall), "chain {i}: {a:?} vs {b:?}");
    }
}

/// Each chain's first escape time, in the order of the events.
pub fn first_escape_times(r: &escapade::Report) -> Vec<f64> {
    let mut seen = std::collections::HashSet::new();
    r.raw.events.iter().filter(|e| seen.insert(e.chain)).map(|e| f64::from(e.escape_steps)).collect()
}

/// A .npy file with header `descr`, `shape` and `fortran` order holding `payload`.
pub fn npy(descr: &str, shape: &str, fortran: bool, payload: &[u8]) -> Vec<u8> {
    let order = if fortran { "True" } else { "False" };
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}");
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((h.len() as u16).to_le_bytes());
    bytes.extend(h.as_bytes());
    bytes.extend(payload);
    bytes
}
