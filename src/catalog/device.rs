//! Device entries of the catalogue (`[[device]]` in hardware.toml): GPUs, Apple chips, CPU hosts.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    Gpu,
    Apple,
    Cpu,
}

/// Architecture generation: what decides which weight and KV formats an engine runs on a
/// device (see `estimate::capability`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    /// NVIDIA, compute capability 6.0 / 6.1 (P100, P40, GTX 10): no catalogue entry, but a
    /// user's catalogue may add one (llama.cpp runs on it; vLLM does not).
    Pascal,
    /// NVIDIA, compute capability 7.0 (V100).
    Volta,
    /// NVIDIA, 7.5 (T4, RTX 20).
    Turing,
    /// NVIDIA, 8.0 / 8.6 (A100, A10, RTX 30, RTX A-series).
    Ampere,
    /// NVIDIA, 8.9 (RTX 40, L4, L40S, RTX Ada).
    Ada,
    /// NVIDIA, 9.0 (H100, H200).
    Hopper,
    /// NVIDIA, 10.0 (B200) / 12.0 (RTX 50, RTX PRO 6000).
    Blackwell,
    /// AMD Radeon RX 7000 (gfx1100).
    Rdna3,
    /// AMD Instinct MI200 (gfx90a).
    Cdna2,
    /// AMD Instinct MI300 (gfx942).
    Cdna3,
    AppleM1,
    AppleM2,
    AppleM3,
    AppleM4,
    /// A CPU host (x86-64 with AVX2 or better).
    #[serde(rename = "x86-64")]
    X86_64,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::Pascal => "Pascal",
            Arch::Volta => "Volta",
            Arch::Turing => "Turing",
            Arch::Ampere => "Ampere",
            Arch::Ada => "Ada Lovelace",
            Arch::Hopper => "Hopper",
            Arch::Blackwell => "Blackwell",
            Arch::Rdna3 => "RDNA3",
            Arch::Cdna2 => "CDNA2",
            Arch::Cdna3 => "CDNA3",
            Arch::AppleM1 => "Apple M1",
            Arch::AppleM2 => "Apple M2",
            Arch::AppleM3 => "Apple M3",
            Arch::AppleM4 => "Apple M4",
            Arch::X86_64 => "x86-64",
        }
    }

    /// NVIDIA compute capability of the generation (its lowest where it spans two).
    pub fn compute_capability(self) -> Option<f64> {
        Some(match self {
            Arch::Pascal => 6.0,
            Arch::Volta => 7.0,
            Arch::Turing => 7.5,
            Arch::Ampere => 8.0,
            Arch::Ada => 8.9,
            Arch::Hopper => 9.0,
            Arch::Blackwell => 10.0,
            _ => return None,
        })
    }
}

