//! API price entries of the catalogue (`[[api]]` in models.toml).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApiEntry {
    pub id: String,
    pub provider: String,
    pub name: String,
    /// Catalogue model this API serves, when it is an open model.
    #[serde(default)]
    pub model: Option<String>,
    /// "USD" or "EUR".
    pub currency: String,
    pub input_per_million: f64,
    pub output_per_million: f64,
    /// Date the price applied (YYYY-MM-DD).
    pub date: String,
    pub source: String,
}

impl ApiEntry {
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !super::is_kebab_id(&self.id) {
            p.push(format!("id `{}` is not lower-case kebab-case", self.id));
        }
        if !matches!(self.currency.as_str(), "USD" | "EUR") {
            p.push(format!("currency `{}` must be USD or EUR", self.currency));
        }
        for (name, v) in [
            ("input_per_million", self.input_per_million),
            ("output_per_million", self.output_per_million),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                p.push(format!("{name} must be a non-negative number, got {v}"));
            }
        }
        if self.source.trim().is_empty() {
            p.push("source must name where the price comes from".into());
        }
        p
    }
}
