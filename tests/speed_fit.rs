//! Re-fits the speed model to the published measurements and checks it on the rows held out
//! of the fit (every fifth row): the bars for decode speed.

use vramplan::catalog::Catalog;
use vramplan::estimate::calibration::{self, Fit};

fn rows() -> Vec<calibration::Row> {
    let catalog = Catalog::embedded().unwrap();
    let ms =
        calibration::parse(calibration::EMBEDDED_MEASUREMENTS).expect("measurements.csv parses");
    assert!(ms.len() >= 80, "only {} measurements", ms.len());
    let rows = calibration::rows(&catalog, &ms);
    assert!(
        rows.len() * 10 >= ms.len() * 9,
        "{} of {} rows resolved to catalogue devices",
        rows.len(),
        ms.len()
    );
    rows
}

#[test]
fn every_measurement_has_a_source_and_a_known_device() {
    let catalog = Catalog::embedded().unwrap();
    for m in calibration::parse(calibration::EMBEDDED_MEASUREMENTS).unwrap() {
        assert!(m.source.starts_with("http"), "{m:?}");
        assert!(
            catalog.device(&m.device).is_ok(),
            "unknown device {}",
            m.device
        );
        assert!(m.tokens_per_s > 0.0);
    }
}

#[test]
fn held_out_decode_rows_meet_the_bars() {
    let rows = rows();
    let fit = calibration::fit(&rows);
    let v = calibration::validate(&rows, &fit, true);
    eprintln!(
        "held-out decode rows: {} | within ±25%: {:.1}% | inside low..high: {:.1}%",
        v.held_out_rows,
        v.within_25_percent * 100.0,
        v.inside_range * 100.0
    );
    assert!(v.held_out_rows >= 15);
    assert!(v.within_25_percent >= 0.80, "{v:?}");
    assert!(v.inside_range >= 0.90, "{v:?}");
}

#[test]
fn the_embedded_fit_is_the_refit() {
    let catalog = Catalog::embedded().unwrap();
    let a = Fit::embedded(&catalog);
    let b = calibration::fit(&rows());
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
}
