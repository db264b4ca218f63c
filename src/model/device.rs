//! Where the model runs: the CPU or a CUDA device, chosen by name (`cpu`, `cuda`,
//! `cuda:N`) on the command line and in the model panel. A CUDA device that cannot be used
//! (a binary built without the `cuda` feature, no driver, no GPU) is not an error: the CPU
//! is used and the reason is returned in one line, for the command line to print and the
//! model panel to show beside the checkpoint.

use candle_core::Device;

/// A device by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum DeviceChoice {
    #[default]
    Cpu,
    Cuda(usize),
}

impl DeviceChoice {
    /// `cpu`, `cuda` (device 0) or `cuda:N`.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(n)) => Ok(Self::Cuda(n)),
                _ => Err(format!("unknown device `{other}` (cpu, cuda or cuda:N)")),
            },
        }
    }

    pub fn label(self) -> String {
        match self {
            Self::Cpu => "CPU".to_owned(),
            Self::Cuda(n) => format!("CUDA {n}"),
        }
    }

    /// Whether this binary was built with CUDA (the model panel offers CUDA only then).
    pub fn cuda_built() -> bool {
        cfg!(feature = "cuda")
    }

    /// The device, or the CPU and why the chosen one cannot be used.
    pub fn open(self) -> (Device, Option<String>) {
        let Self::Cuda(ordinal) = self else {
            return (Device::Cpu, None);
        };
        if !Self::cuda_built() {
            return (
                Device::Cpu,
                Some("this binary was built without CUDA (build with --features cuda; scripts/cuda_toolchain.sh provides nvcc): running on the CPU".to_owned()),
            );
        }
        // cudarc panics when it cannot load the driver library: caught here, quietly, and
        // said as one line like any other reason.
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let opened = std::panic::catch_unwind(|| Device::new_cuda(ordinal));
        std::panic::set_hook(hook);
        let why = match opened {
            Ok(Ok(d)) => return (d, None),
            // The first line: candle appends a captured backtrace.
            Ok(Err(e)) => e.to_string().lines().next().unwrap_or_default().to_owned(),
            Err(p) => p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "the CUDA driver library could not be loaded".to_owned()),
        };
        (
            Device::Cpu,
            Some(format!(
                "CUDA device {ordinal} cannot be used ({why}): running on the CPU"
            )),
        )
    }
}

/// A device's name as the label shows it.
pub fn device_label(d: &Device) -> String {
    match d {
        Device::Cpu => "CPU".to_owned(),
        Device::Cuda(_) => "CUDA".to_owned(),
        Device::Metal(_) => "Metal".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_the_cpu_always_opens() {
        assert_eq!(DeviceChoice::parse("cpu"), Ok(DeviceChoice::Cpu));
        assert_eq!(DeviceChoice::parse("cuda"), Ok(DeviceChoice::Cuda(0)));
        assert_eq!(DeviceChoice::parse("cuda:3"), Ok(DeviceChoice::Cuda(3)));
        assert!(DeviceChoice::parse("cuda:x").is_err() && DeviceChoice::parse("gpu").is_err());
        assert!(matches!(DeviceChoice::Cpu.open(), (Device::Cpu, None)));
    }

    #[test]
    fn an_unusable_cuda_device_falls_back_to_the_cpu_with_a_reason() {
        // Without the feature, or here without a GPU: the CPU and one line saying why.
        let (d, why) = DeviceChoice::Cuda(0).open();
        if d.is_cpu() {
            let why = why.expect("a reason");
            assert!(
                why.contains("running on the CPU") && !why.contains('\n'),
                "{why}"
            );
        }
    }
}
