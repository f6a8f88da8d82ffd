//! Library error types shared across layers. Each module with its own failure modes defines a
//! thiserror enum beside its code; this file holds the cross-cutting ones.
