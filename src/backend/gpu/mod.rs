//! The GPU backend: device context, adapters and devices, WGSL composition and the dispatch
//! driver.

mod cache;
mod context;
mod devices;
mod dispatch;
mod driver;
pub mod memory;
pub(crate) mod family;
pub mod hvp;
pub mod probe;
pub mod shader;
mod watch;

pub use context::{AdapterSummary, GpuContext};
pub use devices::Devices;
pub use driver::{GpuEngine, GpuSettings};
pub use family::KernelFamily;
