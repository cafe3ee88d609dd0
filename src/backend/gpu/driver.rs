//! The GPU engine: buffers per shard, fused dispatches, read-back of counters and events only.

use super::context::GpuContext;
use super::dispatch::{DEFAULT_IN_FLIGHT, Shared, Stream, workgroups};
use super::family::{Family, KernelFamily, choose};
use super::memory::DeviceMemory;
use super::watch::{self, ShardWatch};
use super::shader::layout_entries;
use crate::kernel::KernelParams;
use crate::Error;
use crate::backend::{Progress, RawRun, steps_taken};
use crate::escape::{ChainState, EscapeEvent};
use crate::checkpoint::{Checkpoint, Checkpointer, InFlightShard};
use crate::experiment::{Experiment, Precision};
use std::sync::Arc;
use std::time::{Duration, Instant};
use super::cache::KernelCache;
use crate::backend::pace::{DISPATCH_TARGET, Pacer, SOFTWARE_DISPATCH_TARGET};
use wgpu::util::DeviceExt;

const MAX_GROUPS_PER_DIM: u32 = 65_535;
use crate::abi::counter::{CERTIFIED as C_CERTIFIED, CUT as C_CUT, DIVERGED as C_DIVERGED, EVENTS as C_EVENTS, LEN as COUNTERS, PAUSED as C_PAUSED, RUNNING as C_RUNNING};

/// Runs experiments on a wgpu device (its own, or one injected by an embedding program).
pub struct GpuEngine {
    ctx: GpuContext,
    max_groups_per_dim: u32,
    settings: GpuSettings,
    /// Compiled kernels (shared by the engines [`GpuEngine::tuned`] makes).
    cache: KernelCache<Pipelines>,
}

/// How many compiled kernels an engine keeps (the least recently used is dropped first).
const KERNEL_CACHE: usize = 16;

/// The private memory per invocation of an objective's own WGSL that a software adapter is asked
/// to compile (see `GpuEngine::pipelines`); GPUs take up to `objective::custom::PRIVATE_LIMIT`.
pub const SOFTWARE_PRIVATE_LIMIT: u64 = 8 * 1024;

/// How the GPU engine splits the work: tuning knobs, not part of the experiment (results are the
/// same whatever they are; tested).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GpuSettings {
    /// Steps fused per dispatch, fixed (None: paced by the measured time of each dispatch
    /// towards 50 ms, starting from about 2^25 coordinate-steps per dispatch; capped on software
    /// adapters by their loop limit).
    pub steps_per_dispatch: Option<u32>,
    /// Cap on chains per shard (None: as many as the device's bindings hold).
    pub max_chains_per_shard: Option<u32>,
    /// Escape events a chain holds per dispatch before it pauses until the next one (None: 4).
    pub pending_events: Option<u32>,
    /// Step dispatches submitted ahead of the host's read-back (None: 2, double-buffered; 1: the
    /// host reads each dispatch's counters before submitting the next).
    pub in_flight: Option<u32>,
    /// The kernel family (None: chosen from the experiment, the per-invocation kernel up to d =
    /// 256, the cooperative one beyond). For tests: the families sum in different orders, so a
    /// forced family changes floats in their last bits, not the laws.
    pub family: Option<KernelFamily>,
}

impl GpuSettings {
    /// Checks every knob, naming the bad one.
    pub fn validate(&self) -> Result<(), Error> {
        if self.steps_per_dispatch == Some(0) {
            return Err(Error::invalid("steps-per-dispatch", "an integer >= 1", 0));
        }
        if self.max_chains_per_shard == Some(0) {
            return Err(Error::invalid("max-chains-per-shard", "an integer >= 1", 0));
        }
        if let Some(n) = self.pending_events.filter(|&n| n == 0 || n > 64) {
            return Err(Error::invalid("pending-events", "an integer in [1, 64]", n));
        }
        if let Some(n) = self.in_flight.filter(|&n| n == 0 || n > 4) {
            return Err(Error::invalid("dispatches-in-flight", "an integer in [1, 4]", n));
        }
        Ok(())
    }

