//! The `escapade` command line: a thin layer over the library (`escapade::cli`).

fn main() -> std::process::ExitCode {
    // SAFETY: first thing in main, before any other thread exists.
    unsafe { escapade::cli::process::prepare() };
    escapade::cli::main()
}
