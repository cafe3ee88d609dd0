//! The GPU backend: device context, WGSL composition and the dispatch driver.

mod context;
mod driver;
mod pace;
pub mod hvp;
pub mod probe;
pub mod shader;

pub use context::{AdapterSummary, GpuContext};
pub use driver::{GpuEngine, GpuSettings, MAX_GPU_DIM};
