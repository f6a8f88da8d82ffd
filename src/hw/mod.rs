//! Hardware detection: CPU and RAM through sysinfo, NVIDIA GPUs through NVML loaded at run time
//! (nvml-wrapper dlopens libnvidia-ml, so the binary runs on machines without the driver).
//! Detection never fails a command: what cannot be read becomes a warning.

pub mod bandwidth;
pub mod host_cache;

use serde::Serialize;

use crate::catalog::{normalize, Catalog, Device, DeviceKind};

/// What this machine has.
#[derive(Debug, Clone, Serialize)]
pub struct Detected {
    pub cpu_brand: String,
    pub cpu_arch: String,
    pub physical_cores: Option<usize>,
    pub logical_cores: usize,
    pub ram_bytes: u64,
    pub ram_available_bytes: u64,
    /// Run-time SIMD features the kernels can use.
    pub simd: Vec<&'static str>,
    pub gpus: Vec<DetectedGpu>,
    pub driver_version: Option<String>,
    /// Catalogue Apple chip matching the CPU brand ("Apple M2 Max" -> m2-max).
    pub apple_chip: Option<String>,
    pub warnings: Vec<String>,
    /// This CPU's memory bandwidth as measured by `validate` or `detect --measure` (cached).
    pub measured: Option<host_cache::HostMeasurement>,
    /// This CPU's FP32 FMA peak, what prefill on it is planned against; `None` when its clock
    /// cannot be read.
    pub cpu_peak: Option<CpuPeak>,
}

/// A CPU's FP32 FMA peak, stated as the catalogue's CPU hosts state theirs: cores x FLOP per
/// cycle x clock. Planning this machine with the 16-core desktop's figure (4.4 TFLOPS) put
/// a 2-core VM's prefill 10-20x above what its engines measure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CpuPeak {
    /// Physical cores (logical where the count of physical ones is unknown).
    pub cores: usize,
    /// FP32 FLOP per cycle and core from the SIMD features.
    pub flops_per_cycle: f64,
    pub ghz: f64,
    /// Which clock: "base" or "maximum" (cpufreq), or "reported" (the OS's current figure;
    /// a VM's nominal clock).
    pub clock_basis: &'static str,
}

impl CpuPeak {
    pub fn tflops(&self) -> f64 {
        self.cores as f64 * self.flops_per_cycle * self.ghz / 1000.0
    }

    /// The peak of the cores `threads` worker threads can use (no more than the cores).
    pub fn tflops_for_threads(&self, threads: usize) -> f64 {
        self.tflops() * threads.clamp(1, self.cores.max(1)) as f64 / self.cores.max(1) as f64
    }

    /// "0.17 TFLOPS FP32 (2 cores x 32 FLOP/cycle x 2.60 GHz reported clock)".
    pub fn describe(&self) -> String {
        format!(
            "{} TFLOPS FP32 ({} cores x {} FLOP/cycle x {:.2} GHz {} clock)",
            crate::units::sig(self.tflops(), 2),
            self.cores,
            self.flops_per_cycle,
            self.ghz,
            self.clock_basis
        )
    }
}

/// FP32 FLOP per cycle and core from the SIMD features the kernels detected: two FMA pipes of
/// the vector width. AVX-512 counts as 256-bit (Zen 4 runs 512-bit FMAs as two halves, and many
/// Intel cores have one 512-bit FMA unit), NEON as two 128-bit pipes: a floor, not a boast.
pub fn flops_per_cycle(simd: &[&str]) -> f64 {
    if simd.contains(&"fma") {
        32.0
    } else if simd.contains(&"avx2") || simd.contains(&"neon") {
        16.0
    } else {
        8.0
    }
}

