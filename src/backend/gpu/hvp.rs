//! Kernels with one invocation per point over the product bindings (`crate::abi::HVP_BINDINGS`):
//! batched Hessian-vector products on the device (central differences of the WGSL objective's
//! gradient in f32, for Lanczos on the host, `check::hessian::lanczos`), and the bare update
//! loop the benchmarks measure the full step against.

use super::context::GpuContext;
use super::shader::{WORKGROUP_SIZE, bare_source, bind_entries, hvp_source, layout_entries};
use crate::abi::{HVP_BINDINGS, HvpParams};
use crate::Error;
use crate::objective::Objective;
use wgpu::util::DeviceExt;

/// A compiled one-invocation-per-point kernel for one objective, with its data on the device.
struct PointKernel<'a> {
    ctx: &'a GpuContext,
    d: usize,
    layout: wgpu::BindGroupLayout,
    pipeline: wgpu::ComputePipeline,
    data: wgpu::Buffer,
}

impl<'a> PointKernel<'a> {
    /// Compiles `src` (entry point `entry`) for `objective` on `ctx`.
    fn new(ctx: &'a GpuContext, objective: &dyn Objective, src: String, entry: &'static str) -> Result<Self, Error> {
        let dev = &ctx.device;
        let (layout, pipeline, data) = ctx.scoped("compiling a point kernel", || {
            let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor { label: Some(entry), source: wgpu::ShaderSource::Wgsl(src.into()) });
            // An explicit layout: it may list the data binding even when the objective never
            // reads it, where an automatic layout would drop it.
            let layout = dev.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("point kernel bindings"),
                entries: &layout_entries(&HVP_BINDINGS),
            });
            let pl = dev.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("point kernel layout"),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
            let pipeline = dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: Some(&pl),
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            });
            let mut bytes = objective.device().data();
            if bytes.is_empty() {
                bytes.push(0.0);
            }
            let data = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("point kernel data"),
                contents: bytemuck::cast_slice(&bytes),
                usage: wgpu::BufferUsages::STORAGE,
            });
            (layout, pipeline, data)
        })?;
        Ok(PointKernel { ctx, d: objective.dim(), layout, pipeline, data })
    }

    /// Runs the kernel `reps` times over the rows of `points` and `vectors` (n x d, row-major)
    /// and reads back its output rows.
    fn run(&self, points: &[f32], vectors: &[f32], reps: u32) -> Result<Vec<f32>, Error> {
        let n = points.len() / self.d;
        if n == 0 {
            return Ok(Vec::new());
        }
        let dev = &self.ctx.device;
        let out = self.ctx.scoped("running a point kernel", || {
            let init = |label, contents: &[u8], usage| dev.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: Some(label), contents, usage });
            let params = HvpParams { n: n as u32, pad0: 0, pad1: 0, pad2: 0 };
            let params = init("point params", bytemuck::bytes_of(&params), wgpu::BufferUsages::UNIFORM);
            let p = init("points", bytemuck::cast_slice(points), wgpu::BufferUsages::STORAGE);
            // Bindings may not be empty: a lone zero stands in for "no vectors".
            let v = init("vectors", bytemuck::cast_slice(if vectors.is_empty() { &[0.0f32] } else { vectors }), wgpu::BufferUsages::STORAGE);
            let out = dev.create_buffer(&wgpu::BufferDescriptor {
                label: Some("point out"),
                size: (points.len() * 4) as u64,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let named = [("hvp_params", &params), ("hvp_points", &p), ("hvp_vectors", &v), ("hvp_out", &out), ("data", &self.data)];
            let entries = bind_entries(&HVP_BINDINGS, &named)?;
            let bind = dev.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &self.layout, entries: &entries });
            let groups = (n as u32).div_ceil(WORKGROUP_SIZE);
            let gx = groups.min(dev.limits().max_compute_workgroups_per_dimension);
            for _ in 0..reps {
                let mut enc = dev.create_command_encoder(&Default::default());
                {
                    let mut pass = enc.begin_compute_pass(&Default::default());
                    pass.set_pipeline(&self.pipeline);
                    pass.set_bind_group(0, &bind, &[]);
                    pass.dispatch_workgroups(gx, groups.div_ceil(gx), 1);
                }
                self.ctx.queue.submit([enc.finish()]);
            }
            Ok(out)
        })??;
        self.ctx.read_back(&out, points.len())
    }
}

/// Batched Hessian-vector products on the device, for one objective.
pub struct GpuHvp<'a>(PointKernel<'a>);