    /// Step dispatches in flight at once.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.unwrap_or(DEFAULT_IN_FLIGHT)
    }

    /// Escape events per chain per dispatch.
    pub fn pending(&self) -> u32 {
        self.pending_events.unwrap_or(4)
    }

    /// Steps of the first dispatch for `exp`: as set, else about 2^25 coordinate-steps (tens of
    /// ms on a laptop GPU, far from the ~2 s at which desktop drivers reset), between 16 and
    /// 4096, never more than the budget.
    pub fn steps_per_dispatch(&self, exp: &Experiment) -> u32 {
        let auto = || {
            let work = u64::from(exp.chains) * exp.objective.dim() as u64;
            ((1u64 << 25) / work.max(1)).clamp(16, 4096) as u32
        };
        self.steps_per_dispatch.unwrap_or_else(auto).min(exp.steps).max(1)
    }
}

impl std::fmt::Debug for GpuEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuEngine").field("ctx", &self.ctx).field("max_groups_per_dim", &self.max_groups_per_dim).finish()
    }
}

struct Pipelines {
    family: &'static dyn Family,
    layout: wgpu::BindGroupLayout,
    init: wgpu::ComputePipeline,
    step: wgpu::ComputePipeline,
}

/// One shard to run: which chains (n from offset) of which experiment, with the run's compiled
/// kernel and its buffers shared across shards.
#[derive(Clone, Copy)]
struct ShardJob<'a> {
    exp: &'a Experiment,
    pipes: &'a Pipelines,
    shared: &'a RunBuffers,
    n: u32,
    offset: u32,
    trace_len: usize,
}

/// Buffers shared by every shard of a run (trace, objective data, the starting point).
struct RunBuffers {
    /// Traced positions (indexed by global chain).
    trace: wgpu::Buffer,
    /// The objective's read-only data.
    data: wgpu::Buffer,
    /// The starting point of `Init::Point`.
    init_points: wgpu::Buffer,
}

/// A shard's chain records, points and x~ points, as rows per chain.
type ShardDownload = (Vec<ChainState>, Vec<f64>, Vec<f64>);

/// The device buffers of one shard's chains (each dispatch in flight has its own parameters,
/// counters and events: `dispatch::Stream`).
struct ShardBuffers {
    /// The family whose layout the buffers hold.
    family: &'static dyn Family,
    chains: u32,
    /// The parameter record every dispatch of this shard uploads (with its own t_end).
    params_record: KernelParams,
    xs: wgpu::Buffer,
    xt: wgpu::Buffer,
    states: wgpu::Buffer,
    /// The family's own per-chain buffer (one element when it has none).
    work: wgpu::Buffer,
}

impl GpuEngine {
    /// Opens the default adapter.
    pub fn new() -> Result<Self, Error> {
        Ok(Self::with_context(GpuContext::new()?))
    }

    /// Opens a hardware adapter, never a software one ([`GpuContext::hardware`]: what
    /// `--backend auto` runs on).
    pub fn hardware() -> Result<Self, Error> {
        Ok(Self::with_context(GpuContext::hardware()?))
    }

    /// Runs on an existing context (e.g. an embedding program's device and queue).
    pub fn with_context(ctx: GpuContext) -> Self {
        let max_groups_per_dim = ctx.device.limits().max_compute_workgroups_per_dimension.min(MAX_GROUPS_PER_DIM);
        GpuEngine { ctx, max_groups_per_dim, settings: GpuSettings::default(), cache: KernelCache::new(KERNEL_CACHE) }
    }

    /// Caps workgroups per dispatch dimension below the device's limit, so tests can exercise the
    /// 2-D dispatch that ensembles beyond 65535 workgroups need with small ensembles.
    pub fn with_max_workgroups_per_dimension(mut self, n: u32) -> Self {
        self.max_groups_per_dim = n.clamp(1, self.max_groups_per_dim);
        self
    }

    /// An engine on the same device (sharing its compiled kernels) that splits the work as
    /// `settings` say.
    pub fn tuned(&self, settings: GpuSettings) -> Result<GpuEngine, Error> {
        settings.validate()?;
        Ok(GpuEngine { ctx: self.ctx.clone(), max_groups_per_dim: self.max_groups_per_dim, settings, cache: self.cache.clone() })
    }

