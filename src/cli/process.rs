//! The process an `escapade` command runs in: set up as a command line tool's, whether it is the
//! binary or an interpreter that embeds the library (`python -m escapade`).

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
        // SAFETY: `prepare`'s contract: no other thread reads the environment yet.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
}

/// Rust ignores SIGPIPE, so printing to a closed pipe (`escapade report DIR | head`) would
/// panic; with the default action the process ends quietly, as `cat` does.
fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called by `prepare`, before this process's commands start threads; SIG_DFL is a
    // valid action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// A file-size limit (`ulimit -f`) ends a process that writes past it with SIGXFSZ, silently and
/// with half its results written. Ignored, the write fails with EFBIG instead, and the run ends
/// as for a full disk: one line naming the file, exit 1, the previous checkpoint intact.
fn ignore_sigxfsz() {
    #[cfg(unix)]
    // SAFETY: called by `prepare`, before this process's commands start threads; SIG_IGN is a
    // valid action.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// An embedding interpreter's SIGINT handler (Python's) only sets a flag that it reads when
/// control comes back to it, which a command never gives: with the default action Ctrl-C ends
/// `report` or `compare` as it ends the binary's, and `run` installs its own handler (a
/// checkpoint, exit status 130).
fn default_sigint() {
    #[cfg(unix)]
    // SAFETY: called by `prepare`, before this process's commands start threads; SIG_DFL is a
    // valid action.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
    }
}

/// Sets the process up as the `escapade` command expects: SIGPIPE and SIGINT to their default
/// actions, SIGXFSZ ignored, Mesa's device-select layer quiet without a display.
///
/// # Safety
///
/// Call it first, before any other thread of the process may read or change the environment:
/// it sets an environment variable.
pub unsafe fn prepare() {
    default_sigpipe();
    default_sigint();
    ignore_sigxfsz();
    quiet_headless_vulkan();
}
