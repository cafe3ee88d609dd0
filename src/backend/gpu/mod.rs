//! The GPU backend: device context, adapters and devices, WGSL composition and the dispatch
//! driver.

mod cache;
mod context;
mod devices;
mod dispatch;
mod driver;
mod family;
pub mod hvp;
pub mod probe;
pub mod shader;

pub use context::{AdapterSummary, GpuContext};
pub use devices::Devices;
pub use driver::{GpuEngine, GpuSettings, MAX_GPU_DIM};
