//! The device the GPU backend runs on: created by escapade, or injected by an embedding program.

use crate::Error;
use std::sync::{Arc, Mutex};
use std::future::Future;

/// What the report says about the adapter.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AdapterSummary {
    /// Adapter name, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub name: String,
    /// Graphics API backend (Vulkan, Metal, Dx12, Gl).
    pub backend: String,
    /// Discrete / integrated / virtual GPU or CPU.
    pub device_type: String,
    /// Driver name and info.
    pub driver: String,
}

impl AdapterSummary {
    pub(crate) fn from_info(info: &wgpu::AdapterInfo) -> Self {
        AdapterSummary {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
        }
    }

    /// Whether the "GPU" is a software rasterizer on the CPU (lavapipe, llvmpipe, WARP).
    pub fn is_software(&self) -> bool {
        self.device_type == "Cpu"
    }
}

/// A wgpu device and queue, plus what is known about their adapter.
#[derive(Clone, Debug)]
pub struct GpuContext {
    /// The device all buffers and pipelines are created on.
    pub device: wgpu::Device,
    /// The queue dispatches are submitted to.
    pub queue: wgpu::Queue,
    /// The adapter, when escapade created the device itself.
    pub adapter: Option<AdapterSummary>,
    /// GPU errors no scope captured (on a device escapade opened), handed to the next operation
    /// as an error instead of being printed or panicking.
    uncaptured: Arc<Mutex<Vec<String>>>,
}

impl GpuContext {
    /// Picks the default adapter (high performance, `WGPU_*` environment variables honoured; see
    /// `request_adapter`) and opens a device with the adapter's own limits, so large ensembles
    /// get the largest bindings.
    pub fn new() -> Result<Self, Error> {
        Self::open(&request_adapter()?)
    }

    /// A hardware adapter's device, for `--backend auto`: the default adapter when it is a real
    /// GPU, else the first real GPU among all adapters. A software one (lavapipe, llvmpipe, WARP)
    /// runs on the CPU's cores, where the CPU backend is faster, so it is taken only when asked
    /// for ([`GpuContext::new`], `--backend gpu`); with none but such, [`Error::NoAdapter`]
    /// names it.
    pub fn hardware() -> Result<Self, Error> {
        let default = request_adapter();
        if let Ok(a) = &default {
            if !AdapterSummary::from_info(&a.get_info()).is_software() {
                return Self::open(a);
            }
        }
        let found = enumerate_adapters();
        let summaries: Vec<AdapterSummary> = found.iter().map(|a| AdapterSummary::from_info(&a.get_info())).collect();
        match first_hardware(&summaries) {
            Some(i) => Self::open(&found[i]),
            None => Err(match (default, summaries.first()) {
                (Err(e), None) => e,
                (_, Some(s)) => Error::NoAdapter(format!("only the software adapter {} on {}, which --backend gpu runs on", s.name, s.backend)),
                (Ok(_), None) => Error::NoAdapter("only software adapters, which --backend gpu runs on".into()),
            }),
        }
    }

