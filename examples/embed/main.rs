//! Embedding escapade as a batched backend: the host program owns the wgpu device and queue and
//! hands them to escapade, which captures its own errors with error scopes and leaves the
//! program's error handler alone.
//!
//! Run: `cargo run --release --example embed`

use escapade::{Runner, Experiment, GpuContext, GpuEngine, Init, MethodKind, ObjectiveSpec, Report};

/// The host program's own device: any adapter, default limits raised to the adapter's so the
/// ensemble's buffers can be large.
fn host_device() -> anyhow::Result<(wgpu::Adapter, wgpu::Device, wgpu::Queue)> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&Default::default()))?;
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("host program"),
        required_limits: adapter.limits(),
        ..Default::default()
    }))?;
    Ok((adapter, device, queue))
}

/// Runs a PGD ensemble on the octopus through the injected device.
fn run_embedded(chains: u32, steps: u32) -> anyhow::Result<Report> {
    let (adapter, device, queue) = host_device()?;
    // Clones of wgpu handles share the device: the host keeps using `device` after this.
    let engine = GpuEngine::with_context(GpuContext::from_device_with_adapter(device.clone(), queue, &adapter));
    let exp = Experiment::builder(ObjectiveSpec::from_name("octopus", 5)?.build()?)
        .method(MethodKind::Pgd)
        .chains(chains)
        .steps(steps)
        .seed(11)
        .init(Init::Uniform(1.0))
        .build()?;
    Ok(Runner::gpu(&engine).run(&exp)?)
}

fn main() -> anyhow::Result<()> {
    let report = run_embedded(8192, 2000)?;
    println!("{}", report.human_summary());
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn embedded_run_matches_the_cpu_twin() {
        let report = match super::run_embedded(512, 400) {
            Ok(r) => r,
            Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!("SKIPPED: no GPU adapter ({e})");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        assert_eq!(report.engine.backend, "gpu");
        let cpu = escapade::Runner::cpu().run(&report.experiment).unwrap();
        assert_eq!(report.counts, cpu.counts);
        assert!(report.counts.escape_events >= 512);
    }
}
