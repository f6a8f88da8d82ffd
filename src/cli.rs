//! Command-line types (clap). No domain logic here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "vramplan",
    version,
    about = "Which GPUs run this LLM, at which quantization and context, how fast, at what cost."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Directory of extra catalogue files (*.toml) that add or override entries by id.
    #[arg(long, global = true, value_name = "DIR")]
    pub catalog: Option<PathBuf>,
    /// Print one JSON report object instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List catalogue entries: models, hardware or API prices.
    List(ListArgs),
    /// Every field of one model, device or API price, plus derived figures.
    Show(ShowArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ListWhat {
    Models,
    Hardware,
    Apis,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// What to list.
    pub what: ListWhat,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A model, device or API id (or a name as people write it: "Mixtral 8x7B", "RTX 4090").
    pub id: String,
}