    /// Opens a device on `adapter` with its own limits and the f16/f64 shader features it has,
    /// keeping uncaptured GPU errors for the next operation (see [`GpuContext::scoped`]).
    pub(crate) fn open(adapter: &wgpu::Adapter) -> Result<Self, Error> {
        let summary = AdapterSummary::from_info(&adapter.get_info());
        // f16 and f64 chain states need SHADER_F16 / SHADER_F64; ask for them wherever the
        // adapter has them.
        let required_features = adapter.features() & (wgpu::Features::SHADER_F16 | wgpu::Features::SHADER_F64);
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("escapade"),
            required_features,
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|e| Error::Gpu(format!("requesting a device from {}: {e}", summary.name)))?;
        // wgpu's default handler panics on errors nobody captured; every operation of ours runs
        // inside error scopes, so anything reaching here is kept and returned by the next
        // operation as an error: never a panic, never a print.
        let uncaptured: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e| sink.lock().unwrap_or_else(|p| p.into_inner()).push(e.to_string())));
        Ok(GpuContext { device, queue, adapter: Some(summary), uncaptured })
    }

    /// Wraps a device and queue owned by an embedding program. Its error handler is left alone:
    /// escapade captures its own errors with error scopes.
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue) -> Self {
        GpuContext { device, queue, adapter: None, uncaptured: Arc::default() }
    }

    /// Like [`GpuContext::from_device`], recording the adapter for reports.
    pub fn from_device_with_adapter(device: wgpu::Device, queue: wgpu::Queue, adapter: &wgpu::Adapter) -> Self {
        GpuContext { device, queue, adapter: Some(AdapterSummary::from_info(&adapter.get_info())), uncaptured: Arc::default() }
    }

    /// What checkpoints record as the engine that wrote them: the adapter and its graphics API
    /// (a Vulkan checkpoint is not the GL backend's on the same adapter).
    pub fn engine_id(&self) -> String {
        match &self.adapter {
            Some(a) => format!("gpu {} ({})", a.name, a.backend),
            None => format!("gpu {}", self.name()),
        }
    }

    /// The adapter's name, or "(embedded device)" for a device injected without one.
    pub fn name(&self) -> &str {
        self.adapter.as_ref().map_or("(embedded device)", |a| a.name.as_str())
    }

    /// Runs `f` inside validation and out-of-memory error scopes and turns a captured error into
    /// [`Error::Gpu`], labelled with `what`.
    pub fn scoped<R>(&self, what: &str, f: impl FnOnce() -> R) -> Result<R, Error> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f();
        let v = block(validation.pop());
        let o = block(oom.pop());
        if let Some(e) = v.or(o) {
            return Err(Error::Gpu(format!("{what}: {e}")));
        }
        self.take_uncaptured(what)?;
        Ok(out)
    }

    /// An error for GPU errors no scope captured since the last call, if any.
    fn take_uncaptured(&self, what: &str) -> Result<(), Error> {
        let mut errors = self.uncaptured.lock().unwrap_or_else(|p| p.into_inner());
        if errors.is_empty() {
            return Ok(());
        }
        let all = std::mem::take(&mut *errors).join("; ");
        Err(Error::Gpu(format!("{what}: uncaptured GPU error: {all}")))
    }

    /// Waits until the queue is idle.
    pub fn wait(&self) -> Result<(), Error> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| Error::Gpu(format!("waiting for the device: {e}")))?;
        self.take_uncaptured("waiting for the device")
    }

    /// Waits until submission `index` (and everything submitted before it) is done, leaving what
    /// was submitted after it running.
    pub fn wait_for(&self, index: wgpu::SubmissionIndex) -> Result<(), Error> {
        self.device
            .poll(wgpu::PollType::Wait { submission_index: Some(index), timeout: None })
            .map(|_| ())
            .map_err(|e| Error::Gpu(format!("waiting for the device: {e}")))?;
        self.take_uncaptured("waiting for the device")
    }

    /// Copies `len` elements of `src` (from element 0) into a new vector: through a mappable
    /// staging buffer, since storage buffers cannot be mapped on most GPUs.
    pub fn read_back<T: bytemuck::Pod>(&self, src: &wgpu::Buffer, len: usize) -> Result<Vec<T>, Error> {
        self.read_back_from(src, 0, len)
    }

    /// Like [`GpuContext::read_back`], from element `first` on (`first` elements must span a
    /// multiple of 4 bytes). Waits for everything submitted so far.
    pub fn read_back_from<T: bytemuck::Pod>(&self, src: &wgpu::Buffer, first: usize, len: usize) -> Result<Vec<T>, Error> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let bytes = (len * std::mem::size_of::<T>()) as u64;
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("escapade read-back"),
            size: bytes.next_multiple_of(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.scoped("copying results to the host", || {
            let mut enc = self.device.create_command_encoder(&Default::default());
            let from = (first * std::mem::size_of::<T>()) as u64;
            enc.copy_buffer_to_buffer(src, from, &staging, 0, bytes.next_multiple_of(4));
            self.queue.submit([enc.finish()]);
        })?;
        let (tx, rx) = std::sync::mpsc::channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        rx.recv()
            .map_err(|_| Error::Gpu("read-back was cancelled".into()))?
            .map_err(|e| Error::Gpu(format!("mapping a read-back buffer: {e}")))?;
        let view = staging
            .get_mapped_range(..)
            .map_err(|e| Error::Gpu(format!("reading a mapped buffer: {e}")))?;
        let out = bytemuck::pod_collect_to_vec::<u8, T>(&view[..bytes as usize]);
        drop(view);
        staging.unmap();
        Ok(out)
    }
}