/// The CPU clock in GHz and which one: cpufreq's base frequency where the driver states it,
/// else its maximum, else what sysinfo reports (a VM's nominal clock; on bare metal the current
/// one). `None` outside 0.5-7 GHz.
fn cpu_clock(reported_mhz: u64) -> Option<(f64, &'static str)> {
    let khz = |f: &str| {
        std::fs::read_to_string(format!("/sys/devices/system/cpu/cpu0/cpufreq/{f}"))
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    let (ghz, basis) = if let Some(k) = khz("base_frequency") {
        (k / 1e6, "base")
    } else if let Some(k) = khz("cpuinfo_max_freq") {
        (k / 1e6, "maximum")
    } else {
        (reported_mhz as f64 / 1e3, "reported")
    };
    (0.5..=7.0).contains(&ghz).then_some((ghz, basis))
}

/// Memory bandwidth of this machine for planning, and where the figure comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalBandwidth {
    pub gb_s: f64,
    /// "measured" or "assumed".
    pub basis: &'static str,
    /// Says which figure, for people: "measured 2026-12-04, 2 threads" or the assumed class.
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DetectedGpu {
    pub index: u32,
    pub name: String,
    pub memory_bytes: u64,
    pub memory_free_bytes: u64,
    pub pcie_gen: Option<u32>,
    pub pcie_width: Option<u32>,
    pub power_limit_watts: Option<f64>,
    /// The catalogue device this GPU is, when one matches by name and memory.
    pub catalog_id: Option<String>,
}

fn simd_features() -> Vec<&'static str> {
    #[allow(unused_mut)]
    let mut v = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        for (name, on) in [
            ("sse4.2", std::arch::is_x86_feature_detected!("sse4.2")),
            ("avx2", std::arch::is_x86_feature_detected!("avx2")),
            ("fma", std::arch::is_x86_feature_detected!("fma")),
            ("f16c", std::arch::is_x86_feature_detected!("f16c")),
            ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
            ("avx512bw", std::arch::is_x86_feature_detected!("avx512bw")),
            (
                "avx512vnni",
                std::arch::is_x86_feature_detected!("avx512vnni"),
            ),
        ] {
            if on {
                v.push(name);
            }
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            v.push("neon");
        }
        if std::arch::is_aarch64_feature_detected!("dotprod") {
            v.push("dotprod");
        }
    }
    v
}

/// The catalogue GPU whose name matches `name` best and whose memory is within 10% of `memory`.
/// Names as drivers report them carry extra words ("NVIDIA H100 80GB HBM3"), so shorter and
/// shorter prefixes are tried.
pub fn match_gpu(catalog: &Catalog, name: &str, memory: u64) -> Option<String> {
    let norm = normalize(name);
    let words: Vec<&str> = norm.split('-').collect();
    let close = |d: &Device| {
        let m = d.memory_bytes as f64;
        (m - memory as f64).abs() / m <= 0.1
    };
    for end in (1..=words.len()).rev() {
        let q = words[..end].join("-");
        if let Ok(d) = catalog.device(&q) {
            if d.entry.kind == DeviceKind::Gpu && close(&d) {
                return Some(d.id);
            }
        }
        // Variants by memory: "rtx-3060" with 12 GB -> rtx-3060-12gb.
        let gb = (memory as f64 / (1u64 << 30) as f64).round() as u64;
        let sxm_first = norm.contains("hbm") || norm.contains("sxm");
        let form = if sxm_first {
            ["sxm", "pcie"]
        } else {
            ["pcie", "sxm"]
        };
        for suffix in [
            format!("{q}-{gb}gb"),
            format!("{q}-{gb}gb-{}", form[0]),
            format!("{q}-{gb}gb-{}", form[1]),
            format!("{q}-{}", form[0]),
            format!("{q}-{}", form[1]),
        ] {
            if let Ok(d) = catalog.device(&suffix) {
                if d.entry.kind == DeviceKind::Gpu && close(&d) {
                    return Some(d.id);
                }
            }
        }
    }
    None
}

/// Worker threads for a `--threads` value: 0 means one per available core.
pub fn threads(requested: usize) -> usize {
    if requested == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        requested
    }
}

