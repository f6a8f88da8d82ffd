//! GGUF reader (strict, bounded, mmap) and writer (atomic).
