//! Architecture -> inventory (dense, MoE, MLA, sliding window); parameter counts.

mod build;
pub mod inventory;
pub mod recipe;
pub mod role;
mod shape;
pub mod table;

pub use build::{
    inventory, inventory_with_imatrix, param_counts, recipe_context, source_inventory,
};
pub use inventory::{layer_of, Inventory, TensorSpec};
pub use recipe::RecipeContext;
pub use role::TensorRole;
pub use shape::{ModelShape, MoeShape};
pub use table::{Arch, ArchInfo};
