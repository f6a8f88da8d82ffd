//! Dot products and matrix-vector products on quantized blocks, with runtime SIMD dispatch.
