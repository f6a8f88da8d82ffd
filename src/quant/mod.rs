//! Per-type codecs: quantize (llama.cpp reference algorithms) and dequantize.