impl<'a> GpuHvp<'a> {
    /// Compiles the kernel for `objective` on `ctx`.
    pub fn new(ctx: &'a GpuContext, objective: &dyn Objective) -> Result<Self, Error> {
        Ok(GpuHvp(PointKernel::new(ctx, objective, hvp_source(objective), "hvp")?))
    }

    /// H(p_i) v_i for every row i of `points` and `vectors` (n x d, row-major, f32 on the device).
    pub fn products(&self, points: &[f32], vectors: &[f32]) -> Result<Vec<f32>, Error> {
        self.0.run(points, vectors, 1)
    }

    /// Dimension d.
    pub fn dim(&self) -> usize {
        self.0.d
    }
}

/// The bare update loop x <- x - eta grad f(x) on the device, no detector, no bookkeeping: the
/// baseline of the benchmarks (the full step's share of it is what the kernel's design costs).
pub struct BareLoop<'a> {
    kernel: PointKernel<'a>,
    steps: u32,
}

impl<'a> BareLoop<'a> {
    /// Compiles the loop of `steps` steps of size `eta` for `objective` on `ctx`.
    pub fn new(ctx: &'a GpuContext, objective: &dyn Objective, eta: f32, steps: u32) -> Result<Self, Error> {
        Ok(BareLoop { kernel: PointKernel::new(ctx, objective, bare_source(objective, eta, steps), "bare")?, steps })
    }

    /// Runs the loop from the rows of `points` (n x d) `reps` times over (each dispatch from the
    /// same starting points) and returns the end points; n * steps * reps chain-steps in all.
    pub fn run(&self, points: &[f32], reps: u32) -> Result<Vec<f32>, Error> {
        self.kernel.run(points, &[], reps)
    }

    /// Steps per dispatch.
    pub fn steps(&self) -> u32 {
        self.steps
    }
}

#[cfg(test)]
mod tests {
    /// The bare loop steps like its CPU twin (to f32 tolerance), so the benchmark times real work.
    #[test]
    fn the_bare_loop_takes_gradient_steps() {
        let Ok(ctx) = super::GpuContext::new() else {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but no GPU adapter");
            return;
        };
        let obj = crate::objective::ObjectiveSpec::from_name("quartic", 3).unwrap().build().unwrap();
        let start = [0.5f32, -0.3, 0.2, 0.1, 0.4, -0.6];
        let bare = super::BareLoop::new(&ctx, obj.as_ref(), 0.05, 20).unwrap();
        let got = bare.run(&start, 2).unwrap();
        let mut want = start.to_vec();
        for x in want.chunks_mut(3) {
            let mut g = [0.0f32; 3];
            for _ in 0..20 {
                obj.eval_f32(x, &mut g);
                x.iter_mut().zip(&g).for_each(|(a, b)| *a -= 0.05 * b);
            }
        }
        assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-5), "{got:?} vs {want:?}");
        assert!(got != start, "the loop did not move");
    }

    /// Buffers are bound by name: every binding gets the buffer named for it, whatever order
    /// they are listed in; a missing or unknown name is an error, not a swap.
    #[test]
    fn buffers_are_bound_by_name() {
        let Ok(ctx) = super::GpuContext::new() else {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but no GPU adapter");
            return;
        };
        let buf = |label| ctx.device.create_buffer(&wgpu::BufferDescriptor { label: Some(label), size: 16, usage: wgpu::BufferUsages::STORAGE, mapped_at_creation: false });
        let (a, b, c, d, e) = (buf("a"), buf("b"), buf("c"), buf("d"), buf("e"));
        let bindings = &super::HVP_BINDINGS;
        let named = [("data", &e), ("hvp_out", &d), ("hvp_params", &a), ("hvp_vectors", &c), ("hvp_points", &b)];
        let entries = super::bind_entries(bindings, &named).unwrap();
        let number = |name: &str| bindings.iter().chain([&crate::abi::DATA]).find(|x| x.name == name).unwrap().number;
        for (name, want) in [("hvp_params", &a), ("hvp_points", &b), ("hvp_vectors", &c), ("hvp_out", &d), ("data", &e)] {
            let entry = entries.iter().find(|en| en.binding == number(name)).unwrap();
            let wgpu::BindingResource::Buffer(got) = &entry.resource else { panic!("{name}: not a buffer") };
            assert!(got.buffer == want, "{name} got another buffer");
        }
        let e1 = super::bind_entries(bindings, &named[1..]).unwrap_err().to_string();
        assert!(e1.contains("no buffer") && e1.contains("data"), "{e1}");
        let extra = [named.as_slice(), &[("bogus", &a)]].concat();
        let e2 = super::bind_entries(bindings, &extra).unwrap_err().to_string();
        assert!(e2.contains("bogus"), "{e2}");
    }
}
