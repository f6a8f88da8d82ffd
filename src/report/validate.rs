//! `validate`'s report as Markdown, CSV, SVG plots and one self-contained HTML page.

use std::fmt::Write;

use super::sig;
use crate::measure::validation::{Level, ValidateReport};

fn level_name(l: &Level) -> String {
    l.file_type
        .map_or("source".into(), |t| t.name().to_string())
}

/// Escapes text for HTML and SVG (file names and model names come from files).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn summary_line(r: &ValidateReport) -> String {
    format!(
        "{} (source {}{}), base {}, {} chunk(s) of {} tokens ({} scored) of {}, {} thread(s) on {}",
        r.model,
        r.source_file_type.map_or("?", |t| t.name()),
        if r.requantized {
            ", levels requantized"
        } else {
            ""
        },
        r.base,
        r.chunks,
        r.ctx,
        r.scored_tokens,
        r.text,
        r.threads,
        r.cpu
    )
}

fn opt(x: Option<f64>, digits: usize) -> String {
    x.map_or(String::new(), |v| sig(v, digits))
}

/// CSV, one row per level; empty cells where a figure does not apply.
pub fn csv(r: &ValidateReport) -> String {
    let mut out = String::from(
        "type,file_bytes,bits_per_weight,kld_mean,kld_mean_error,kld_median,kld_p90,kld_p95,kld_p99,kld_p999,same_top_p,same_top_p_error,ppl,ppl_base,ln_ppl_ratio,ln_ppl_ratio_error,rms_dp,published_kld,prefill_tok_s,decode_tok_s,predicted_decode_low,predicted_decode_expected,predicted_decode_high\n",
    );
    for l in &r.levels {
        let q = l.quality;
        let f = |g: fn(&crate::measure::kld::KldStats) -> f64| {
            q.as_ref().map_or(String::new(), |q| format!("{}", g(q)))
        };
        let p = l.predicted_decode_tok_s;
        let _ = writeln!(
            out,
            "{},{},{:.4},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.2},{:.2},{},{},{}",
            level_name(l),
            l.file_bytes,
            l.bits_per_weight,
            f(|q| q.kld_mean),
            f(|q| q.kld_mean_error),
            f(|q| q.kld_median),
            f(|q| q.kld_p90),
            f(|q| q.kld_p95),
            f(|q| q.kld_p99),
            f(|q| q.kld_p999),
            f(|q| q.top1_agreement),
            f(|q| q.top1_agreement_error),
            f(|q| q.ppl_candidate),
            f(|q| q.ppl_reference),
            f(|q| q.ln_ppl_ratio),
            f(|q| q.ln_ppl_ratio_error),
            f(|q| q.rms_dp),
            l.published.map_or(String::new(), |p| format!("{}", p.kld)),
            l.prefill_tok_s,
            l.decode_tok_s,
            opt(p.map(|p| p.low), 4),
            opt(p.map(|p| p.expected), 4),
            opt(p.map(|p| p.high), 4),
        );
    }
    out
}

/// A Markdown table with the run's summary above it.
pub fn markdown(r: &ValidateReport) -> String {
    let mut out = format!(
        "# vramplan validate: {}\n\n{}\n\n",
        r.model,
        summary_line(r)
    );
    out.push_str("| type | bpw | mean KLD | median | p99 | same top p | PPL | ln(PPL/PPL base) | RMS Δp | published KLD (Llama-3-8B) | prefill tok/s | decode tok/s | predicted decode tok/s |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for l in &r.levels {
        let q = l.quality;
        let dash = || "-".to_string();
        let _ = writeln!(
            out,
            "| {} | {:.2} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {:.1} | {} |",
            level_name(l),
            l.bits_per_weight,
            q.map_or_else(dash, |q| format!(
                "{} ± {}",
                sig(q.kld_mean, 3),
                sig(q.kld_mean_error, 1)
            )),
            q.map_or_else(dash, |q| sig(q.kld_median, 2)),
            q.map_or_else(dash, |q| sig(q.kld_p99, 2)),
            q.map_or_else(dash, |q| format!(
                "{:.1} ± {:.1}%",
                100.0 * q.top1_agreement,
                100.0 * q.top1_agreement_error
            )),
            q.map_or_else(dash, |q| format!("{:.3}", q.ppl_candidate)),
            q.map_or_else(dash, |q| format!(
                "{:.4} ± {:.4}",
                q.ln_ppl_ratio, q.ln_ppl_ratio_error
            )),
            q.map_or_else(dash, |q| format!("{:.2}%", 100.0 * q.rms_dp)),
            l.published.map_or_else(dash, |p| sig(p.kld, 2)),
            l.prefill_tok_s,
            l.decode_tok_s,
            l.predicted_decode_tok_s.map_or_else(dash, |p| format!(
                "{}-{} (expected {})",
                sig(p.low, 2),
                sig(p.high, 2),
                sig(p.expected, 2)
            )),
        );
    }
    if let Some(q) = r.levels.iter().find_map(|l| l.quality) {
        let _ = writeln!(
            out,
            "\nPPL(base): {:.3} ± {:.3}. ± is one standard error (llama-perplexity's).",
            q.ppl_reference, q.ppl_reference_error
        );
    }
    let _ = writeln!(
        out,
        "\nPublished KLD: {}; Llama-3-8B on wikitext-2, a different model and text, for scale.",
        r.published_source
    );
    out
}

