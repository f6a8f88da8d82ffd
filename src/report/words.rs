//! The estimator's structured results in words: placement notes as `fit` and `cost` print them
//! (and as the JSON `note` key carries them).

use crate::estimate::place::PlaceNote;
use crate::units::Bytes;

/// One note, worded.
pub fn place_note(n: &PlaceNote) -> String {
    let gb = |b: u64| Bytes(b).display_gb();
    match n {
        PlaceNote::NoDevice => "no device given: memory needed".into(),
        PlaceNote::ReferenceResident => "resident memory of `vramplan run` at this context".into(),
        PlaceNote::NeedsRam { bytes } => format!("needs {} of RAM", gb(*bytes)),
        PlaceNote::DeviceShort { id, bytes } => format!("{id} is short by {}", gb(*bytes)),
        PlaceNote::Offloaded {
            weights_bytes,
            layers,
            expert_layers,
        } => {
            let mut what = Vec::new();
            if *layers > 0 {
                what.push(format!("{layers} layers"));
            }
            if *expert_layers > 0 {
                what.push(format!("the MoE experts of {expert_layers} layers"));
            }
            format!(
                "{} of weights stay in host RAM ({}): slower decode",
                gb(*weights_bytes),
                what.join(" and ")
            )
        }
        PlaceNote::UnifiedMemoryExceeded => {
            "GPU share and CPU-side buffers together exceed unified memory".into()
        }
        PlaceNote::NoKvPool { bytes } => format!(
            "weights and activations leave no KV pool (short by {} per GPU)",
            gb(*bytes)
        ),
        PlaceNote::KvPoolShort { holds, sequences } => {
            format!("KV pool holds {holds} of the {sequences} sequences")
        }
        PlaceNote::HostRamShort {
            short_bytes,
            needs_bytes,
            ram_bytes,
        } => format!(
            "host RAM is short by {} (needs {}, has {})",
            gb(*short_bytes),
            gb(*needs_bytes),
            gb(*ram_bytes)
        ),
        PlaceNote::CannotRun(why) => why.clone(),
    }
}

/// A placement's notes in one line, most important first; `None` when it has none.
pub fn place_notes(notes: &[PlaceNote]) -> Option<String> {
    (!notes.is_empty()).then(|| notes.iter().map(place_note).collect::<Vec<_>>().join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_join_in_order() {
        let notes = [
            PlaceNote::DeviceShort {
                id: "rtx-4090".into(),
                bytes: 2_500_000_000,
            },
            PlaceNote::HostRamShort {
                short_bytes: 1_000_000_000,
                needs_bytes: 65_000_000_000,
                ram_bytes: 64_000_000_000,
            },
        ];
        assert_eq!(
            place_notes(&notes).unwrap(),
            "rtx-4090 is short by 2.50 GB; host RAM is short by 1.00 GB (needs 65.00 GB, has 64.00 GB)"
        );
        assert_eq!(place_notes(&[]), None);
        let offload = PlaceNote::Offloaded {
            weights_bytes: 9_000_000_000,
            layers: 0,
            expert_layers: 20,
        };
        assert_eq!(
            place_note(&offload),
            "9.00 GB of weights stay in host RAM (the MoE experts of 20 layers): slower decode"
        );
    }
}
