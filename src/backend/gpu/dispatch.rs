//! The step dispatches of one shard as a stream: the next dispatch is submitted before the
//! previous one's counters are read back, so the device always has queued work while the host
//! maps counters, copies out events, reports progress and paces K.
//!
//! Every dispatch in flight has its own parameter record, counters and event buffer (a *slot*),
//! and copies its counters and the head of its events into mappable buffers in the same command
//! buffer as the dispatch itself: a read-back submitted separately would queue behind the next
//! dispatch and wait for it. Chain state (x, records, x~, trace) is shared: a dispatch continues
//! from where the one before it left every chain, which wgpu orders on the one queue.

use super::context::GpuContext;
use super::shader::bind_entries;
use crate::abi::counter::{EVENTS as C_EVENTS, LEN as COUNTERS};
use crate::escape::EscapeEvent;
use crate::kernel::KernelParams;
use crate::Error;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Dispatches in flight unless set: double-buffered, enough that the device never waits for
/// the host as long as the host's work per dispatch is shorter than a dispatch.
pub const DEFAULT_IN_FLIGHT: u32 = 2;

/// Events copied to the host with every dispatch at least (a few kB); more when recent
/// dispatches appended more.
const MIN_HEAD: u32 = 1024;

const EVENT_BYTES: u64 = std::mem::size_of::<EscapeEvent>() as u64;
const COUNTER_BYTES: u64 = (COUNTERS * 4) as u64;

/// The buffers shared by every dispatch of a shard, in binding order except the per-slot ones.
pub struct Shared<'a> {
    /// The kernel family's bindings, which the buffers are bound to by name.
    pub bindings: &'static [crate::layout::Binding],
    pub xs: &'a wgpu::Buffer,
    pub states: &'a wgpu::Buffer,
    pub trace: &'a wgpu::Buffer,
    pub init_points: &'a wgpu::Buffer,
    pub xt: &'a wgpu::Buffer,
    pub data: &'a wgpu::Buffer,
    /// The family's own per-chain buffer, bound when the family binds `work`.
    pub work: &'a wgpu::Buffer,
}

/// One dispatch's own buffers, reused by every `depth`-th dispatch (never while in flight).
struct Slot {
    params: wgpu::Buffer,
    counters: wgpu::Buffer,
    events: wgpu::Buffer,
    bind: wgpu::BindGroup,
    /// Mappable copies: the counters, and the first `head_room` events.
    counters_out: wgpu::Buffer,
    events_out: wgpu::Buffer,
    head_room: u32,
}

/// A submitted dispatch.
struct Flight {
    slot: usize,
    /// The step it runs every running chain to, and how far past the dispatch before it.
    target: u32,
    steps: u32,
    /// Events its command buffer copies out with the counters.
    head: u32,
    /// When its submission began, and when it ended if the device was then already idle (a
    /// driver that runs the dispatch inside the submission, as lavapipe does).
    submitted: Instant,
    ended: Option<Instant>,
    index: wgpu::SubmissionIndex,
}

/// What a finished dispatch reports.
pub struct Finished {
    /// Its target step and the steps it went past the dispatch before it.
    pub target: u32,
    pub steps: u32,
    /// Its counters (`crate::abi::counter`).
    pub counters: [u32; COUNTERS],
    /// The events it appended, in the order the kernel appended them.
    pub events: Vec<EscapeEvent>,
    /// Device time it took, as the host sees it: from when the device could start it (its
    /// submission, or the end of the dispatch before it) to when the host saw it end.
    pub took: Duration,
}

/// The dispatch stream of one shard.
pub struct Stream<'a> {
    ctx: &'a GpuContext,
    step: &'a wgpu::ComputePipeline,
    groups: (u32, u32),
    params: KernelParams,
    slots: Vec<Slot>,
    flights: VecDeque<Flight>,
    submitted: u64,
    last_target: u32,
    /// Events the last finished dispatch appended (sizes the head the next ones copy out).
    recent_events: u32,
    last_done: Instant,
    /// Time the host spent blocked on dispatches: in the calls that submit them (where a software
    /// adapter runs them, and a GPU driver blocks when its queue is full) and in waits for their
    /// end. The only time not counted as host work.
    pub waited: Duration,
}