/// Detects this machine's hardware.
pub fn detect(catalog: &Catalog) -> Detected {
    let mut warnings = Vec::new();
    let mut sys = sysinfo::System::new();
    sys.refresh_memory();
    sys.refresh_cpu_all();
    let cpu_brand = sys
        .cpus()
        .first()
        .map(|c| c.brand().trim().to_string())
        .unwrap_or_default();
    let apple_chip = cpu_brand
        .strip_prefix("Apple ")
        .and_then(|chip| catalog.device(chip).ok())
        .filter(|d| d.entry.kind == DeviceKind::Apple)
        .map(|d| d.entry.id.clone());
    let mut gpus = Vec::new();
    let mut driver_version = None;
    match nvml_wrapper::Nvml::init() {
        Ok(nvml) => {
            driver_version = nvml.sys_driver_version().ok();
            let count = nvml.device_count().unwrap_or_else(|e| {
                warnings.push(format!("NVML: cannot count devices: {e}"));
                0
            });
            for index in 0..count {
                match nvml.device_by_index(index) {
                    Ok(dev) => {
                        let name = dev.name().unwrap_or_else(|_| "unknown NVIDIA GPU".into());
                        let (memory_bytes, memory_free_bytes) = dev
                            .memory_info()
                            .map(|m| (m.total, m.free))
                            .unwrap_or((0, 0));
                        let catalog_id = match_gpu(catalog, &name, memory_bytes);
                        if catalog_id.is_none() {
                            warnings.push(format!("GPU {index} `{name}` is not in the catalogue; add it with --catalog"));
                        }
                        gpus.push(DetectedGpu {
                            index,
                            name,
                            memory_bytes,
                            memory_free_bytes,
                            pcie_gen: dev.current_pcie_link_gen().ok(),
                            pcie_width: dev.current_pcie_link_width().ok(),
                            power_limit_watts: dev
                                .power_management_limit()
                                .ok()
                                .map(|mw| mw as f64 / 1000.0),
                            catalog_id,
                        });
                    }
                    Err(e) => warnings.push(format!("NVML: GPU {index}: {e}")),
                }
            }
        }
        Err(e) => warnings.push(format!("no NVIDIA GPU found (NVML: {e})")),
    }
    let simd = simd_features();
    let physical_cores = sysinfo::System::physical_core_count();
    let reported_mhz = sys.cpus().first().map_or(0, |c| c.frequency());
    let cpu_peak = cpu_clock(reported_mhz).map(|(ghz, clock_basis)| CpuPeak {
        cores: physical_cores.unwrap_or(threads(0)),
        flops_per_cycle: flops_per_cycle(&simd),
        ghz,
        clock_basis,
    });
    Detected {
        measured: host_cache::load(&cpu_brand),
        cpu_peak,
        cpu_brand,
        cpu_arch: std::env::consts::ARCH.to_string(),
        physical_cores,
        logical_cores: threads(0),
        ram_bytes: sys.total_memory(),
        ram_available_bytes: sys.available_memory(),
        simd,
        gpus,
        driver_version,
        apple_chip,
        warnings,
    }
}

impl Detected {
    /// The detected accelerators as catalogue devices (GPUs matched by name, or this Mac's chip);
    /// without one, this machine as a CPU-only host.
    pub fn devices(&self, catalog: &Catalog) -> Vec<Device> {
        let mut out: Vec<Device> = self
            .gpus
            .iter()
            .filter_map(|g| g.catalog_id.as_ref().and_then(|id| catalog.device(id).ok()))
            .collect();
        if out.is_empty() {
            if let Some(chip) = &self.apple_chip {
                let gb = (self.ram_bytes as f64 / (1u64 << 30) as f64).round() as u64;
                if let Ok(d) = catalog.device(&format!("{chip}-{gb}gb")) {
                    out.push(d);
                }
            } else if self.gpus.is_empty() {
                // No GPU at all (an uncatalogued one is not silently replaced by the CPU).
                let Some(host) = self.cpu_host(catalog) else {
                    return out;
                };
                out.push(host);
            }
        }
        out
    }

