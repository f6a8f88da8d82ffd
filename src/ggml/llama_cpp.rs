//! llama.cpp's constants that the estimator and the reference engine both follow, stated once.

/// KV cache cells are padded to a multiple of 256 (`n_ctx`, `n_ctx_seq` per stream and the
/// sliding-window cache; `llama-context.cpp`, `llama-kv-cache-iswa.cpp`).
pub const LLAMA_KV_PAD: u64 = 256;

/// `GGML_PAD`: `x` rounded up to a multiple of `to` (`to` > 0), saturating.
pub fn pad(x: u64, to: u64) -> u64 {
    x.div_ceil(to).saturating_mul(to)
}

#[cfg(test)]
mod tests {
    #[test]
    fn pads_up() {
        assert_eq!(super::pad(1, 256), 256);
        assert_eq!(super::pad(256, 256), 256);
        assert_eq!(super::pad(257, 256), 512);
    }
}