impl<'a> Stream<'a> {
    /// A stream of `depth` slots over the shard's buffers, its chains at step `from`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ctx: &'a GpuContext,
        layout: &wgpu::BindGroupLayout,
        step: &'a wgpu::ComputePipeline,
        shared: &Shared,
        params: KernelParams,
        groups: (u32, u32),
        depth: u32,
        from: u32,
    ) -> Result<Self, Error> {
        let dev = &ctx.device;
        let buffer = |label, size: u64, usage| dev.create_buffer(&wgpu::BufferDescriptor { label: Some(label), size: size.max(4).next_multiple_of(4), usage, mapped_at_creation: false });
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
        let mappable = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
        let capacity = params.event_capacity;
        // Until a dispatch says otherwise, room for one event per chain.
        let head_room = params.shard_chains.max(MIN_HEAD).min(capacity);
        let slots = ctx.scoped("allocating dispatch buffers", || {
            (0..depth.max(1))
                .map(|_| {
                    let params_buf = buffer("escapade params", std::mem::size_of::<KernelParams>() as u64, wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST);
                    let counters = buffer("escapade counters", COUNTER_BYTES, storage);
                    let events = buffer("escapade events", u64::from(capacity) * EVENT_BYTES, storage);
                    let work = shared.bindings.iter().any(|b| b.name == "work").then_some(("work", shared.work));
                    let named: Vec<(&str, &wgpu::Buffer)> = [
                        ("params", &params_buf),
                        ("xs", shared.xs),
                        ("states", shared.states),
                        ("events", &events),
                        ("counters", &counters),
                        ("trace", shared.trace),
                        ("init_points", shared.init_points),
                        ("xt", shared.xt),
                        ("data", shared.data),
                    ]
                    .into_iter()
                    .chain(work)
                    .collect();
                    let entries = bind_entries(shared.bindings, &named)?;
                    let bind = dev.create_bind_group(&wgpu::BindGroupDescriptor { label: Some("escapade bind group"), layout, entries: &entries });
                    Ok(Slot {
                        params: params_buf,
                        counters,
                        events,
                        bind,
                        counters_out: buffer("escapade counters out", COUNTER_BYTES, mappable),
                        events_out: buffer("escapade events out", u64::from(head_room) * EVENT_BYTES, mappable),
                        head_room,
                    })
                })
                .collect::<Result<Vec<Slot>, Error>>()
        })??;
        let stream = Stream { ctx, step, groups, params, slots, flights: VecDeque::new(), submitted: 0, last_target: from, recent_events: head_room / 2, last_done: Instant::now(), waited: Duration::ZERO };
        Ok(stream)
    }

    /// Dispatches in flight.
    pub fn in_flight(&self) -> usize {
        self.flights.len()
    }

    /// Whether another dispatch may be submitted now (a slot is free).
    pub fn has_room(&self) -> bool {
        self.flights.len() < self.slots.len()
    }

    /// The target of the last dispatch submitted.
    pub fn last_target(&self) -> u32 {
        self.last_target
    }

    /// Submits `pipeline` over every chain with `t_end`, without waiting: the first slot's record.
    /// For the init dispatch, which writes no counters the host reads.
    pub fn submit_init(&mut self, pipeline: &wgpu::ComputePipeline) -> Result<(), Error> {
        let slot = &self.slots[0];
        let (ctx, groups) = (self.ctx, self.groups);
        let record = KernelParams { t_end: self.last_target, ..self.params };
        ctx.scoped("dispatching", || {
            ctx.queue.write_buffer(&slot.params, 0, bytemuck::bytes_of(&record));
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            encode_pass(&mut enc, pipeline, &slot.bind, groups);
            let commands = enc.finish();
            timed(&mut self.waited, || ctx.queue.submit([commands]));
        })
    }

    /// Submits a step dispatch to `target` (at least the last target) without waiting for it.
    pub fn submit(&mut self, target: u32) -> Result<(), Error> {
        assert!(self.has_room(), "a dispatch was submitted with every slot in flight");
        let slot_index = (self.submitted % self.slots.len() as u64) as usize;
        // The head of the event buffer copied out with the counters: twice what the last finished
        // dispatch appended. A dispatch that appends more has the rest read after it.
        let head = self.recent_events.saturating_mul(2).max(MIN_HEAD).min(self.params.event_capacity);
        let slot = &mut self.slots[slot_index];
        if head > slot.head_room {
            slot.head_room = head.max(slot.head_room.saturating_mul(2)).min(self.params.event_capacity);
            slot.events_out = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("escapade events out"),
                size: (u64::from(slot.head_room) * EVENT_BYTES).next_multiple_of(4),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
        }
        let slot = &self.slots[slot_index];
        let (ctx, groups, step) = (self.ctx, self.groups, self.step);
        let record = KernelParams { t_end: target, ..self.params };
        let submitted = Instant::now();
        let index = ctx.scoped("dispatching", || {
            // The slot is free (its last dispatch was read and unmapped): the write and clears
            // land before this dispatch and after everything submitted before it.
            ctx.queue.write_buffer(&slot.params, 0, bytemuck::bytes_of(&record));
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            enc.clear_buffer(&slot.counters, 0, None);
            encode_pass(&mut enc, step, &slot.bind, groups);
            enc.copy_buffer_to_buffer(&slot.counters, 0, &slot.counters_out, 0, COUNTER_BYTES);
            if head > 0 {
                enc.copy_buffer_to_buffer(&slot.events, 0, &slot.events_out, 0, u64::from(head) * EVENT_BYTES);
            }
            let commands = enc.finish();
            timed(&mut self.waited, || ctx.queue.submit([commands]))
        })?;
        // A look without waiting: was the dispatch done by the time its submission returned?
        let idle = ctx.device.poll(wgpu::PollType::Poll).is_ok_and(|s| s.is_queue_empty());
        let ended = idle.then(Instant::now);
        let steps = target.saturating_sub(self.last_target);
        self.flights.push_back(Flight { slot: slot_index, target, steps, head, submitted, ended, index });
        self.submitted += 1;
        self.last_target = self.last_target.max(target);
        Ok(())
    }

    /// Waits for the oldest dispatch in flight and reads what it reports. The dispatches after it
    /// keep the device busy meanwhile.
    pub fn complete(&mut self) -> Result<Finished, Error> {
        let f = self.flights.pop_front().ok_or_else(|| Error::Gpu("no dispatch in flight".into()))?;
        let slot = &self.slots[f.slot];
        let (tx, rx) = std::sync::mpsc::channel();
        let head_bytes = u64::from(f.head) * EVENT_BYTES;
        let mut maps = vec![slot.counters_out.slice(..)];
        if head_bytes > 0 {
            maps.push(slot.events_out.slice(..head_bytes));
        }
        for m in &maps {
            let tx = tx.clone();
            m.map_async(wgpu::MapMode::Read, move |r| {
                let _ = tx.send(r);
            });
        }
        timed(&mut self.waited, || self.ctx.wait_for(f.index.clone()))?;
        // The dispatch began when it was submitted or when the one before it ended, whichever is
        // later; it ended when the host first saw it done.
        let done = f.ended.unwrap_or_else(Instant::now);
        let took = done.saturating_duration_since(f.submitted.max(self.last_done));
        self.last_done = done;
        for _ in &maps {
            rx.recv()
                .map_err(|_| Error::Gpu("read-back was cancelled".into()))?
                .map_err(|e| Error::Gpu(format!("mapping a read-back buffer: {e}")))?;
        }
        let mapped = |b: &wgpu::Buffer, bytes: u64| -> Result<Vec<u8>, Error> {
            let v = b.get_mapped_range(..bytes).map_err(|e| Error::Gpu(format!("reading a mapped buffer: {e}")))?.to_vec();
            b.unmap();
            Ok(v)
        };
        let counters: [u32; COUNTERS] = bytemuck::pod_read_unaligned(&mapped(&slot.counters_out, COUNTER_BYTES)?);
        let appended = counters[C_EVENTS];
        let head = if head_bytes > 0 { mapped(&slot.events_out, head_bytes)? } else { Vec::new() };
        let in_head = appended.min(f.head) as usize;
        let mut events: Vec<EscapeEvent> = bytemuck::pod_collect_to_vec(&head[..in_head * EVENT_BYTES as usize]);
        if appended > f.head && appended <= self.params.event_capacity {
            // More than the head: read the rest now. The copy queues behind the dispatches after
            // this one (so it waits for them: counted as host time), and no later dispatch
            // writes this slot before it is read.
            events.extend(self.ctx.read_back_from::<EscapeEvent>(&slot.events, f.head as usize, (appended - f.head) as usize)?);
        }
        self.recent_events = appended;
        Ok(Finished { target: f.target, steps: f.steps, counters, events, took })
    }

    /// Waits for every dispatch in flight, discarding what they report.
    pub fn abandon(&mut self) -> Result<(), Error> {
        self.flights.clear();
        self.ctx.wait()
    }
}

/// `groups` workgroups as a grid: 1-D up to `max_x`, spilling into y beyond.
pub fn workgroups(groups: u32, max_x: u32) -> (u32, u32) {
    let gx = groups.min(max_x).max(1);
    (gx, groups.div_ceil(gx))
}

/// Runs `f`, adding the time it took to `waited`: for the calls in which the host waits on the
/// device (a submission, which on a software adapter such as lavapipe runs the dispatch before it
/// returns, and the wait for a dispatch's end).
fn timed<R>(waited: &mut Duration, f: impl FnOnce() -> R) -> R {
    let began = Instant::now();
    let out = f();
    *waited += began.elapsed();
    out
}

fn encode_pass(enc: &mut wgpu::CommandEncoder, pipeline: &wgpu::ComputePipeline, bind: &wgpu::BindGroup, (gx, gy): (u32, u32)) {
    let mut pass = enc.begin_compute_pass(&Default::default());
    pass.set_pipeline(pipeline);
    pass.set_bind_group(0, bind, &[]);
    pass.dispatch_workgroups(gx, gy, 1);
}