/// One device as the catalogue file states it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeviceEntry {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub kind: DeviceKind,
    pub vendor: String,
    pub segment: String,
    /// Architecture generation; `None` (user entries without it): capability unknown, not
    /// checked.
    #[serde(default)]
    pub arch: Option<Arch>,
    #[serde(default)]
    pub released: Option<String>,
    /// Memory as the vendor states it ("24 GB GDDR6X").
    pub memory: String,
    /// Real capacity in bytes (of the largest option where there are several).
    pub memory_bytes: u64,
    #[serde(default)]
    pub memory_type: Option<String>,
    pub bandwidth_gb_s: f64,
    /// Dense FP16 tensor throughput (never the sparse headline).
    pub fp16_tensor_tflops_dense: f64,
    #[serde(default)]
    pub bf16_tensor_tflops_dense: Option<f64>,
    #[serde(default)]
    pub fp8_tensor_tflops_dense: Option<f64>,
    #[serde(default)]
    pub int8_tensor_tops_dense: Option<f64>,
    pub tdp_watts: f64,
    #[serde(default)]
    pub pcie_gen: Option<u32>,
    #[serde(default)]
    pub pcie_lanes: Option<u32>,
    #[serde(default)]
    pub nvlink_gb_s: Option<f64>,
    #[serde(default)]
    pub launch_price_usd: Option<f64>,
    #[serde(default)]
    pub launch_price_source: Option<String>,
    #[serde(default)]
    pub street_price_usd: Option<f64>,
    #[serde(default)]
    pub street_price_kind: Option<String>,
    #[serde(default)]
    pub street_price_date: Option<String>,
    #[serde(default)]
    pub street_price_source: Option<String>,
    /// Unified/system memory configurations in vendor GB (Apple chips and CPU hosts).
    #[serde(default)]
    pub memory_options_gb: Vec<u32>,
    /// Purchase price of the cheapest machine with each memory option (same order as
    /// `memory_options_gb`), with its source and date.
    #[serde(default)]
    pub memory_option_prices_usd: Vec<f64>,
    #[serde(default)]
    pub memory_option_prices_source: Option<String>,
    #[serde(default)]
    pub memory_option_prices_date: Option<String>,
    /// Where the chip is binned by memory (Apple M3 Max, M4 Max): per memory option (same order
    /// as `memory_options_gb`), its memory bandwidth and GPU core count, with their source.
    /// Empty: every option has the entry's figures.
    #[serde(default)]
    pub memory_option_bandwidth_gb_s: Vec<f64>,
    #[serde(default)]
    pub memory_option_gpu_cores: Vec<u32>,
    #[serde(default)]
    pub memory_option_specs_source: Option<String>,
    /// Share of unified memory the GPU may use (Apple).
    #[serde(default)]
    pub gpu_memory_share: Option<f64>,
    pub source: String,
    #[serde(default)]
    pub cloud: Vec<CloudPrice>,
}

/// An on-demand cloud rental price.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CloudPrice {
    pub provider: String,
    pub usd_per_gpu_hour: f64,
    pub date: String,
    pub source: String,
}

impl DeviceEntry {
    /// Best known purchase price: street price if known, else launch price.
    pub fn price_usd(&self) -> Option<f64> {
        self.street_price_usd.or(self.launch_price_usd)
    }

    /// Purchase price of the configuration with `gb` of memory, where the catalogue has one.
    pub fn option_price_usd(&self, gb: u32) -> Option<f64> {
        let i = self.memory_options_gb.iter().position(|&g| g == gb)?;
        self.memory_option_prices_usd.get(i).copied()
    }

    /// What the purchase price of [`price_usd`](Self::price_usd) (or of the memory option
    /// `option_gb`) is: "used street price (2026-05)", "launch MSRP (2022-10)", ...
    pub fn price_basis(&self, option_gb: Option<u32>) -> Option<String> {
        if option_gb.is_some() && !self.memory_option_prices_usd.is_empty() {
            return Some(format!(
                "{}: {} price of the configuration ({})",
                self.id,
                if self.kind == DeviceKind::Apple {
                    "Apple launch"
                } else {
                    "complete-system estimate"
                },
                self.memory_option_prices_date
                    .as_deref()
                    .unwrap_or("undated")
            ));
        }
        if self.street_price_usd.is_some() {
            return Some(format!(
                "{}: {} street price ({})",
                self.id,
                self.street_price_kind.as_deref().unwrap_or("new"),
                self.street_price_date.as_deref().unwrap_or("undated")
            ));
        }
        self.launch_price_usd.map(|_| {
            format!(
                "{}: launch MSRP ({})",
                self.id,
                self.released.as_deref().unwrap_or("undated")
            )
        })
    }

    fn option_index(&self, memory_bytes: u64) -> Option<usize> {
        let gb = (memory_bytes >> 30) as u32;
        self.memory_options_gb.iter().position(|&g| g == gb)
    }