/// The adapter escapade runs on: a Vulkan, Metal or DX12 one first (high performance preferred),
/// and OpenGL only when none of those backends has an adapter. GL is asked last, in its own
/// instance, because merely creating a GL instance initialises EGL and its drivers, which takes
/// time and on some systems writes warnings to stderr, all for nothing when Vulkan works.
/// One consequence: a machine with a software Vulkan adapter (lavapipe) and a hardware GPU that
/// only GL reaches gets the software adapter; `WGPU_BACKEND=gl` picks the other. When
/// `WGPU_BACKEND` is set, exactly those backends are asked, once.
///
/// (The "error: XDG_RUNTIME_DIR is invalid or not set" lines some Linux machines print come from
/// Mesa's Vulkan device-select layer, not from GL; the command line switches that layer off when
/// there is no Wayland session, see `main.rs`.)
/// The index of the first adapter that is not a software one.
fn first_hardware(found: &[AdapterSummary]) -> Option<usize> {
    found.iter().position(|a| !a.is_software())
}

fn request_adapter() -> Result<wgpu::Adapter, Error> {
    let options = wgpu::RequestAdapterOptions { power_preference: wgpu::PowerPreference::HighPerformance, ..Default::default() };
    // The instance may go: the adapter keeps what it needs alive.
    let request = |backends| block(instance(backends).request_adapter(&options));
    if wgpu::Backends::from_env().is_some() {
        return request(None).map_err(|e| Error::NoAdapter(e.to_string()));
    }
    let gl = wgpu::Backends::GL;
    request(Some(wgpu::Backends::all() - gl)).or_else(|first| {
        request(Some(gl)).map_err(|second| Error::NoAdapter(format!("{first}; OpenGL: {second}")))
    })
}

/// Every adapter, asked as [`request_adapter`] asks: the backends `WGPU_BACKEND` names, else
/// Vulkan, Metal and DX12, and OpenGL only when those have none. The order is the drivers', the
/// same on every call.
pub(crate) fn enumerate_adapters() -> Vec<wgpu::Adapter> {
    let list = |backends: Option<wgpu::Backends>| block(instance(backends).enumerate_adapters(backends.unwrap_or(wgpu::Backends::all())));
    if wgpu::Backends::from_env().is_some() {
        return list(None);
    }
    let found = list(Some(wgpu::Backends::all() - wgpu::Backends::GL));
    if found.is_empty() { list(Some(wgpu::Backends::GL)) } else { found }
}

/// An instance on `backends` (None: those the `WGPU_*` environment variables name, else all).
fn instance(backends: Option<wgpu::Backends>) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    if let Some(b) = backends {
        desc.backends = b;
    }
    wgpu::Instance::new(desc)
}

fn block<F: Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

#[cfg(test)]
mod tests {
    use super::{AdapterSummary, first_hardware};

    fn adapter(device_type: &str) -> AdapterSummary {
        AdapterSummary { name: device_type.into(), backend: "Vulkan".into(), device_type: device_type.into(), driver: String::new() }
    }

    /// `auto` passes over software adapters wherever they are listed, and finds none among them
    /// alone.
    #[test]
    fn auto_takes_the_first_hardware_adapter() {
        assert_eq!(first_hardware(&[adapter("Cpu"), adapter("DiscreteGpu")]), Some(1));
        assert_eq!(first_hardware(&[adapter("IntegratedGpu"), adapter("Cpu")]), Some(0));
        assert_eq!(first_hardware(&[adapter("Cpu"), adapter("Cpu")]), None);
        assert_eq!(first_hardware(&[]), None);
    }
}