    /// This machine's memory bandwidth for planning: the cached measurement of this CPU when
    /// there is one, else the catalogue's dual-channel DDR5 desktop (an assumption, said so).
    pub fn local_bandwidth(&self, catalog: &Catalog) -> Option<LocalBandwidth> {
        if let Some(m) = &self.measured {
            return Some(LocalBandwidth {
                gb_s: m.memory_read_gb_s,
                basis: "measured",
                detail: format!(
                    "measured {}, {} thread(s); `vramplan detect --measure` to redo",
                    m.date, m.threads
                ),
            });
        }
        let class = catalog.device(ASSUMED_CLASS).ok()?;
        Some(LocalBandwidth {
            gb_s: class.entry.bandwidth_gb_s,
            basis: "assumed",
            detail: format!(
                "assumed: {ASSUMED_CLASS}; `vramplan detect --measure` measures this machine"
            ),
        })
    }

    /// A machine without a catalogued accelerator as a CPU-only host: its own RAM, with its
    /// measured memory bandwidth ([`Detected::local_bandwidth`]) or, unmeasured, the
    /// catalogue's dual-channel DDR5 desktop's; the name says which.
    pub fn cpu_host(&self, catalog: &Catalog) -> Option<Device> {
        if self.ram_bytes == 0 {
            return None;
        }
        let class = catalog.device(ASSUMED_CLASS).ok()?;
        let bw = self.local_bandwidth(catalog)?;
        let mut entry = class.entry;
        entry.id = "this-machine".into();
        entry.bandwidth_gb_s = bw.gb_s;
        let compute = match &self.cpu_peak {
            Some(p) => {
                entry.fp16_tensor_tflops_dense = p.tflops();
                format!("; compute {}", p.describe())
            }
            None => format!(
                "; compute assumed: {} TFLOPS FP32, {ASSUMED_CLASS}",
                crate::units::sig(entry.fp16_tensor_tflops_dense, 3)
            ),
        };
        entry.name = format!(
            "this machine: {}, {} RAM (bandwidth {}: {} GB/s{}{compute})",
            if self.cpu_brand.is_empty() {
                self.cpu_arch.as_str()
            } else {
                self.cpu_brand.as_str()
            },
            crate::units::Bytes(self.ram_bytes).display_gb(),
            bw.basis,
            crate::units::sig(bw.gb_s, 3),
            if bw.basis == "measured" {
                format!(", {}", bw.detail.split(';').next().unwrap_or(""))
            } else {
                format!(", {ASSUMED_CLASS}")
            }
        );
        entry.aliases.clear();
        entry.memory_bytes = self.ram_bytes;
        entry.memory_options_gb.clear();
        Some(Device::from_entry(entry, None))
    }
}

