//! vramplan binary: parse, run, print the error chain, exit (0 ok, 1 failure, 2 bad input).

mod app;
mod cli;

use clap::Parser;

/// clap's usage errors span several lines (message, tip, usage); errors here are one line.
fn one_line_usage_error(rendered: &str) -> String {
    rendered
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn main() {
    app::signals::install_sigbus_guard();
    let mut cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            eprintln!("{}", one_line_usage_error(&e.to_string()));
            std::process::exit(2);
        }
    };
    app::set_render_context(&mut cli.global);
    match app::run(cli) {
        Ok(()) => {}
        Err(err) => {
            let code = app::exit_code(&err);
            let chain: Vec<String> = err.chain().map(|e| e.to_string()).collect();
            // Paths, names and OS messages may hold control characters: shown, not executed.
            let line = dedup_chain(&chain).join(": ");
            eprintln!("error: {}", vramplan::report::escape_line(&line));
            std::process::exit(code);
        }
    }
}

/// Drops chain links already spelled out by the link before (thiserror messages often embed
/// their source), keeping the message on one line.
fn dedup_chain(chain: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for link in chain {
        let one_line = link.replace('\n', " ");
        if out.last().is_some_and(|prev| prev.contains(&one_line)) {
            continue;
        }
        out.push(one_line);
    }
    out
}
