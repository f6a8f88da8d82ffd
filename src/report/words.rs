//! The estimator's structured results in words: placement notes as `fit` and `cost` print them
//! (and as the JSON `note` key carries them), and the terms of a speed estimate's basis (`fit
//! --explain`, JSON `speed_basis`).

use crate::estimate::place::PlaceNote;
use crate::estimate::speed::{BasisTerm, NCCL_P2P_OVERHEAD_S, RPC_OVERHEAD_S};
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

/// A speed estimate's basis, one line per term.
pub fn speed_basis(terms: &[BasisTerm]) -> Vec<String> {
    terms.iter().map(basis_term).collect()
}

/// One term of a speed basis, worded.
pub fn basis_term(t: &BasisTerm) -> String {
    match t {
        BasisTerm::DeviceRead {
            device,
            weight_bytes,
            kv_bytes,
            ctx,
            bandwidth_gb_s,
            efficiency: e,
            fixed_s,
            token_s,
            layers,
            layer_s,
        } => format!(
            "{device}: {:.2} GB per token ({:.2} GB weights + {:.2} GB KV at {ctx} tokens) / {bandwidth_gb_s} GB/s x efficiency {:.2} ({:.2}-{:.2}) + {:.3} ms fixed ({:.0} us per token + {layers:.1} layers x {:.1} us)",
            (weight_bytes + kv_bytes) / 1e9,
            weight_bytes / 1e9,
            kv_bytes / 1e9,
            e.expected,
            e.low,
            e.high,
            fixed_s * 1e3,
            token_s * 1e6,
            layer_s * 1e6
        ),
        BasisTerm::Hops {
            network: n,
            tensor_parallel,
            pipeline_parallel,
        } => {
            let net = format!(
                "over {} ({}: {:.2} GB/s, {:.1} us)",
                n.network.id, n.source, n.network.bandwidth_gb_s, n.network.latency_us
            );
            let t = n.hops as f64 * n.hop_s * 1e3;
            if *tensor_parallel > 1 {
                format!(
                    "pipeline parallel {pipeline_parallel}: stages in sequence, + {t:.2} ms per token for {} hops between nodes {net}; {:.0} us each with NCCL's {:.0} us",
                    n.hops,
                    n.hop_s * 1e6,
                    NCCL_P2P_OVERHEAD_S * 1e6
                )
            } else {
                format!(
                    "llama.cpp RPC over {} hosts: + {t:.2} ms per token for {} network hops {net}; {:.0} us each: a round trip + {:.0} us of RPC per remote graph, assumed",
                    n.hops + 1,
                    n.hops,
                    n.hop_s * 1e6,
                    RPC_OVERHEAD_S * 1e6
                )
            }
        }
        BasisTerm::AllReduce {
            tensor_parallel,
            seconds,
            n_layer,
            link_gb_s,
            latency_s,
        } => format!(
            "tensor parallel {tensor_parallel}: + {:.2} ms per token of all-reduce ({n_layer} layers x 2 over {link_gb_s:.0} GB/s, {:.0} us latency)",
            seconds * 1e3,
            latency_s * 1e6
        ),
        BasisTerm::HostRam {
            bytes,
            bandwidth_gb_s,
            efficiency,
        } => format!(
            "host RAM: {:.2} GB per token of CPU-resident weights / {bandwidth_gb_s} GB/s x efficiency {efficiency:.2}",
            bytes / 1e9
        ),
        BasisTerm::EmptyContext {
            tokens,
            decode_tok_s,
        } => format!(
            "at an empty context ({tokens} tokens, the mean of llama-bench tg128): {decode_tok_s:.1} tok/s expected"
        ),
        BasisTerm::Prefill {
            flops_per_token,
            active_params,
        } => format!(
            "prefill: {:.1} GFLOP per token (2 x {:.2}B active params + attention) over dense FP16 tensor throughput x fitted efficiency",
            flops_per_token / 1e9,
            *active_params as f64 / 1e9
        ),
    }
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
