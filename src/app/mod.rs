//! One file per subcommand: arguments -> request -> library call -> report -> render.

mod args;
mod cost;
mod detect;
mod fit;
mod gpus;
mod inspect;
mod list;
mod model_input;
mod quantize;
mod quants;
mod run;
mod show;
mod validate;

use anyhow::Result;
use vramplan::catalog::Catalog;

use crate::cli::{Cli, Command, Global};

/// Marks an error as bad input (exit code 2) rather than a failure of the work (1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

pub fn bad_input(msg: impl Into<String>) -> anyhow::Error {
    BadInput(msg.into()).into()
}

/// Exit code for an error: 2 when any link of the chain is bad input, 130 for an interrupt,
/// else 1.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.chain().any(|e| {
        matches!(
            e.downcast_ref::<vramplan::quantize::QuantizeError>(),
            Some(vramplan::quantize::QuantizeError::Cancelled { .. })
        )
    }) {
        return 130;
    }
    let bad = err.chain().any(|e| {
        e.is::<BadInput>()
            || e.is::<vramplan::catalog::NotFound>()
            || e.is::<vramplan::catalog::CatalogError>()
            || e.is::<vramplan::ggml::recipe::UnknownFileType>()
            || e.downcast_ref::<vramplan::quantize::QuantizeError>()
                .is_some_and(|q| q.is_bad_input())
    });
    if bad {
        2
    } else {
        1
    }
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::List(args) => list::run(&cli.global, args),
        Command::Show(args) => show::run(&cli.global, args),
        Command::Fit(args) => fit::run(&cli.global, args),
        Command::Gpus(args) => gpus::run(&cli.global, args),
        Command::Quants(args) => quants::run(&cli.global, args),
        Command::Inspect(args) => inspect::run(&cli.global, args),
        Command::Cost(args) => cost::run(&cli.global, args),
        Command::Detect(args) => detect::run(&cli.global, args),
        Command::Quantize(args) => quantize::run(&cli.global, args),
        Command::Run(args) => run::run(&cli.global, args),
        Command::Tokenize(args) => run::tokenize(&cli.global, args),
        Command::Validate(args) => validate::run(&cli.global, args),
    }
}

pub fn load_catalog(global: &Global) -> Result<Catalog> {
    Ok(Catalog::load(global.catalog.as_deref())?)
}

/// Prints a serializable report as one pretty JSON object.
pub fn print_json<T: serde::Serialize>(report: &T) -> Result<()> {
    out(&serde_json::to_string_pretty(report)?);
    Ok(())
}

/// Writes a line to stdout. A closed pipe (`vramplan list models | head`) ends the process
/// quietly with success instead of panicking as `println!` would.
pub fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{text}").and_then(|_| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}