    /// The engine's settings.
    pub fn settings(&self) -> GpuSettings {
        self.settings
    }

    /// The device context.
    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// What reports say about this engine.
    pub fn info(&self) -> crate::backend::EngineInfo {
        crate::backend::EngineInfo::gpus(std::slice::from_ref(self))
    }

    /// Largest number of chains one shard may hold: every per-chain buffer must fit one storage
    /// binding and one buffer on this device.
    fn max_chains_per_shard(&self, exp: &Experiment, family: &dyn Family, pending: u32) -> u32 {
        let (dim, precision) = (exp.objective.dim(), exp.precision);
        let lim = self.ctx.device.limits();
        let bytes = lim.max_storage_buffer_binding_size.min(lim.max_buffer_size);
        let events = u64::from(pending) * std::mem::size_of::<EscapeEvent>() as u64;
        let per_chain = (dim as u64 * precision.bytes()).max(std::mem::size_of::<ChainState>() as u64).max(events).max(family.work_bytes(dim, precision));
        let by_groups = u64::from(MAX_GROUPS_PER_DIM) * u64::from(MAX_GROUPS_PER_DIM) * u64::from(family.chains_per_workgroup());
        (bytes / per_chain).min(by_groups).min(u64::from(u32::MAX)) as u32
    }

    /// Composes and compiles `exp`'s kernel (kept in the engine's cache for the run): the device's
    /// verdict on it, before anything else is done.
    pub fn prepare(&self, exp: &Experiment) -> Result<(), Error> {
        let pipes = self.pipelines(exp)?;
        self.device_memory(exp, pipes.family, pipes.family.data(exp).len()).map(|_| ())
    }

    /// The device memory `exp` takes with `family` and the objective's data of `data_len` f32,
    /// refused with the numbers when a buffer is beyond what the device binds.
    fn device_memory(&self, exp: &Experiment, family: &dyn Family, data_len: usize) -> Result<DeviceMemory, Error> {
        let lim = self.ctx.device.limits();
        let binding = lim.max_storage_buffer_binding_size.min(lim.max_buffer_size);
        let cap = self.settings.max_chains_per_shard.unwrap_or(u32::MAX).min(self.max_chains_per_shard(exp, family, self.settings.pending())).max(1);
        super::memory::estimate(exp, family, &self.settings, binding, cap, data_len, self.ctx.name())
    }

    fn pipelines(&self, exp: &Experiment) -> Result<Arc<Pipelines>, Error> {
        let needs = match exp.precision {
            Precision::F16 => Some((wgpu::Features::SHADER_F16, "SHADER_F16")),
            Precision::F64 => Some((wgpu::Features::SHADER_F64, "SHADER_F64")),
            Precision::F32 => None,
        };
        if let Some((_, what)) = needs.filter(|(f, _)| !self.ctx.device.features().contains(*f)) {
            let name = self.ctx.adapter.as_ref().map_or("this device".to_string(), |a| a.name.clone());
            return Err(Error::Unsupported(format!(
                "state {} needs {what}, which {name} lacks: use --state f32 (or --backend cpu)",
                exp.precision.name()
            )));
        }
        // A software adapter compiles private arrays in time that grows with their square
        // (measured on lavapipe, 64 chains, one step: 8 KiB 3.9 s, 16 KiB 17 s, 32 KiB 100 s; 256
        // KiB did not finish in 10 minutes): beyond 8 KiB the run would seem to hang.
        let private = exp.objective.device().private_bytes();
        if private > SOFTWARE_PRIVATE_LIMIT && self.ctx.adapter.as_ref().is_some_and(|a| a.is_software()) {
            return Err(Error::TooLarge(format!(
                "{}: its private variables take {private} bytes per invocation, and a software adapter ({}) compiles more than {SOFTWARE_PRIVATE_LIMIT} for minutes to hours: read large arrays from --data (a storage buffer), or run on a GPU",
                exp.objective.wgsl_origin(),
                self.ctx.name()
            )));
        }
        let family = choose(exp, self.settings.family)?;
        let src = family.source(exp, self.settings.pending())?;
        if let Some(p) = self.cache.get(&src) {
            return Ok(p);
        }
        let pipes = Arc::new(self.compile(&src, family)?);
        self.cache.insert(src, pipes.clone());
        Ok(pipes)
    }