    /// Memory bandwidth of the configuration with `memory_bytes` (a binned chip's option has
    /// its own; otherwise the entry's).
    pub fn bandwidth_for(&self, memory_bytes: u64) -> f64 {
        self.option_index(memory_bytes)
            .and_then(|i| self.memory_option_bandwidth_gb_s.get(i).copied())
            .unwrap_or(self.bandwidth_gb_s)
    }

    /// GPU cores of the configuration with `memory_bytes`, where the catalogue states them.
    pub fn gpu_cores_for(&self, memory_bytes: u64) -> Option<u32> {
        self.option_index(memory_bytes)
            .and_then(|i| self.memory_option_gpu_cores.get(i).copied())
    }

    /// Dense FP16 throughput of the configuration: the entry's (full chip's) figure scaled by
    /// the option's share of the GPU cores.
    pub fn fp16_tflops_for(&self, memory_bytes: u64) -> f64 {
        let full = self.memory_option_gpu_cores.iter().copied().max();
        match (self.gpu_cores_for(memory_bytes), full) {
            (Some(c), Some(f)) if f > 0 => self.fp16_tensor_tflops_dense * c as f64 / f as f64,
            _ => self.fp16_tensor_tflops_dense,
        }
    }

    /// Cheapest on-demand $/GPU-hour in the catalogue.
    pub fn cheapest_cloud(&self) -> Option<&CloudPrice> {
        self.cloud
            .iter()
            .min_by(|a, b| a.usd_per_gpu_hour.total_cmp(&b.usd_per_gpu_hour))
    }

    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !super::is_kebab_id(&self.id) {
            p.push(format!("id `{}` is not lower-case kebab-case", self.id));
        }
        if self.memory_bytes == 0 {
            p.push("memory_bytes must be > 0".into());
        }
        if !(self.bandwidth_gb_s.is_finite() && self.bandwidth_gb_s > 0.0) {
            p.push(format!(
                "bandwidth_gb_s must be positive, got {}",
                self.bandwidth_gb_s
            ));
        }
        if !(self.fp16_tensor_tflops_dense.is_finite() && self.fp16_tensor_tflops_dense > 0.0) {
            p.push("fp16_tensor_tflops_dense must be positive".into());
        }
        if !(self.tdp_watts.is_finite() && self.tdp_watts > 0.0) {
            p.push("tdp_watts must be positive".into());
        }
        for (name, v) in [
            ("bf16_tensor_tflops_dense", self.bf16_tensor_tflops_dense),
            ("fp8_tensor_tflops_dense", self.fp8_tensor_tflops_dense),
            ("int8_tensor_tops_dense", self.int8_tensor_tops_dense),
            ("nvlink_gb_s", self.nvlink_gb_s),
            ("launch_price_usd", self.launch_price_usd),
            ("street_price_usd", self.street_price_usd),
        ] {
            if let Some(v) = v {
                if !(v.is_finite() && v >= 0.0) {
                    p.push(format!("{name} must be a non-negative number, got {v}"));
                }
            }
        }
        let street = [
            self.street_price_usd.is_some(),
            self.street_price_kind.is_some(),
            self.street_price_date.is_some(),
            self.street_price_source.is_some(),
        ];
        if street.iter().any(|&b| b) && !street.iter().all(|&b| b) {
            p.push("street_price_usd, _kind, _date and _source must come together".into());
        }
        match self.kind {
            DeviceKind::Apple => {
                if self.memory_options_gb.is_empty() {
                    p.push("an Apple chip needs memory_options_gb".into());
                }
                match self.gpu_memory_share {
                    Some(s) if s > 0.0 && s <= 1.0 => {}
                    _ => p.push("an Apple chip needs gpu_memory_share in (0, 1]".into()),
                }
            }
            DeviceKind::Cpu => {
                if self.memory_options_gb.is_empty() {
                    p.push("a CPU host needs memory_options_gb".into());
                }
            }
            DeviceKind::Gpu => {
                if !self.memory_options_gb.is_empty() || self.gpu_memory_share.is_some() {
                    p.push(
                        "memory_options_gb and gpu_memory_share are for apple and cpu kinds only"
                            .into(),
                    );
                }
            }
        }
        if !self.memory_option_prices_usd.is_empty() {
            if self.memory_option_prices_usd.len() != self.memory_options_gb.len() {
                p.push("memory_option_prices_usd must have one price per memory option".into());
            }
            if self.memory_option_prices_source.is_none()
                || self.memory_option_prices_date.is_none()
            {
                p.push(
                    "memory_option_prices_usd needs memory_option_prices_source and _date".into(),
                );
            }
        }
        for (name, n) in [
            (
                "memory_option_bandwidth_gb_s",
                self.memory_option_bandwidth_gb_s.len(),
            ),
            (
                "memory_option_gpu_cores",
                self.memory_option_gpu_cores.len(),
            ),
        ] {
            if n > 0 && n != self.memory_options_gb.len() {
                p.push(format!("{name} must have one entry per memory option"));
            }
            if n > 0 && self.memory_option_specs_source.is_none() {
                p.push(format!("{name} needs memory_option_specs_source"));
            }
        }
        if self
            .memory_option_bandwidth_gb_s
            .iter()
            .any(|b| !(b.is_finite() && *b > 0.0))
        {
            p.push("memory_option_bandwidth_gb_s must be positive".into());
        }
        if let Some(&largest) = self.memory_options_gb.iter().max() {
            let expected = largest as u64 * (1 << 30);
            if self.memory_bytes != expected {
                p.push(format!(
                    "memory_bytes {} is not the largest memory option ({largest} GB = {expected} bytes)",
                    self.memory_bytes
                ));
            }
        }
        for c in &self.cloud {
            if !(c.usd_per_gpu_hour.is_finite() && c.usd_per_gpu_hour > 0.0) {
                p.push(format!("cloud price of {} must be positive", c.provider));
            }
        }
        if self.source.trim().is_empty() {
            p.push("source must name where the figures come from".into());
        }
        p
    }
}

