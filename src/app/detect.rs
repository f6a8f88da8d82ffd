//! `vramplan detect`: this machine's hardware, matched to the catalogue. Never fails on missing
//! drivers: those become warnings.

use anyhow::Result;
use vramplan::hw::host_cache;
use vramplan::report::{kv_table, sig, table};
use vramplan::units::Bytes;

use crate::cli::{DetectArgs, Global};

pub fn run(global: &Global, args: DetectArgs) -> Result<()> {
    let catalog = super::load_catalog(global)?;
    let mut d = vramplan::hw::detect(&catalog);
    super::args::check_threads(args.threads)?;
    if args.measure {
        let (m, stored) = host_cache::measure_and_store(&d.cpu_brand, args.threads, 5);
        if let Err(e) = stored {
            d.warnings
                .push(format!("cannot cache the measurement: {e}"));
        }
        d.measured = Some(m);
    }
    super::emit(global, &d, |d| {
        let rows = vec![
            ("CPU".into(), format!("{} ({})", d.cpu_brand, d.cpu_arch)),
            (
                "cores".into(),
                format!(
                    "{} physical, {} logical",
                    d.physical_cores.map_or("?".into(), |c| c.to_string()),
                    d.logical_cores
                ),
            ),
            (
                "RAM".into(),
                format!(
                    "{} total, {} available",
                    Bytes(d.ram_bytes).display_both(),
                    Bytes(d.ram_available_bytes).display_gb()
                ),
            ),
            (
                "SIMD".into(),
                if d.simd.is_empty() {
                    "none detected (scalar kernels)".into()
                } else {
                    d.simd.join(", ")
                },
            ),
            (
                "Apple chip".into(),
                d.apple_chip.clone().unwrap_or_else(|| "-".into()),
            ),
            (
                "NVIDIA driver".into(),
                d.driver_version.clone().unwrap_or_else(|| "-".into()),
            ),
            (
                "compute".into(),
                d.cpu_peak.as_ref().map_or_else(
                    || "clock unknown: prefill planned with an assumed desktop's".into(),
                    |p| format!("{} (what prefill is planned against)", p.describe()),
                ),
            ),
            (
                "memory read".into(),
                match &d.measured {
                    Some(m) => format!(
                        "{} GB/s, measured {} with {} thread(s){}",
                        sig(m.memory_read_gb_s, 3),
                        m.date,
                        m.threads,
                        m.decode_efficiency.map_or(String::new(), |e| format!(
                            "; decode efficiency {} (validate of {})",
                            sig(e, 2),
                            m.decode_efficiency_model.as_deref().unwrap_or("?")
                        ))
                    ),
                    None => "not measured (vramplan detect --measure)".into(),
                },
            ),
        ];
        super::out_table(&kv_table(&rows));
        if !d.gpus.is_empty() {
            let mut t = table(&[
                "#",
                "GPU",
                "memory",
                "free",
                "PCIe",
                "power limit",
                "catalogue id",
            ]);
            for g in &d.gpus {
                t.add_row(vec![
                    g.index.to_string(),
                    g.name.clone(),
                    Bytes(g.memory_bytes).display_both(),
                    Bytes(g.memory_free_bytes).display_gb(),
                    match (g.pcie_gen, g.pcie_width) {
                        (Some(gen), Some(w)) => format!("gen {gen} x{w}"),
                        _ => "-".into(),
                    },
                    g.power_limit_watts
                        .map_or("-".into(), |w| format!("{w:.0} W")),
                    g.catalog_id
                        .clone()
                        .unwrap_or_else(|| "not in catalogue".into()),
                ]);
            }
            super::out_table(&t);
        }
        for w in &d.warnings {
            eprintln!("warning: {w}");
        }
        Ok(())
    })
}