    fn compile(&self, src: &str, family: &'static dyn Family) -> Result<Pipelines, Error> {
        let dev = &self.ctx.device;
        let src = src.to_string();
        self.ctx.scoped("compiling the kernel", || {
            let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("escapade kernel"),
                source: wgpu::ShaderSource::Wgsl(src.into()),
            });
            let layout = dev.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("escapade bindings"),
                entries: &layout_entries(family.bindings()),
            });
            let pl = dev.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("escapade layout"),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
            let pipeline = |entry| {
                dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(entry),
                    layout: Some(&pl),
                    module: &module,
                    entry_point: Some(entry),
                    compilation_options: Default::default(),
                    cache: None,
                })
            };
            let [init, step] = family.entry_points();
            Pipelines { family, init: pipeline(init), step: pipeline(step), layout }
        })
    }

    fn storage(&self, label: &str, bytes: u64) -> wgpu::Buffer {
        self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(4).next_multiple_of(4),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    fn max_event_capacity(&self) -> u32 {
        let lim = self.ctx.device.limits();
        let bytes = lim.max_storage_buffer_binding_size.min(lim.max_buffer_size);
        (bytes / std::mem::size_of::<EscapeEvent>() as u64).min(u64::from(u32::MAX)) as u32
    }

    /// Steps per dispatch: the user's fixed choice, or paced by measured dispatch time from a
    /// first guess, capped on software adapters (llvmpipe/lavapipe limit an invocation to 65535
    /// loop iterations; the family says how many a step takes).
    fn pacer(&self, exp: &Experiment, family: &dyn Family) -> Pacer {
        let k = self.settings.steps_per_dispatch(exp);
        let fixed = self.settings.steps_per_dispatch.is_some();
        let software = self.ctx.adapter.as_ref().is_some_and(|a| a.is_software());
        let max = if software && !fixed { (16_384 / family.loop_cost(exp.objective.dim())).max(1) } else { u32::MAX };
        let target = if software { SOFTWARE_DISPATCH_TARGET } else { DISPATCH_TARGET };
        Pacer::new(k, max, (!fixed).then_some(target))
    }

    /// Runs the experiment: shards one after another, each through fused dispatches until the
    /// budget is spent or every chain is finished.
    pub fn run(&self, exp: &Experiment, progress: &mut dyn FnMut(&Progress)) -> Result<RawRun, Error> {
        self.run_resumable(exp, progress, None, None)
    }

    /// Like [`GpuEngine::run`], continuing from `resume` and writing checkpoints through `ck`.
    pub fn run_resumable(
        &self,
        exp: &Experiment,
        progress: &mut dyn FnMut(&Progress),
        mut ck: Option<&mut Checkpointer>,
        resume: Option<Checkpoint>,
    ) -> Result<RawRun, Error> {
        let d = exp.objective.dim();
        // The family refuses what it cannot hold before anything is compiled.
        let pipes = self.pipelines(exp)?;
        // Stepping time starts here (kernel compilation, cached across runs, is left out).
        let began = Instant::now();
        let mut waited = Duration::ZERO;
        let shard_cap = self.settings.max_chains_per_shard.unwrap_or(u32::MAX).min(self.max_chains_per_shard(exp, pipes.family, self.settings.pending())).max(1);
        let mut pace = self.pacer(exp, pipes.family);
        let trace_len = exp.trace.map_or(0, |t| t.len(exp.steps, d));
        let trace_bytes = trace_len as u64 * 4;
        let data = pipes.family.data(exp);
        // Known before anything is allocated; a buffer beyond one binding is refused here.
        let memory = self.device_memory(exp, pipes.family, data.len())?;
        let read_only = |label, v: Vec<f32>| {
            // Bindings may not be empty: a lone zero stands in for "no data".
            let v = if v.is_empty() { vec![0.0f32] } else { v };
            self.ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::cast_slice(&v),
                usage: wgpu::BufferUsages::STORAGE,
            })
        };
        let shared = self.ctx.scoped("uploading shared data", || RunBuffers {
            trace: self.storage("escapade trace", trace_bytes),
            data: read_only("escapade objective data", data),
            init_points: read_only("escapade init point", exp.init.point_f32()),
        })?;
        let mut out = RawRun::new(exp, 0);
        out.kernel_family = pipes.family.name().to_string();
        out.device_memory_estimate = memory.total();
        let mut totals = [0u32; COUNTERS];
        // The chains of this run by global index (a shard's, or all); draws are addressed by them.
        let range = exp.chain_range();
        let mut offset = range.start;
        let mut current = None;
        if let Some(r) = resume {
            offset = r.done;
            for s in &r.states {
                totals[watch::status_counter(s)] += 1;
            }
            (out.states, out.x, out.x_tilde, out.events, out.monitor) = (r.states, r.x, r.x_tilde, r.events, r.monitor);
            out.resumed_chain_steps = steps_taken(&out.states);
            if r.trace.len() == trace_len && trace_len > 0 {
                self.ctx.queue.write_buffer(&shared.trace, 0, bytemuck::cast_slice(&r.trace));
            }
            current = r.current;
        }
        while offset < range.end {
            let n = shard_cap.min(range.end - offset);
            // The shard in flight at the checkpoint, when this device splits the ensemble the same way.
            let in_flight = current.take();
            let fits = in_flight.as_ref().is_some_and(|c| c.offset == offset && c.states.len() == n as usize);
            let start = if fits {
                in_flight
            } else {
                if let Some(c) = &in_flight {
                    watch::dropped(&mut out, &c.states);
                }
                None
            };
            out.resumed_chain_steps += start.as_ref().map_or(0, |c| steps_taken(&c.states));
            if start.is_none() {
                // This shard runs from its beginning: drop what a shard in flight (cut another
                // way, or on another engine) had saved for its chains.
                out.events.retain(|e| e.chain < offset);
            }
            let events_before = out.events.len();
            let counts = loop {
                let ctx = ShardJob { exp, pipes: &pipes, shared: &shared, n, offset, trace_len };
                match self.run_shard(&ctx, &mut pace, &totals, &mut out, progress, start.as_ref(), &mut ck, &mut waited)? {
                    Some(c) => break c,
                    None if pace.cut() => {
                        // The driver cut the loops short: results of this shard are void. Rerun
                        // it with half the steps per dispatch; counter-based randomness makes
                        // the rerun's results exactly what an uncut run gives.
                        out.events.truncate(events_before);
                        out.loop_limit_retries += 1;
                    }
                    None => {
                        // One evaluation alone runs past the driver's limit: the objective must change.
                        let obj = exp.objective.as_ref();
                        let way = if obj.cpu_twin() { "run it with --backend cpu" } else { "make one evaluation loop fewer times" };
                        return Err(Error::Unsupported(format!(
                            "{}: the driver ends the kernel's loops early even at one step per dispatch (it allows an invocation about 65535 loop iterations, and one evaluation takes more): {way}",
                            obj.wgsl_origin()
                        )));
                    }
                }
            };
            for i in [C_RUNNING, C_CERTIFIED, C_DIVERGED] {
                totals[i] += counts[i];
            }
            offset += n;
        }
        out.trace = self.ctx.read_back(&shared.trace, trace_len)?;
        out.finish();
        let stepping = began.elapsed();
        out.stepping_seconds = stepping.as_secs_f64();
        out.host_seconds = stepping.saturating_sub(waited).as_secs_f64();
        Ok(out)
    }

    /// Runs one shard to the end (from `start` when resuming); None when the driver cut the
    /// kernel's loops short. Dispatches are pipelined (`dispatch::Stream`): the next is submitted
    /// before the last one is read back. `waited` gathers the time the host spent blocked on
    /// dispatches.
    #[allow(clippy::too_many_arguments)]
    fn run_shard(
        &self,
        run: &ShardJob,
        pace: &mut Pacer,
        totals: &[u32; COUNTERS],
        out: &mut RawRun,
        progress: &mut dyn FnMut(&Progress),
        start: Option<&InFlightShard>,
        ck: &mut Option<&mut Checkpointer>,
        waited: &mut Duration,
    ) -> Result<Option<Vec<u32>>, Error> {
        let ShardJob { exp, pipes, shared, n, offset, .. } = *run;
        let shard = self.shard(exp, pipes.family, n, offset)?;
        let from = start.map_or(0, |s| s.t_end);
        let buffers = Shared { bindings: pipes.family.bindings(), xs: &shard.xs, states: &shard.states, trace: &shared.trace, init_points: &shared.init_points, xt: &shard.xt, data: &shared.data, work: &shard.work };
        let groups = workgroups(n.div_ceil(pipes.family.chains_per_workgroup()), self.max_groups_per_dim);
        let mut stream = Stream::new(&self.ctx, &pipes.layout, &pipes.step, &buffers, shard.params_record, groups, self.settings.in_flight(), from)?;
        stream.submit_init(&pipes.init)?;
        if let Some(s) = start {
            // Queued after the init dispatch, so it overwrites what init wrote.
            self.upload_state(exp, &shard, s)?;
        }
        // After a stop at a violation, the later shards' chains stay at their starts.
        let result = if out.stopped.is_some() { Ok(Some(Vec::new())) } else { self.step_shard(run, &shard, &mut stream, pace, totals, out, progress, ck) };
        *waited += stream.waited;
        let Some(mut counts) = result? else {
            // Dispatches submitted after the cut one continued from its broken state and may have
            // traced steps the rerun never reaches: wait for them, then clear what they traced.
            stream.abandon()?;
            self.clear_trace(exp, shared, n, offset, from)?;
            return Ok(None);
        };
        let (states, x, x_tilde) = self.download_state(exp, &shard)?;
        if counts.is_empty() {
            counts = watch::resting(&states);
        }
        out.states.extend(states);
        out.x.extend(x);
        out.x_tilde.extend(x_tilde);
        out.shards += 1;
        Ok(Some(counts))
    }

    /// Steps a shard through dispatches until its budget is spent or every chain is finished.
    ///
    /// Why pipelining gives the unpipelined results exactly: a dispatch runs each running chain
    /// from its own step st.t to the target, and every draw is addressed by (chain, step), so a
    /// chain's trajectory does not depend on where dispatches end. A chain out of event room
    /// (C_PAUSED) stops *before* the step that had no room, its state at a step boundary; the
    /// dispatch already in flight runs it on from that step, which is what a rerun of the same
    /// target followed by the next dispatch would do (the rerun is only submitted when nothing
    /// is in flight to continue it, or when a checkpoint is due). Dispatches after the last one
    /// needed find nothing to do.
    #[allow(clippy::too_many_arguments)]
    fn step_shard(
        &self,
        run: &ShardJob,
        shard: &ShardBuffers,
        stream: &mut Stream,
        pace: &mut Pacer,
        totals: &[u32; COUNTERS],
        out: &mut RawRun,
        progress: &mut dyn FnMut(&Progress),
        ck: &mut Option<&mut Checkpointer>,
    ) -> Result<Option<Vec<u32>>, Error> {
        let ShardJob { exp, shared, n, offset, trace_len, .. } = *run;
        let mut paused = false;
        let mut watch = ShardWatch::default();
        loop {
            // A checkpoint (or a stop) is due: submit nothing more until the stream is empty, so
            // the state on the device rests at one step for every chain.
            let hold = ck.as_deref().is_some_and(|ck| ck.due());
            while stream.has_room() && !watch.stopping {
                // Paused chains rest before their step: for a checkpoint, rerun the same target
                // so that every chain reaches it (as the unpipelined driver does).
                let next = if hold && paused { stream.last_target() } else { exp.steps.min(stream.last_target().saturating_add(pace.steps())) };
                // With nothing in flight, a dispatch is needed even to the same target (the
                // rerun for paused chains); otherwise only one that goes further.
                if stream.in_flight() > 0 && (next == stream.last_target() || hold) {
                    break;
                }
                stream.submit(next)?;
                out.dispatches += 1;
            }
            let f = stream.complete()?;
            let c = f.counters;
            if c[C_CUT] > 0 {
                return Ok(None);
            }
            pace.observed(f.steps, f.took);
            out.steps_per_dispatch = out.steps_per_dispatch.max(f.steps);
            if c[C_EVENTS] > shard.params_record.event_capacity {
                return Err(Error::Gpu(format!("{} events for an event buffer of {}", c[C_EVENTS], shard.params_record.event_capacity)));
            }
            // Caught at the dispatch that returned it, before a checkpoint could keep it.
            crate::backend::check_labels(&|| exp.objective.wgsl_origin(), [], &f.events)?;
            out.events.extend(f.events);
            let t_end = f.target;
            watch.dispatched(exp, out, &c);
            // Chains with more escapes than this dispatch could hold stopped before the step that
            // had no room; the next dispatch (in flight, or submitted above) runs them on.
            paused = c[C_PAUSED] > 0;
            if paused {
                out.overflow_recoveries += 1;
            }
            progress(&Progress {
                t_end,
                steps: exp.steps,
                chains: exp.chain_range().len() as u32,
                chains_done: offset - exp.chain_range().start,
                shard_chains: n,
                running: totals[C_RUNNING] + c[C_RUNNING],
                certified: totals[C_CERTIFIED] + c[C_CERTIFIED],
                diverged: totals[C_DIVERGED] + c[C_DIVERGED],
                events: out.events.len(),
                violations: watch.violations(out),
            });
            // At a stop, the dispatches in flight are read back (the chains rest where the last
            // one left them) and nothing more is submitted.
            let stop = watch.stopping && stream.in_flight() == 0;
            if stop || (!watch.stopping && !paused && (c[C_RUNNING] == 0 || t_end >= exp.steps)) {
                let range = exp.chain_range();
                watch.finish(out, t_end, offset, offset + n, range.end);
                return Ok(Some(c.to_vec()));
            }
            if stream.in_flight() > 0 || paused || watch.stopping {
                continue;
            }
            if let Some(ck) = ck.as_deref_mut().filter(|ck| ck.due()) {
                let (states, x, x_tilde) = self.download_state(exp, shard)?;
                // The trace lives on the device until the run ends.
                let trace = self.ctx.read_back(&shared.trace, trace_len)?;
                let monitor = watch.merged(out);
                ck.save(&Checkpoint { trace, monitor, ..out.checkpoint(offset, Some(InFlightShard { offset, t_end, states, x, x_tilde })) })?;
            }
        }
    }

    /// The shard's chain records, points and (ball perturbation) x~ points, as rows per chain.
    fn download_state(&self, exp: &Experiment, shard: &ShardBuffers) -> Result<ShardDownload, Error> {
        let states = self.ctx.read_back::<ChainState>(&shard.states, shard.chains as usize)?;
        crate::backend::check_labels(&|| exp.objective.wgsl_origin(), &states, &[])?;
        let x = self.read_points(exp, shard, &shard.xs)?;
        let x_tilde = if exp.keeps_tilde() { self.read_points(exp, shard, &shard.xt)? } else { Vec::new() };
        Ok((states, x, x_tilde))
    }

    /// Reads the shard's points from `buf`, stored at the experiment's precision in the family's
    /// layout; the host gets rows per chain in f64 (exact for every storage type).
    fn read_points(&self, exp: &Experiment, shard: &ShardBuffers, buf: &wgpu::Buffer) -> Result<Vec<f64>, Error> {
        let (n, d) = (shard.chains as usize, exp.objective.dim());
        let xs: Vec<f64> = match exp.precision {
            Precision::F64 => self.ctx.read_back(buf, n * d)?,
            Precision::F32 => self.ctx.read_back::<f32>(buf, n * d)?.into_iter().map(f64::from).collect(),
            Precision::F16 => {
                let bits: Vec<u16> = self.ctx.read_back(buf, n * d)?;
                bits.into_iter().map(|b| f64::from(half::f16::from_bits(b).to_f32())).collect()
            }
        };
        let mut x = vec![0.0; n * d];
        for c in 0..n {
            for i in 0..d {
                x[c * d + i] = xs[shard.family.point_index(c, i, n, d)];
            }
        }
        Ok(x)
    }

    /// Writes rows of points (the inverse of read_points).
    fn write_points(&self, exp: &Experiment, shard: &ShardBuffers, buf: &wgpu::Buffer, rows: &[f64]) {
        let (n, d) = (shard.chains as usize, exp.objective.dim());
        let mut xs = vec![0.0f64; n * d];
        for c in 0..n {
            for i in 0..d {
                xs[shard.family.point_index(c, i, n, d)] = rows[c * d + i];
            }
        }
        let q = &self.ctx.queue;
        match exp.precision {
            Precision::F64 => q.write_buffer(buf, 0, bytemuck::cast_slice(&xs)),
            Precision::F32 => q.write_buffer(buf, 0, bytemuck::cast_slice(&xs.iter().map(|&v| v as f32).collect::<Vec<_>>())),
            Precision::F16 => {
                let mut bits: Vec<u16> = xs.iter().map(|&v| half::f16::from_f64(v).to_bits()).collect();
                bits.resize(bits.len().next_multiple_of(2), 0);
                q.write_buffer(buf, 0, bytemuck::cast_slice(&bits));
            }
        }
    }

    /// Writes a checkpointed shard state back to the device (the inverse of download_state).
    fn upload_state(&self, exp: &Experiment, shard: &ShardBuffers, s: &InFlightShard) -> Result<(), Error> {
        self.ctx.scoped("restoring a checkpoint", || {
            self.ctx.queue.write_buffer(&shard.states, 0, bytemuck::cast_slice(&s.states));
            self.write_points(exp, shard, &shard.xs, &s.x);
            if exp.keeps_tilde() && s.x_tilde.len() == s.x.len() {
                self.write_points(exp, shard, &shard.xt, &s.x_tilde);
            }
        })
    }

    fn shard(&self, exp: &Experiment, family: &'static dyn Family, n: u32, offset: u32) -> Result<ShardBuffers, Error> {
        let d = exp.objective.dim() as u64;
        // PEND events per chain per dispatch always fit: no event is ever dropped.
        let capacity = n.saturating_mul(self.settings.pending());
        if capacity > self.max_event_capacity() {
            return Err(Error::TooLarge(format!("{n} chains x {} pending events exceed one binding", self.settings.pending())));
        }
        let params_record = KernelParams::new(exp, n, offset, 0, capacity);
        self.ctx.scoped("allocating chain buffers", || ShardBuffers {
            family,
            chains: n,
            params_record,
            xs: self.storage("escapade x", u64::from(n) * d * exp.precision.bytes()),
            // Never read when there is no ball perturbation: one element stands in.
            xt: self.storage("escapade x~", if exp.keeps_tilde() { u64::from(n) * d * exp.precision.bytes() } else { 8 }),
            states: self.storage("escapade states", u64::from(n) * std::mem::size_of::<ChainState>() as u64),
            work: self.storage("escapade work", (u64::from(n) * family.work_bytes(d as usize, exp.precision)).max(8)),
        })
    }

    /// Zeroes what chains `offset..offset + n` traced from step `from` on (slots a run that
    /// never got there holds as zero).
    fn clear_trace(&self, exp: &Experiment, shared: &RunBuffers, n: u32, offset: u32, from: u32) -> Result<(), Error> {
        let Some(t) = exp.trace else { return Ok(()) };
        let (lo, hi) = (offset.min(t.chains), (offset + n).min(t.chains));
        if lo >= hi {
            return Ok(());
        }
        let d = exp.objective.dim() as u64;
        let zeros = vec![0u8; ((hi - lo) as u64 * d * 4) as usize];
        self.ctx.scoped("clearing the trace", || {
            for slot in from.div_ceil(t.every) as usize..t.slots(exp.steps) {
                let at = ((slot as u64 * u64::from(t.chains) + u64::from(lo)) * d) * 4;
                self.ctx.queue.write_buffer(&shared.trace, at, &zeros);
            }
        })
    }
}