/// Plot frame: maps data to a `w` x `h` drawing area inside margins.
struct Frame {
    w: f64,
    h: f64,
    left: f64,
    top: f64,
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
    log_y: bool,
}

impl Frame {
    fn x(&self, v: f64) -> f64 {
        self.left + (v - self.x0) / (self.x1 - self.x0) * self.w
    }
    fn y(&self, v: f64) -> f64 {
        let (v, a, b) = if self.log_y {
            (v.max(1e-12).log10(), self.y0.log10(), self.y1.log10())
        } else {
            (v, self.y0, self.y1)
        };
        self.top + self.h - (v - a) / (b - a) * self.h
    }
}

const W: f64 = 720.0;
const H: f64 = 440.0;

fn svg_open(title: &str, id: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"{id}\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"{W}\" height=\"{H}\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
        W / 2.0,
        escape(title)
    )
}

fn axes(out: &mut String, f: &Frame, xlabel: &str, ylabel: &str, xticks: &[f64], yticks: &[f64]) {
    let (l, t, r, b) = (f.left, f.top, f.left + f.w, f.top + f.h);
    let _ = writeln!(
        out,
        "<rect x=\"{l}\" y=\"{t}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>",
        f.w, f.h
    );
    for &x in xticks {
        let px = f.x(x);
        let _ = writeln!(
            out,
            "<line x1=\"{px:.1}\" y1=\"{t}\" x2=\"{px:.1}\" y2=\"{b}\" stroke=\"#ddd\"/><text x=\"{px:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            b + 16.0,
            sig(x, 2)
        );
    }
    for &y in yticks {
        let py = f.y(y);
        let _ = writeln!(
            out,
            "<line x1=\"{l}\" y1=\"{py:.1}\" x2=\"{r}\" y2=\"{py:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            l - 6.0,
            py + 4.0,
            sig(y, 2)
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
        l + f.w / 2.0,
        b + 36.0,
        escape(xlabel)
    );
    let _ = writeln!(
        out,
        "<text transform=\"translate(16,{}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        t + f.h / 2.0,
        escape(ylabel)
    );
}

/// Mean KLD (log scale) against bits per weight: this model's levels labelled, with ± error
/// bars, and the published Llama-3-8B curve beside them.
pub fn kld_plot(r: &ValidateReport) -> String {
    let ours: Vec<(String, f64, f64, f64)> = r
        .levels
        .iter()
        .filter_map(|l| {
            let q = l.quality?;
            Some((
                level_name(l),
                l.bits_per_weight,
                q.kld_mean,
                q.kld_mean_error,
            ))
        })
        .collect();
    let theirs: Vec<(String, f64, f64)> = r
        .published_curve
        .iter()
        .map(|p| (p.file_type.name().to_string(), p.bits_per_weight, p.kld))
        .collect();
    let xs = ours.iter().map(|p| p.1).chain(theirs.iter().map(|p| p.1));
    let ys = ours
        .iter()
        .map(|p| p.2)
        .chain(theirs.iter().map(|p| p.2))
        .filter(|&y| y > 0.0);
    let (xmin, xmax) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let (ymin, ymax) = ys.fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
    let (xmin, xmax) = if xmin <= xmax {
        ((xmin - 0.3).floor(), (xmax + 0.3).ceil())
    } else {
        (2.0, 9.0)
    };
    let (ymin, ymax) = if ymin <= ymax {
        (
            10f64.powf(ymin.log10().floor()),
            10f64.powf(ymax.log10().ceil()),
        )
    } else {
        (1e-3, 1.0)
    };
    let f = Frame {
        w: W - 90.0 - 20.0,
        h: H - 50.0 - 60.0,
        left: 90.0,
        top: 50.0,
        x0: xmin,
        x1: xmax,
        y0: ymin,
        y1: ymax.max(ymin * 10.0),
        log_y: true,
    };
    let mut out = svg_open(
        &format!("Mean KLD vs bits per weight: {}", r.model),
        "kld-plot",
    );
    let xticks: Vec<f64> = (xmin as i64..=xmax as i64).map(|x| x as f64).collect();
    let mut yticks = Vec::new();
    let mut y = f.y0;
    while y <= f.y1 * 1.0001 {
        yticks.push(y);
        y *= 10.0;
    }
    axes(
        &mut out,
        &f,
        "bits per weight",
        "mean KL divergence (nats, log scale)",
        &xticks,
        &yticks,
    );
    let line = |pts: &[(f64, f64)]| -> String {
        pts.iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", f.x(x), f.y(y)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut sorted = theirs.clone();
    sorted.sort_by(|a, b| a.1.total_cmp(&b.1));
    let pts: Vec<(f64, f64)> = sorted.iter().map(|p| (p.1, p.2)).collect();
    let _ = writeln!(
        out,
        "<polyline class=\"published\" points=\"{}\" fill=\"none\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>",
        line(&pts)
    );
    for (name, x, y) in &sorted {
        let _ = write!(
            out,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#999\"><title>Llama-3-8B {}</title></circle>",
            f.x(*x),
            f.y(*y),
            escape(name)
        );
        // Labels only beside the levels measured here, so the published ladder stays legible.
        if ours.iter().any(|o| &o.0 == name) {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#777\" font-size=\"10\">{}</text>",
                f.x(*x) + 4.0,
                f.y(*y) + 12.0,
                escape(name)
            );
        }
        out.push('\n');
    }
    let mut ours_sorted = ours.clone();
    ours_sorted.sort_by(|a, b| a.1.total_cmp(&b.1));
    let pts: Vec<(f64, f64)> = ours_sorted.iter().map(|p| (p.1, p.2)).collect();
    let _ = writeln!(
        out,
        "<polyline class=\"measured\" points=\"{}\" fill=\"none\" stroke=\"#1f77b4\"/>",
        line(&pts)
    );
    for (name, x, y, e) in &ours_sorted {
        let (px, py) = (f.x(*x), f.y(*y));
        let (lo, hi) = (f.y((y - e).max(f.y0)), f.y(y + e));
        let _ = writeln!(
            out,
            "<line x1=\"{px:.1}\" y1=\"{lo:.1}\" x2=\"{px:.1}\" y2=\"{hi:.1}\" stroke=\"#1f77b4\"/><circle class=\"level\" cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"4\" fill=\"#1f77b4\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#1f77b4\">{}</text>",
            px + 6.0,
            py - 6.0,
            escape(name)
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" fill=\"#1f77b4\">● {} (measured here, ± 1 s.e.)</text><text x=\"{}\" y=\"{}\" fill=\"#777\">● Llama-3-8B, published (llama.cpp)</text>",
        f.left + f.w - 330.0,
        f.top + 18.0,
        escape(&r.model),
        f.left + f.w - 330.0,
        f.top + 34.0
    );
    out.push_str("</svg>\n");
    out
}

/// Measured decode tok/s per level beside the estimator's predicted range.
pub fn speed_plot(r: &ValidateReport) -> String {
    let n = r.levels.len().max(1);
    let ymax = r
        .levels
        .iter()
        .flat_map(|l| {
            [
                l.decode_tok_s,
                l.predicted_decode_tok_s.map_or(0.0, |p| p.high),
            ]
        })
        .fold(1.0f64, f64::max);
    let step = 10f64.powf((ymax / 5.0).log10().floor());
    let top = (ymax / step).ceil() * step;
    let f = Frame {
        w: W - 90.0 - 20.0,
        h: H - 50.0 - 60.0,
        left: 90.0,
        top: 50.0,
        x0: 0.0,
        x1: n as f64,
        y0: 0.0,
        y1: top,
        log_y: false,
    };
    let mut out = svg_open(
        &format!("Decode speed, measured vs predicted: {}", r.model),
        "speed-plot",
    );
    let mut yticks = Vec::new();
    let mut y = 0.0;
    while y <= top * 1.0001 {
        yticks.push(y);
        y += step * ((top / step / 6.0).ceil()).max(1.0);
    }
    axes(&mut out, &f, "level", "decode tokens/s", &[], &yticks);
    for (i, l) in r.levels.iter().enumerate() {
        let cx = f.x(i as f64 + 0.5);
        let bw = f.w / n as f64 * 0.35;
        let y0 = f.y(0.0);
        let ym = f.y(l.decode_tok_s);
        let _ = writeln!(
            out,
            "<rect class=\"measured\" x=\"{:.1}\" y=\"{ym:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"#1f77b4\"><title>{} measured {:.1} tok/s</title></rect>",
            cx - bw,
            y0 - ym,
            escape(&level_name(l)),
            l.decode_tok_s
        );
        if let Some(p) = l.predicted_decode_tok_s {
            let (yl, ye, yh) = (f.y(p.low), f.y(p.expected), f.y(p.high));
            let _ = writeln!(
                out,
                "<rect class=\"predicted\" x=\"{:.1}\" y=\"{yh:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"#ff7f0e\" fill-opacity=\"0.35\" stroke=\"#ff7f0e\"/><line x1=\"{:.1}\" y1=\"{ye:.1}\" x2=\"{:.1}\" y2=\"{ye:.1}\" stroke=\"#ff7f0e\" stroke-width=\"2\"/>",
                cx,
                yl - yh,
                cx,
                cx + bw
            );
        }
        let _ = writeln!(
            out,
            "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            y0 + 16.0,
            escape(&level_name(l))
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" fill=\"#1f77b4\">■ measured (median of runs)</text><text x=\"{}\" y=\"{}\" fill=\"#ff7f0e\">■ predicted low-high, line = expected{}</text>",
        f.left + 10.0,
        f.top + 18.0,
        f.left + 10.0,
        f.top + 34.0,
        if r.memory_read_gb_s.is_none() {
            " (none: bandwidth not measured)"
        } else {
            ""
        }
    );
    out.push_str("</svg>\n");
    out
}

/// One self-contained page: summary, both plots inline, the table.
pub fn html(r: &ValidateReport) -> String {
    let mut rows = String::new();
    for l in &r.levels {
        let q = l.quality;
        let cell = |s: String| format!("<td>{}</td>", escape(&s));
        let _ = writeln!(
            rows,
            "<tr>{}{}{}{}{}{}{}{}</tr>",
            cell(level_name(l)),
            cell(format!("{:.2}", l.bits_per_weight)),
            cell(q.map_or("-".into(), |q| format!(
                "{} ± {}",
                sig(q.kld_mean, 3),
                sig(q.kld_mean_error, 1)
            ))),
            cell(q.map_or("-".into(), |q| sig(q.kld_p99, 2))),
            cell(q.map_or("-".into(), |q| format!("{:.1}%", 100.0 * q.top1_agreement))),
            cell(q.map_or("-".into(), |q| format!("{:.3}", q.ppl_candidate))),
            cell(format!("{:.1}", l.decode_tok_s)),
            cell(l.predicted_decode_tok_s.map_or("-".into(), |p| format!(
                "{}-{}",
                sig(p.low, 2),
                sig(p.high, 2)
            ))),
        );
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>vramplan validate: {title}</title>\n\
         <style>body{{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:first-child{{text-align:left}}</style></head>\n\
         <body><h1>vramplan validate: {title}</h1>\n<p id=\"summary\">{summary}</p>\n\
         <figure>{kld}</figure>\n<figure>{speed}</figure>\n\
         <table id=\"levels\"><tr><th>type</th><th>bpw</th><th>mean KLD</th><th>KLD p99</th><th>same top p</th><th>PPL</th><th>decode tok/s</th><th>predicted</th></tr>\n{rows}</table>\n\
         <p>Protocol of llama-perplexity --kl-divergence; ± one standard error. Published KLD: {src}.</p>\n</body></html>\n",
        title = escape(&r.model),
        summary = escape(&summary_line(r)),
        kld = kld_plot(r),
        speed = speed_plot(r),
        rows = rows,
        src = escape(r.published_source),
    )
}