/// What a network between nodes is made of (`kind` in hardware.toml).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkKind {
    /// RDMA over InfiniBand.
    Infiniband,
    /// RDMA over Converged Ethernet (RoCE).
    EthernetRdma,
    /// Plain Ethernet, kernel TCP.
    Ethernet,
}

/// A network between nodes (`[[network]]` in hardware.toml): what a pipeline hand-off or a
/// llama.cpp RPC hop crosses.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NetworkEntry {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub kind: NetworkKind,
    /// Link data rate per port, Gb/s.
    pub bandwidth_gbit_s: f64,
    /// One-way small-message latency of the transport used over it, microseconds.
    pub latency_us: f64,
    pub latency_source: String,
    pub source: String,
}

impl NetworkEntry {
    /// Bytes per second of the link in GB/s (10^9 B/s).
    pub fn bandwidth_gb_s(&self) -> f64 {
        self.bandwidth_gbit_s / 8.0
    }

    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !super::is_kebab_id(&self.id) {
            p.push(format!("id `{}` is not lower-case kebab-case", self.id));
        }
        // Far outside real links (1 Gb/s .. 3.2 Tb/s, 0.1 us .. 1 ms) is a typo or a unit slip.
        if !(self.bandwidth_gbit_s.is_finite() && (1.0..=3200.0).contains(&self.bandwidth_gbit_s)) {
            p.push(format!(
                "bandwidth_gbit_s must be 1..3200 Gb/s, got {}",
                self.bandwidth_gbit_s
            ));
        }
        if !(self.latency_us.is_finite() && (0.1..=1000.0).contains(&self.latency_us)) {
            p.push(format!(
                "latency_us must be 0.1..1000 us, got {}",
                self.latency_us
            ));
        }
        for (key, url) in [
            ("source", &self.source),
            ("latency_source", &self.latency_source),
        ] {
            if !url.starts_with("http") {
                p.push(format!("{key} must be a URL, got `{url}`"));
            }
        }
        p
    }
}
