//! Hugging Face config.json and safetensors headers -> architecture and inventory.
