//! Architecture -> tensor inventory (dense, MoE, MLA, sliding window); parameter counts.

pub mod inventory;

pub use inventory::{layer_of, Inventory, TensorSpec};
