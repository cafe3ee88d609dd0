//! The `escapade` command line: a thin layer over the library (see `cli/`).

mod cli;

/// Mesa's implicit Vulkan layer VK_LAYER_MESA_device_select asks the Wayland compositor which GPU
/// is the default whenever an instance enables VK_KHR_wayland_surface (wgpu always does where the
/// extension exists). Without XDG_RUNTIME_DIR there is no compositor to ask, and libwayland says
/// so on stderr ("error: XDG_RUNTIME_DIR is invalid or not set in the environment.", twice per
/// run), although the run is fine. In that case, and only when nothing asks for the layer's device
/// choice (MESA_VK_DEVICE_SELECT, DRI_PRIME) or names a Wayland display, the layer is switched off
/// by its own switch, NODEVICE_SELECT=1; wgpu's high-performance preference picks the adapter.
fn quiet_headless_vulkan() {
    let unset = |key: &str| std::env::var_os(key).is_none_or(|v| v.is_empty());
    let keys = ["XDG_RUNTIME_DIR", "WAYLAND_DISPLAY", "WAYLAND_SOCKET", "NODEVICE_SELECT", "MESA_VK_DEVICE_SELECT", "DRI_PRIME"];
    if keys.iter().all(|k| unset(k)) {
        // SAFETY: first thing in main, before any other thread exists.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
}

/// Rust ignores SIGPIPE, so printing to a closed pipe (`escapade report DIR | head`) would
/// panic; with the default action the process ends quietly, as `cat` does.
fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: first thing in main, before any other thread exists; SIG_DFL is a valid action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// A file-size limit (`ulimit -f`) ends a process that writes past it with SIGXFSZ, silently and
/// with half its results written. Ignored, the write fails with EFBIG instead, and the run ends
/// as for a full disk: one line naming the file, exit 1, the previous checkpoint intact.
fn ignore_sigxfsz() {
    #[cfg(unix)]
    // SAFETY: first thing in main, before any other thread exists; SIG_IGN is a valid action.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

fn main() -> std::process::ExitCode {
    default_sigpipe();
    ignore_sigxfsz();
    quiet_headless_vulkan();
    cli::main()
}
