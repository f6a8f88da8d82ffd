//! vramplan binary: parse, run, print the error chain, exit (0 ok, 1 failure, 2 bad input).

mod app;
mod cli;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    match app::run(cli) {
        Ok(()) => {}
        Err(err) => {
            let code = app::exit_code(&err);
            let chain: Vec<String> = err.chain().map(|e| e.to_string()).collect();
            eprintln!("error: {}", dedup_chain(&chain).join(": "));
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
