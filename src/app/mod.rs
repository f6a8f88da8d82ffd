//! One file per subcommand: arguments -> request -> library call -> report -> render.

mod args;
mod catalog_add;
mod completions;
mod cost;
mod detect;
mod fit;
mod gpus;
mod inspect;
mod list;
mod model_input;
mod models;
mod quantize;
mod quants;
mod request;
mod run;
mod show;
pub mod signals;
mod validate;

use anyhow::Result;
use vramplan::catalog::Catalog;

use crate::cli::{Cli, ColorChoice, Command, Global, OutputFormat};

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
    }) || err.chain().any(|e| {
        matches!(
            e.downcast_ref::<vramplan::measure::MeasureError>(),
            Some(vramplan::measure::MeasureError::Stopped)
        )
    }) {
        return 130;
    }
    let bad = err.chain().any(|e| {
        e.is::<BadInput>()
            || e.is::<vramplan::catalog::NotFound>()
            || e.is::<vramplan::catalog::CatalogError>()
            || e.is::<vramplan::ggml::UnknownFileType>()
            || e.is::<vramplan::files::FileError>()
            || e.downcast_ref::<vramplan::quantize::QuantizeError>()
                .is_some_and(|q| q.is_bad_input())
            || e.downcast_ref::<vramplan::engine::EngineError>()
                .is_some_and(engine_bad_input)
            || e.downcast_ref::<vramplan::gguf::GgufError>()
                .is_some_and(gguf_bad_input)
    });
    if bad {
        2
    } else {
        1
    }
}

/// A GGUF error is the file's fault unless writing failed.
fn gguf_bad_input(e: &vramplan::gguf::GgufError) -> bool {
    use vramplan::gguf::GgufError;
    match e {
        // Reading the user's file is input; creating, writing or renaming the output is the work.
        GgufError::Io { action, .. } => ["open", "stat", "map", "read"]
            .iter()
            .any(|a| action.contains(a)),
        GgufError::InvalidWrite(_) => false,
        _ => true,
    }
}

/// The engine fails on the model file (metadata, tensors, tokens) or on the machine (threads).
fn engine_bad_input(e: &vramplan::engine::EngineError) -> bool {
    use vramplan::engine::EngineError;
    match e {
        EngineError::Gguf(g) => gguf_bad_input(g),
        EngineError::Threads { .. } => false,
        _ => true,
    }
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::List(args) => list::run(&cli.global, args),
        Command::Show(args) => show::run(&cli.global, args),
        Command::Models(args) => models::run(&cli.global, args),
        Command::Catalog(crate::cli::CatalogCommand::Add(args)) => {
            catalog_add::run(&cli.global, args)
        }
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
        Command::Completions { shell } => completions::completions(&cli.global, shell),
        Command::Man => completions::man(),
    }
}

pub fn load_catalog(global: &Global) -> Result<Catalog> {
    let catalog = Catalog::load(global.catalog.as_deref())?;
    for w in catalog.warnings() {
        eprintln!("warning: {w}");
    }
    Ok(catalog)
}

/// One report value per command: with `--json` (or `--format json`) the value itself is printed;
/// otherwise `render` turns it into the text, Markdown or CSV of the process's format (tables
/// through `out_table`, prose through `out`). No command decides its format on its own.
pub fn emit<T: serde::Serialize>(
    global: &Global,
    report: &T,
    render: impl FnOnce(&T) -> Result<()>,
) -> Result<()> {
    if global.json {
        print_json(report)
    } else {
        render(report)
    }
}

/// Prints a serializable report as one pretty JSON object.
pub fn print_json<T: serde::Serialize>(report: &T) -> Result<()> {
    write_stdout(&serde_json::to_string_pretty(report)?);
    Ok(())
}

/// Decides how this process renders (format, table width, ASCII borders, colour) from the flags,
/// the environment and the terminal. `--format json` and `--json` are the same.
pub fn set_render_context(global: &mut Global) {
    use std::io::IsTerminal;
    use vramplan::report::{context::width_for, Format, RenderContext};
    if global.format == OutputFormat::Json {
        global.json = true;
    }
    let format = if global.json {
        Format::Json
    } else {
        match global.format {
            OutputFormat::Table | OutputFormat::Json => Format::Table,
            OutputFormat::Md => Format::Md,
            OutputFormat::Csv => Format::Csv,
        }
    };
    let is_terminal = std::io::stdout().is_terminal();
    // comfy-table asks the terminal for its size; None when there is no terminal.
    let terminal_width = comfy_table::Table::new().width().map(usize::from);
    let columns = std::env::var("COLUMNS").ok();
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let color = match global.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => is_terminal && !no_color && format == Format::Table,
    };
    vramplan::report::context::set_context(RenderContext {
        format,
        width: width_for(is_terminal, terminal_width, columns.as_deref()),
        ascii: !is_terminal,
        color,
    });
}

/// Prints a table in the process's format (text, Markdown or CSV); Markdown tables stand apart
/// from the paragraphs around them.
pub fn out_table(table: &vramplan::report::HouseTable) {
    match vramplan::report::context().format {
        vramplan::report::Format::Md => write_stdout(&format!("\n{table}\n")),
        _ => write_stdout(&table.to_string()),
    }
}

/// A line of prose for people: on stdout, except with `--format csv`, whose stdout holds only
/// CSV (prose goes to stderr there).
pub fn out(text: &str) {
    let ctx = vramplan::report::context();
    let text = match ctx.width {
        Some(width) if ctx.format == vramplan::report::Format::Table => {
            vramplan::report::table::wrap_prose(text, width)
        }
        _ => text.to_string(),
    };
    if ctx.format == vramplan::report::Format::Csv {
        eprintln!("{text}");
    } else {
        write_stdout(&text);
    }
}

/// A shell command for people to copy: wrapped at the terminal width with ` \` continuations,
/// so the wrapped form still runs.
pub fn out_command(prefix: &str, command: &str) {
    let ctx = vramplan::report::context();
    let text = match ctx.width {
        Some(width) if ctx.format == vramplan::report::Format::Table => {
            vramplan::report::table::wrap_command(prefix, command, width)
        }
        _ => format!("{prefix}{command}"),
    };
    if ctx.format == vramplan::report::Format::Csv {
        eprintln!("{text}");
    } else {
        write_stdout(&text);
    }
}

/// Writes a line to stdout. A closed pipe (`vramplan list models | head`) ends the process
/// quietly with success instead of panicking as `println!` would.
pub fn write_stdout(text: &str) {
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
