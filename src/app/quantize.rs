//! `vramplan quantize IN.gguf OUT.gguf --type Q4_K_M`: byte for byte what llama-quantize writes,
//! multi-threaded, with a progress bar; Ctrl-C, SIGTERM or SIGHUP cancel cleanly (no output file,
//! no temporary, an existing one untouched) and exit 130. The destination is checked before any
//! work: never a device, directory or the input itself; an existing file only with `--force`.

use std::ops::ControlFlow;
use std::sync::atomic::Ordering;

use anyhow::Result;
use vramplan::ggml::FileType;
use vramplan::quantize::{quantize_file, QuantizeOptions};
use vramplan::report::{escape_line, table};
use vramplan::units::Bytes;

use super::model_input::check_file;
use crate::cli::{Global, QuantizeArgs};

pub fn run(global: &Global, args: QuantizeArgs) -> Result<()> {
    let ftype: FileType = args.ftype.parse()?;
    let input = args.input.as_path();
    check_file(input)?;
    let output = vramplan::files::check_output(&args.output, &[input], args.force)?;
    let output = output.as_path();
    super::args::check_threads(args.threads)?;
    let interrupted = super::signals::interrupted();
    let bar = if global.json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(0)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let opts = QuantizeOptions {
        threads: args.threads,
        allow_requantize: args.allow_requantize,
    };
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
        if interrupted.load(Ordering::SeqCst) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let result = quantize_file(input, output, ftype, &opts, &progress);
    bar.finish_and_clear();
    let report = result?;
    super::emit(global, &report, |report| {
        super::out(&format!(
            "{} -> {} as {}: {} -> {} in {:.1} s ({} threads; {} tensors converted, {} copied)",
            escape_line(&report.input.display().to_string()),
            escape_line(&report.output.display().to_string()),
            report.ftype,
            Bytes(report.input_bytes).display_gb(),
            Bytes(report.output_bytes).display_gb(),
            report.seconds,
            report.threads,
            report.n_converted,
            report.n_copied
        ));
        let mut t = table(&["type", "tensors", "bytes"]);
        for ty in &report.types {
            t.add_row(vec![
                ty.ty.to_string(),
                ty.tensors.to_string(),
                Bytes(ty.bytes).display_gb(),
            ]);
        }
        super::out_table(&t);
        Ok(())
    })
}
