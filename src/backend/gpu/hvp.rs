//! Batched Hessian-vector products on the device (central differences of the WGSL objective's
//! gradient in f32), for Lanczos on the host (`check::hessian::lanczos`).

use super::context::GpuContext;
use super::shader::{WORKGROUP_SIZE, hvp_source, layout_entries};
use crate::abi::{DATA, HVP_BINDINGS, HvpParams};
use crate::Error;
use crate::objective::Objective;
use wgpu::util::DeviceExt;

/// A compiled product kernel for one objective.
pub struct GpuHvp<'a> {
    ctx: &'a GpuContext,
    d: usize,
    layout: wgpu::BindGroupLayout,
    pipeline: wgpu::ComputePipeline,
    data: wgpu::Buffer,
}

impl<'a> GpuHvp<'a> {
    /// Compiles the kernel for `objective` on `ctx`.
    pub fn new(ctx: &'a GpuContext, objective: &dyn Objective) -> Result<Self, Error> {
        let d = objective.dim();
        let src = hvp_source(objective);
        let dev = &ctx.device;
        let (layout, pipeline, data) = ctx.scoped("compiling the Hessian-vector kernel", || {
            let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor { label: Some("hvp"), source: wgpu::ShaderSource::Wgsl(src.into()) });
            // An explicit layout: it may list the data binding even when the objective never
            // reads it, where an automatic layout would drop it.
            let layout = dev.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("hvp bindings"),
                entries: &layout_entries(&HVP_BINDINGS),
            });
            let pl = dev.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("hvp layout"),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
            let pipeline = dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("hvp"),
                layout: Some(&pl),
                module: &module,
                entry_point: Some("hvp"),
                compilation_options: Default::default(),
                cache: None,
            });
            let mut bytes = objective.data();
            if bytes.is_empty() {
                bytes.push(0.0);
            }
            let data = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("hvp data"),
                contents: bytemuck::cast_slice(&bytes),
                usage: wgpu::BufferUsages::STORAGE,
            });
            (layout, pipeline, data)
        })?;
        Ok(GpuHvp { ctx, d, layout, pipeline, data })
    }

    /// H(p_i) v_i for every row i of `points` and `vectors` (n x d, row-major, f32 on the device).
    pub fn products(&self, points: &[f32], vectors: &[f32]) -> Result<Vec<f32>, Error> {
        let n = points.len() / self.d;
        if n == 0 {
            return Ok(Vec::new());
        }
        let dev = &self.ctx.device;
        let out = self.ctx.scoped("computing Hessian-vector products", || {
            let init = |label, contents: &[u8], usage| dev.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: Some(label), contents, usage });
            let params = HvpParams { n: n as u32, pad0: 0, pad1: 0, pad2: 0 };
            let params = init("hvp params", bytemuck::bytes_of(&params), wgpu::BufferUsages::UNIFORM);
            let p = init("hvp points", bytemuck::cast_slice(points), wgpu::BufferUsages::STORAGE);
            let v = init("hvp vectors", bytemuck::cast_slice(vectors), wgpu::BufferUsages::STORAGE);
            let out = dev.create_buffer(&wgpu::BufferDescriptor {
                label: Some("hvp out"),
                size: (points.len() * 4) as u64,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            // The buffers in HVP_BINDINGS' order, then the objective's data.
            let buffers = [&params, &p, &v, &out];
            let entries: Vec<_> = HVP_BINDINGS
                .iter()
                .zip(buffers)
                .map(|(b, buf)| wgpu::BindGroupEntry { binding: b.number, resource: buf.as_entire_binding() })
                .chain([wgpu::BindGroupEntry { binding: DATA.number, resource: self.data.as_entire_binding() }])
                .collect();
            let bind = dev.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &self.layout, entries: &entries });
            let groups = (n as u32).div_ceil(WORKGROUP_SIZE);
            let gx = groups.min(dev.limits().max_compute_workgroups_per_dimension);
            let mut enc = dev.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                pass.set_pipeline(&self.pipeline);
                pass.set_bind_group(0, &bind, &[]);
                pass.dispatch_workgroups(gx, groups.div_ceil(gx), 1);
            }
            self.ctx.queue.submit([enc.finish()]);
            out
        })?;
        self.ctx.read_back(&out, points.len())
    }

    /// Dimension d.
    pub fn dim(&self) -> usize {
        self.d
    }
}

