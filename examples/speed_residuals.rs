//! Prints the speed fit's held-out rows with their predicted/measured ratio (diagnostics).
use vramplan::catalog::Catalog;
use vramplan::estimate::calibration;
use vramplan::estimate::Engine;

fn main() {
    let catalog = Catalog::embedded().unwrap();
    let ms = calibration::parse(calibration::EMBEDDED_MEASUREMENTS).unwrap();
    let rows = calibration::rows(&catalog, &ms);
    let fit = calibration::calibrate(&rows);
    for r in rows.iter().filter(|r| r.m.is_decode()) {
        let Some(engine) = Engine::from_name(&r.m.engine) else {
            continue;
        };
        let e = fit.efficiency(engine, r.class).decode;
        println!(
            "{} {:>5.2} eff {:.2} {:<14} x{} {:<6} {:<12} {:<7} {:>7.1}",
            if r.held_out { "H" } else { " " },
            e.expected / r.efficiency,
            r.efficiency,
            r.m.device,
            r.m.n_devices,
            r.m.split,
            r.m.model,
            r.m.quant,
            r.m.tokens_per_s
        );
    }
}
