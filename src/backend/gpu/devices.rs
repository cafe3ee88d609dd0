//! Several GPUs in one box: the adapters by index, and which of them a run splits its chains
//! over (`--devices all|0,2`). `crate::run` runs the parts and joins them.

use super::context::{AdapterSummary, GpuContext, enumerate_adapters};
use super::GpuEngine;
use crate::Error;

/// The devices a run splits its chains over, one engine each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Devices {
    /// Every GPU once: the hardware adapters of the first backend that has one (a GPU that two
    /// backends reach, DX12 and Vulkan, counts once), or, where there is none, the software
    /// adapters of the first backend.
    All,
    /// These adapter indices ([`Devices::adapters`]), in this order; an index given twice opens two
    /// devices on one adapter.
    Adapters(Vec<usize>),
}

impl Devices {
    /// The adapters of this machine in index order (what `escapade info` lists and `--devices`
    /// counts from), asked as [`GpuEngine::new`] asks.
    pub fn adapters() -> Vec<AdapterSummary> {
        enumerate_adapters().iter().map(|a| AdapterSummary::from_info(&a.get_info())).collect()
    }

    /// Parses `all` or adapter indices separated by commas (`0,2`).
    pub fn parse(s: &str) -> Result<Self, Error> {
        if s.trim() == "all" {
            return Ok(Devices::All);
        }
        let indices: Result<Vec<usize>, _> = s.split(',').map(|i| i.trim().parse::<usize>()).collect();
        match indices {
            Ok(v) if !v.is_empty() => Ok(Devices::Adapters(v)),
            _ => Err(Error::invalid("devices", "all, or adapter indices separated by commas (escapade info lists them)", format!("{s:?}"))),
        }
    }

    /// The adapter indices, checked against this machine's adapters: an index that does not
    /// exist is an error naming those that do.
    pub fn resolve(&self) -> Result<Vec<usize>, Error> {
        self.resolve_among(&Self::adapters())
    }

    fn resolve_among(&self, found: &[AdapterSummary]) -> Result<Vec<usize>, Error> {
        if found.is_empty() {
            return Err(Error::NoAdapter("--devices needs at least one GPU adapter".into()));
        }
        match self {
            Devices::All => {
                let first = |software: bool| found.iter().find(|a| a.is_software() == software).map(|a| (a.backend.as_str(), software));
                let (backend, software) = first(false).or_else(|| first(true)).unwrap_or(("", true));
                Ok((0..found.len()).filter(|&i| found[i].backend == backend && found[i].is_software() == software).collect())
            }
            Devices::Adapters(v) => match v.iter().find(|&&i| i >= found.len()) {
                Some(bad) => {
                    let each = match found.len() {
                        1 => "0 (the only adapter here; repeat it for several devices on it)".to_string(),
                        n => format!("from 0 to {} (escapade info lists the adapters)", n - 1),
                    };
                    Err(Error::invalid("devices", format!("all, or adapter indices separated by commas, each {each}"), bad))
                }
                None => Ok(v.clone()),
            },
        }
    }

    /// Opens one engine per device, each on a device of its own.
    pub fn open(&self) -> Result<Vec<GpuEngine>, Error> {
        let found = enumerate_adapters();
        let summaries: Vec<AdapterSummary> = found.iter().map(|a| AdapterSummary::from_info(&a.get_info())).collect();
        self.resolve_among(&summaries)?.into_iter().map(|i| Ok(GpuEngine::with_context(GpuContext::open(&found[i])?))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{AdapterSummary, Devices};

    fn adapter(backend: &str, device_type: &str) -> AdapterSummary {
        AdapterSummary { name: format!("{backend} {device_type}"), backend: backend.into(), device_type: device_type.into(), driver: String::new() }
    }

    #[test]
    fn devices_parse_and_resolve() {
        assert_eq!(Devices::parse("all").unwrap(), Devices::All);
        assert_eq!(Devices::parse("0, 2,0").unwrap(), Devices::Adapters(vec![0, 2, 0]));
        for bad in ["", "x", "0,", "-1", "1.5"] {
            assert!(Devices::parse(bad).unwrap_err().to_string().starts_with("invalid devices"), "{bad}");
        }
        let found = [adapter("Vulkan", "Cpu"), adapter("Vulkan", "DiscreteGpu"), adapter("Dx12", "DiscreteGpu"), adapter("Vulkan", "DiscreteGpu")];
        // Every GPU once: the software adapter and the second backend's view of a GPU are left out.
        assert_eq!(Devices::All.resolve_among(&found).unwrap(), vec![1, 3]);
        assert_eq!(Devices::All.resolve_among(&found[..1]).unwrap(), vec![0]);
        assert_eq!(Devices::Adapters(vec![3, 3]).resolve_among(&found).unwrap(), vec![3, 3]);
        let e = Devices::Adapters(vec![0, 4]).resolve_among(&found).unwrap_err();
        assert_eq!(e.to_string(), "invalid devices: got 4, allowed: all, or adapter indices separated by commas, each from 0 to 3 (escapade info lists the adapters)");
        assert_eq!(e.exit_code(), 2);
    }
}
