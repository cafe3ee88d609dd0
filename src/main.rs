//! The `escapade` command line: a thin layer over the library.

mod args;

use args::{RunArgs, experiment};
use clap::{Parser, Subcommand};
use escapade::{BackendChoice, Error};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "escapade", version, about = "GPU ensembles of first-order optimizers escaping saddle points")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an ensemble and write DIR/summary.json and DIR/events.csv.
    Run(RunArgs),
    /// Print the GPU adapter escapade would use.
    Info,
}

fn run(a: &RunArgs) -> Result<(), (Error, u8)> {
    let input = |e| (e, 2u8);
    let exp = experiment(a).map_err(input)?;
    let backend = BackendChoice::from_name(&a.backend).map_err(input)?;
    let quiet = a.quiet;
    let mut last = std::time::Instant::now();
    let report = exp
        .run_with(backend, &mut |p| {
            if !quiet && last.elapsed().as_secs_f64() > 1.0 {
                last = std::time::Instant::now();
                eprintln!(
                    "  step {}/{} | chains done {} | running {} | certified {} | diverged {} | events {}",
                    p.t_end, p.steps, p.chains_done, p.running, p.certified, p.diverged, p.events
                );
            }
        })
        .map_err(|e| {
            // A custom objective without a CPU twin on --backend cpu is a usage error.
            let code = if matches!(e, Error::NoCpuTwin(_)) { 2 } else { 1 };
            (e, code)
        })?;
    report.write(&a.out).map_err(|e| (e, 1))?;
    if !quiet {
        println!("{}", report.human_summary());
        println!("wrote {}/summary.json and {}/events.csv", a.out.display(), a.out.display());
    }
    Ok(())
}

fn info() -> Result<(), (Error, u8)> {
    let engine = escapade::GpuEngine::new().map_err(|e| (e, 1))?;
    let ctx = engine.context();
    if let Some(a) = &ctx.adapter {
        println!("adapter: {}\nbackend: {}\ndevice type: {}\ndriver: {}", a.name, a.backend, a.device_type, a.driver);
    }
    let l = ctx.device.limits();
    println!("max storage binding: {} MiB", l.max_storage_buffer_binding_size >> 20);
    println!("max buffer size: {} MiB", l.max_buffer_size >> 20);
    println!("max workgroups per dimension: {}", l.max_compute_workgroups_per_dimension);
    println!("max invocations per workgroup: {}", l.max_compute_invocations_per_workgroup);
    println!("shader-f16: {}", ctx.device.features().contains(wgpu::Features::SHADER_F16));
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run(a) => run(a),
        Command::Info => info(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err((e, code)) => {
            eprintln!("error: {e}");
            ExitCode::from(code)
        }
    }
}