/// The catalogue class a CPU-only host is taken as when its bandwidth is not measured.
const ASSUMED_CLASS: &str = "ddr5-desktop-2ch";

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(gpus: Vec<DetectedGpu>, apple_chip: Option<&str>) -> Detected {
        Detected {
            cpu_brand: "Test CPU".into(),
            cpu_arch: "x86_64".into(),
            physical_cores: Some(8),
            logical_cores: 16,
            ram_bytes: 32 << 30,
            ram_available_bytes: 30 << 30,
            simd: vec![],
            gpus,
            driver_version: None,
            apple_chip: apple_chip.map(String::from),
            warnings: vec![],
            measured: None,
            cpu_peak: None,
        }
    }

    #[test]
    fn a_machine_without_gpu_is_a_cpu_host_with_its_own_ram() {
        let c = Catalog::embedded().unwrap();
        let found = machine(vec![], None).devices(&c);
        assert_eq!(found.len(), 1);
        let host = &found[0];
        assert_eq!(host.entry.kind, crate::catalog::DeviceKind::Cpu);
        assert_eq!(host.memory_bytes, 32 << 30);
        assert!(host.name.contains("bandwidth assumed"), "{}", host.name);
        // Measured here: that figure, said so.
        let mut m = machine(vec![], None);
        m.measured = Some(host_cache::now_measurement("Test CPU", 2, 12.5));
        let host = &m.devices(&c)[0];
        assert_eq!(host.entry.bandwidth_gb_s, 12.5);
        assert!(
            host.name.contains("bandwidth measured: 12.5 GB/s"),
            "{}",
            host.name
        );
        assert_eq!(m.local_bandwidth(&c).unwrap().basis, "measured");
        // Its compute is its own cores', not the assumed 16-core desktop's.
        let desktop = c
            .device(ASSUMED_CLASS)
            .unwrap()
            .entry
            .fp16_tensor_tflops_dense;
        assert_eq!(host.entry.fp16_tensor_tflops_dense, desktop);
        assert!(host.name.contains("compute assumed"), "{}", host.name);
        m.cpu_peak = Some(CpuPeak {
            cores: 2,
            flops_per_cycle: flops_per_cycle(&["avx2", "fma", "avx512f"]),
            ghz: 2.6,
            clock_basis: "reported",
        });
        let host = &m.devices(&c)[0];
        assert!((host.entry.fp16_tensor_tflops_dense - 0.1664).abs() < 1e-9);
        // A run on one thread has one core's peak; more threads than cores, all of them.
        let peak = m.cpu_peak.as_ref().unwrap();
        assert!((peak.tflops_for_threads(1) - 0.0832).abs() < 1e-9);
        assert!((peak.tflops_for_threads(8) - 0.1664).abs() < 1e-9);
        assert!(
            host.name.contains(
                "compute 0.17 TFLOPS FP32 (2 cores x 32 FLOP/cycle x 2.60 GHz reported clock)"
            ),
            "{}",
            host.name
        );
        // An uncatalogued GPU is not replaced by the CPU: no device, memory needed.
        let unknown = DetectedGpu {
            index: 0,
            name: "Some Future GPU".into(),
            memory_bytes: 48 << 30,
            memory_free_bytes: 47 << 30,
            pcie_gen: None,
            pcie_width: None,
            power_limit_watts: None,
            catalog_id: None,
        };
        assert!(machine(vec![unknown], None).devices(&c).is_empty());
        // A Mac is its chip, not a CPU host.
        let mac = machine(vec![], Some("m2-max")).devices(&c);
        assert_eq!(mac.len(), 1);
        assert_eq!(mac[0].id, "m2-max-32gb");
    }

    #[test]
    fn matches_driver_names_to_catalogue_ids() {
        let c = Catalog::embedded().unwrap();
        let gib = 1u64 << 30;
        assert_eq!(
            match_gpu(&c, "NVIDIA GeForce RTX 4090", 24 * gib).as_deref(),
            Some("rtx-4090")
        );
        assert_eq!(
            match_gpu(&c, "NVIDIA GeForce RTX 3060", 12 * gib).as_deref(),
            Some("rtx-3060-12gb")
        );
        assert_eq!(
            match_gpu(&c, "NVIDIA H100 80GB HBM3", 80 * gib).as_deref(),
            Some("h100-sxm")
        );
        assert_eq!(
            match_gpu(&c, "NVIDIA H100 PCIe", 80 * gib).as_deref(),
            Some("h100-pcie")
        );
        assert_eq!(
            match_gpu(&c, "NVIDIA A100-SXM4-80GB", 80 * gib).as_deref(),
            Some("a100-80gb-sxm")
        );
        assert_eq!(
            match_gpu(&c, "NVIDIA GeForce RTX 3060 Ti", 8 * gib).as_deref(),
            Some("rtx-3060-ti")
        );
        assert_eq!(match_gpu(&c, "Some Unknown GPU", 8 * gib), None);
    }

    #[test]
    fn detection_never_fails() {
        let c = Catalog::embedded().unwrap();
        let d = detect(&c);
        assert!(d.ram_bytes > 0);
        assert!(d.logical_cores >= 1);
    }
}
