//! `vramplan completions SHELL` and `vramplan man`: generated from the clap definitions, with the
//! catalogue's ids offered where a model or device id is expected.

use anyhow::Result;
use clap::builder::PossibleValuesParser;
use clap::CommandFactory;
use clap_complete::Shell as CompleteShell;

use crate::cli::{Cli, Global, Shell};

/// Arguments whose values are catalogue ids: model ids for these names, device ids for `gpu`
/// and `have`. File-taking commands (inspect, run, quantize...) keep file completion.
const MODEL_ARGS: &[&str] = &["model", "id"];
const DEVICE_ARGS: &[&str] = &["gpu", "have"];

fn with_catalogue_ids(global: &Global) -> clap::Command {
    let cmd = Cli::command();
    let Ok(catalog) = super::load_catalog(global) else {
        return cmd;
    };
    let models: Vec<String> = catalog.models().map(|m| m.id.clone()).collect();
    let devices: Vec<String> = catalog.devices().map(|d| d.id.clone()).collect();
    let mut show_ids = models.clone();
    show_ids.extend(devices.iter().cloned());
    let mut cmd = cmd;
    for sub in ["fit", "gpus", "quants", "cost", "show"] {
        cmd = cmd.mut_subcommand(sub, |mut sc| {
            let names: Vec<String> = sc.get_arguments().map(|a| a.get_id().to_string()).collect();
            for name in names {
                let ids = if sub == "show" && name == "id" {
                    &show_ids
                } else if MODEL_ARGS.contains(&name.as_str()) {
                    &models
                } else if DEVICE_ARGS.contains(&name.as_str()) {
                    &devices
                } else {
                    continue;
                };
                let ids = ids.clone();
                sc = sc.mut_arg(name.as_str(), move |a| {
                    a.value_parser(PossibleValuesParser::new(ids))
                });
            }
            sc
        });
    }
    cmd
}

pub fn completions(global: &Global, shell: Shell) -> Result<()> {
    let mut cmd = with_catalogue_ids(global);
    let shell = match shell {
        Shell::Bash => CompleteShell::Bash,
        Shell::Zsh => CompleteShell::Zsh,
        Shell::Fish => CompleteShell::Fish,
        Shell::Powershell => CompleteShell::PowerShell,
    };
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "vramplan", &mut buf);
    super::write_stdout(String::from_utf8_lossy(&buf).trim_end());
    Ok(())
}

pub fn man() -> Result<()> {
    let cmd = Cli::command();
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut buf)?;
    super::write_stdout(String::from_utf8_lossy(&buf).trim_end());
    Ok(())
}
