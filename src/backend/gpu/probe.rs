//! Runs the WGSL random stream on the device for a list of counters, to check it against the
//! Rust twin (`crate::rng`): words must match exactly, normals to a few ulps.

use super::context::GpuContext;
use crate::Error;
use wgpu::util::DeviceExt;

/// One Philox block as the device computed it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ProbeOut {
    /// The four random words.
    pub words: [u32; 4],
    /// Box-Muller normals of words (0, 1) and (2, 3).
    pub normals: [f32; 4],
}

/// Philox4x32-10 blocks for `counters` under `key`, computed by the device.
pub fn philox_blocks(ctx: &GpuContext, key: [u32; 2], counters: &[[u32; 4]]) -> Result<Vec<ProbeOut>, Error> {
    if counters.is_empty() {
        return Ok(Vec::new());
    }
    let dev = &ctx.device;
    let src = format!("{}\n{}", include_str!("../../../shaders/rng.wgsl"), include_str!("../../../shaders/probe.wgsl"));
    let out_bytes = (counters.len() * std::mem::size_of::<ProbeOut>()) as u64;
    let output = ctx.scoped("running the Philox probe", || {
        let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("philox probe"),
            source: wgpu::ShaderSource::Wgsl(src.into()),
        });
        let pipeline = dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("philox probe"),
            layout: None,
            module: &module,
            entry_point: Some("philox_probe"),
            compilation_options: Default::default(),
            cache: None,
        });
        let input = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("probe in"),
            contents: bytemuck::cast_slice(counters),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let output = dev.create_buffer(&wgpu::BufferDescriptor {
            label: Some("probe out"),
            size: out_bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let key_buf = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("probe key"),
            contents: bytemuck::cast_slice(&[key[0], key[1], 0, 0]),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let bind = dev.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: input.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: output.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 2, resource: key_buf.as_entire_binding() },
            ],
        });
        let mut enc = dev.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups((counters.len() as u32).div_ceil(64), 1, 1);
        }
        ctx.queue.submit([enc.finish()]);
        output
    })?;
    ctx.read_back(&output, counters.len())
}
