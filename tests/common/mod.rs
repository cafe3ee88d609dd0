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
