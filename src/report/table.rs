//! The house table: one definition of columns and cells, rendered as a width-fitted text table,
//! Markdown or CSV according to the output context (`report::context`).
//!
//! Text tables never break an id or a number: a column is never narrower than its longest
//! space-free token, cells wrap only at spaces, and when even that is too wide for the terminal the
//! columns marked optional are dropped (highest drop rank first) and named in a note below.

use std::fmt;

use unicode_width::UnicodeWidthStr;

use super::context::{context, Format, RenderContext};
use super::style::{paint, Tone};

/// One column: its title for people, its CSV name (raw units), and whether it may be dropped
/// when the terminal is narrow (higher rank = dropped first; 0 = always shown).
#[derive(Debug, Clone)]
pub struct Column {
    pub title: String,
    pub csv_name: Option<String>,
    pub drop_rank: u8,
    /// Only in CSV (the parts of a range the text column shows as one cell).
    pub csv_only: bool,
}

impl Column {
    pub fn new(title: &str) -> Self {
        Self {
            title: title.to_string(),
            csv_name: None,
            drop_rank: 0,
            csv_only: false,
        }
    }
    /// A CSV-only column named `name` (raw units).
    pub fn csv_only(name: &str) -> Self {
        Self {
            csv_only: true,
            ..Self::new(name).csv(name)
        }
    }
    /// The CSV header of this column, naming its raw unit (`memory_bytes`).
    pub fn csv(mut self, name: &str) -> Self {
        self.csv_name = Some(name.to_string());
        self
    }
    /// May be hidden on a narrow terminal; larger ranks go first.
    pub fn optional(mut self, rank: u8) -> Self {
        self.drop_rank = rank;
        self
    }
}

/// One cell: the text people read, and optionally the raw value CSV carries instead
/// (bytes as an integer, a rate as a plain float), and a tone for colour.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub text: String,
    pub raw: Option<String>,
    pub tone: Option<Tone>,
}

impl Cell {
    pub fn with_raw(text: String, raw: impl ToString) -> Self {
        Self {
            text,
            raw: Some(raw.to_string()),
            tone: None,
        }
    }
    pub fn tone(mut self, tone: Tone) -> Self {
        self.tone = Some(tone);
        self
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Self {
            text,
            ..Self::default()
        }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Self::from(text.to_string())
    }
}

impl From<&String> for Cell {
    fn from(text: &String) -> Self {
        Self::from(text.clone())
    }
}

#[derive(Debug, Clone, Default)]
pub struct HouseTable {
    columns: Vec<Column>,
    has_header: bool,
    rows: Vec<Vec<Cell>>,
}

impl HouseTable {
    pub fn new(columns: Vec<Column>) -> Self {
        Self {
            columns,
            has_header: true,
            rows: Vec::new(),
        }
    }

    /// A table without a header row (key/value listings).
    pub fn headless(n_columns: usize) -> Self {
        Self {
            columns: (0..n_columns).map(|_| Column::new("")).collect(),
            has_header: false,
            rows: Vec::new(),
        }
    }

    pub fn add_row<I, C>(&mut self, cells: I) -> &mut Self
    where
        I: IntoIterator<Item = C>,
        C: Into<Cell>,
    {
        let mut row: Vec<Cell> = cells.into_iter().map(Into::into).collect();
        row.resize(self.columns.len().max(row.len()), Cell::default());
        if row.len() > self.columns.len() {
            self.columns.resize(
                row.len(),
                Column::new(if self.has_header { "?" } else { "" }),
            );
        }
        self.rows.push(row);
        self
    }

    /// Names the columns a narrow terminal may hide, the first named hidden first.
    pub fn drop_first(&mut self, titles: &[&str]) -> &mut Self {
        let n = titles.len();
        for (k, title) in titles.iter().enumerate() {
            if let Some(c) = self.columns.iter_mut().find(|c| c.title == *title) {
                c.drop_rank = (n - k) as u8;
            }
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    pub fn rows(&self) -> &[Vec<Cell>] {
        &self.rows
    }

    /// Renders in the given context (the process-wide one via `Display`).
    pub fn render(&self, ctx: &RenderContext) -> String {
        match ctx.format {
            Format::Md => self.markdown(),
            Format::Csv => self.csv(),
            // JSON never renders tables; a table asked for anyway prints as text.
            Format::Table | Format::Json => self.text(ctx),
        }
    }

    fn markdown(&self) -> String {
        let esc = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        let mut out = String::new();
        let visible: Vec<usize> = (0..self.columns.len())
            .filter(|&i| !self.columns[i].csv_only)
            .collect();
        let header: Vec<String> = if self.has_header {
            visible
                .iter()
                .map(|&i| esc(&self.columns[i].title))
                .collect()
        } else {
            // Markdown tables need a header row; a key/value listing gets neutral titles.
            (0..visible.len())
                .map(|i| if i == 0 { "field" } else { "value" }.to_string())
                .collect()
        };
        out.push_str(&format!("| {} |\n", header.join(" | ")));
        out.push_str(&format!("|{}|\n", vec!["---"; visible.len()].join("|")));
        for row in &self.rows {
            let cells: Vec<String> = visible.iter().map(|&i| esc(&row[i].text)).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out.pop();
        out
    }

    fn csv(&self) -> String {
        let mut lines = Vec::new();
        let header: Vec<String> = if self.has_header {
            self.columns
                .iter()
                .map(|c| csv_field(c.csv_name.as_deref().unwrap_or(&c.title)))
                .collect()
        } else {
            (0..self.columns.len())
                .map(|i| if i == 0 { "field" } else { "value" }.to_string())
                .collect()
        };
        lines.push(header.join(","));
        for row in &self.rows {
            let cells: Vec<String> = row
                .iter()
                .map(|c| csv_field(c.raw.as_deref().unwrap_or(&c.text)))
                .collect();
            lines.push(cells.join(","));
        }
        lines.join("\n")
    }

    /// Which columns show at `width` (dropping optional ones until the unbreakable minimum
    /// fits) and how wide each is (water-filled between its minimum and natural width).
    fn layout(&self, width: Option<usize>) -> Layout {
        let n = self.columns.len();
        let header_cells: Vec<&str> = self.columns.iter().map(|c| c.title.as_str()).collect();
        let natural: Vec<usize> = (0..n)
            .map(|i| {
                let mut w = if self.has_header {
                    header_cells[i].width()
                } else {
                    0
                };
                for row in &self.rows {
                    w = w.max(row[i].text.lines().map(|l| l.width()).max().unwrap_or(0));
                }
                w.max(1)
            })
            .collect();
        let min: Vec<usize> = (0..n)
            .map(|i| {
                let mut w = if self.has_header {
                    longest_token(header_cells[i])
                } else {
                    0
                };
                for row in &self.rows {
                    w = w.max(longest_token(&row[i].text));
                }
                w.max(1)
            })
            .collect();
        let frame = |cols: &[usize], widths: &dyn Fn(usize) -> usize| -> usize {
            cols.iter().map(|&i| widths(i)).sum::<usize>() + 3 * cols.len() + 1
        };

        let mut shown: Vec<usize> = (0..n).filter(|&i| !self.columns[i].csv_only).collect();
        let mut dropped: Vec<usize> = Vec::new();
        let widths: Vec<usize> = match width {
            None => natural.clone(),
            Some(limit) => {
                if frame(&shown, &|i| natural[i]) <= limit {
                    natural.clone()
                } else {
                    // Drop optional columns until the unbreakable minimum fits.
                    while frame(&shown, &|i| min[i]) > limit {
                        let victim = shown
                            .iter()
                            .copied()
                            .filter(|&i| self.columns[i].drop_rank > 0)
                            .max_by_key(|&i| (self.columns[i].drop_rank, i));
                        match victim {
                            Some(v) => {
                                shown.retain(|&i| i != v);
                                dropped.push(v);
                            }
                            None => break,
                        }
                    }
                    let mut w = min.clone();
                    if frame(&shown, &|i| natural[i]) <= limit {
                        w = natural.clone();
                    } else {
                        let mut spare = limit.saturating_sub(frame(&shown, &|i| min[i]));
                        // Water-fill: the columns that need least are satisfied first.
                        let mut needy: Vec<usize> = shown
                            .iter()
                            .copied()
                            .filter(|&i| natural[i] > min[i])
                            .collect();
                        needy.sort_by_key(|&i| natural[i] - min[i]);
                        let mut left = needy.len();
                        for i in needy {
                            let share = spare / left.max(1);
                            let give = share.min(natural[i] - min[i]);
                            w[i] += give;
                            spare -= give;
                            left -= 1;
                        }
                    }
                    w
                }
            }
        };
        Layout {
            shown,
            dropped,
            widths,
        }
    }

    fn text(&self, ctx: &RenderContext) -> String {
        let n = self.columns.len();
        if n == 0 {
            return String::new();
        }
        let header_cells: Vec<&str> = self.columns.iter().map(|c| c.title.as_str()).collect();
        let Layout {
            shown,
            mut dropped,
            widths,
        } = self.layout(ctx.width);

        let (v, sep, h, hh) = if ctx.ascii {
            ('|', '|', '-', '=')
        } else {
            ('│', '┆', '─', '═')
        };
        let rule = |left: char, mid: char, right: char, fill: char| -> String {
            let mut s = String::new();
            s.push(left);
            for (k, &i) in shown.iter().enumerate() {
                s.extend(std::iter::repeat_n(fill, widths[i] + 2));
                s.push(if k + 1 == shown.len() { right } else { mid });
            }
            s
        };
        let mut out = Vec::new();
        if ctx.ascii {
            out.push(rule('+', '+', '+', h));
        } else {
            out.push(rule('┌', '┬', '┐', h));
        }
        let push_row = |cells: Vec<(&str, Option<Tone>)>, out: &mut Vec<String>| {
            let wrapped: Vec<Vec<String>> = shown
                .iter()
                .zip(&cells)
                .map(|(&i, (text, _))| wrap_with(text, widths[i], true))
                .collect();
            let height = wrapped.iter().map(Vec::len).max().unwrap_or(1).max(1);
            for line in 0..height {
                let mut s = String::new();
                s.push(v);
                for (k, &i) in shown.iter().enumerate() {
                    let piece = wrapped[k].get(line).map(String::as_str).unwrap_or("");
                    let pad = widths[i].saturating_sub(piece.width());
                    let piece = match cells[k].1 {
                        Some(tone) if ctx.color && !piece.is_empty() => paint(piece, tone, true),
                        _ => piece.to_string(),
                    };
                    s.push(' ');
                    s.push_str(&piece);
                    s.extend(std::iter::repeat_n(' ', pad));
                    s.push(' ');
                    s.push(if k + 1 == shown.len() { v } else { sep });
                }
                out.push(s);
            }
        };
        if self.has_header {
            push_row(
                shown.iter().map(|&i| (header_cells[i], None)).collect(),
                &mut out,
            );
            if ctx.ascii {
                out.push(rule('+', '+', '+', hh));
            } else {
                out.push(rule('╞', '╪', '╡', hh));
            }
        }
        for row in &self.rows {
            push_row(
                shown
                    .iter()
                    .map(|&i| (row[i].text.as_str(), row[i].tone))
                    .collect(),
                &mut out,
            );
        }
        if ctx.ascii {
            out.push(rule('+', '+', '+', h));
        } else {
            out.push(rule('└', '┴', '┘', h));
        }
        if !dropped.is_empty() {
            dropped.sort();
            let names: Vec<&str> = dropped
                .iter()
                .map(|&i| self.columns[i].title.as_str())
                .collect();
            let note = format!(
                "(hidden at this width: {}; a wider terminal or --format md shows them)",
                names.join(", ")
            );
            out.extend(wrap(&note, ctx.width.unwrap_or(usize::MAX)));
        }
        out.join("\n")
    }
}

/// The columns a text table shows and their widths.
struct Layout {
    shown: Vec<usize>,
    dropped: Vec<usize>,
    /// Per column (index into all columns).
    widths: Vec<usize>,
}

impl fmt::Display for HouseTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&context()))
    }
}

/// The narrowest a column may be: its longest id or number. URLs are not counted: they may be
/// longer than any terminal, and a table breaks them (they are neither ids nor numbers).
fn longest_token(text: &str) -> usize {
    text.split_whitespace()
        .map(|t| if is_url(t) { 0 } else { t.width() })
        .max()
        .unwrap_or(0)
}

fn is_url(token: &str) -> bool {
    token.contains("://")
}

/// Greedy word wrap at spaces; a token longer than `width` stays whole on its own line, except a
/// URL inside a table cell (`break_urls`), which is cut at the width.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    wrap_with(text, width, false)
}

fn wrap_with(text: &str, width: usize, break_urls: bool) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.lines() {
        let mut line = String::new();
        for word in para.split_whitespace() {
            if break_urls && is_url(word) && word.width() > width {
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                let chars: Vec<char> = word.chars().collect();
                let mut chunks = chars.chunks(width.max(1)).peekable();
                while let Some(chunk) = chunks.next() {
                    let piece: String = chunk.iter().collect();
                    if chunks.peek().is_some() {
                        lines.push(piece);
                    } else {
                        line = piece;
                    }
                }
                continue;
            }
            if line.is_empty() {
                line.push_str(word);
            } else if line.width() + 1 + word.width() <= width {
                line.push(' ');
                line.push_str(word);
            } else {
                lines.push(std::mem::take(&mut line));
                line.push_str(word);
            }
        }
        lines.push(line);
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

/// Prose wrapped at spaces to `width`, each continuation indented like its line (+2).
pub fn wrap_prose(text: &str, width: usize) -> String {
    let mut out = Vec::new();
    for line in text.split('\n') {
        if line.width() <= width {
            out.push(line.to_string());
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let lead = " ".repeat(indent);
        let cont = " ".repeat(indent + 2);
        for (k, piece) in wrap(line.trim_start(), width.saturating_sub(indent + 2).max(1))
            .into_iter()
            .enumerate()
        {
            out.push(format!("{}{piece}", if k == 0 { &lead } else { &cont }));
        }
    }
    out.join("\n")
}

/// A shell command wrapped at `width` with ` \` line continuations (the result still runs when
/// pasted); arguments are never split.
pub fn wrap_command(prefix: &str, command: &str, width: usize) -> String {
    let one = format!("{prefix}{command}");
    if one.width() <= width {
        return one;
    }
    let mut lines: Vec<String> = Vec::new();
    let mut line = prefix.to_string();
    let indent = "    ";
    for word in command.split(' ').filter(|w| !w.is_empty()) {
        let fresh = line.trim().is_empty() || line == prefix;
        // Keep a flag with its value (`-c 8192`) when the pair fits.
        if fresh || line.width() + 1 + word.width() + 2 <= width {
            if !fresh {
                line.push(' ');
            }
            line.push_str(word);
        } else {
            lines.push(format!("{line} \\"));
            line = format!("{indent}{word}");
        }
    }
    lines.push(line);
    lines.join("\n")
}

/// RFC 4180 quoting: fields with commas, quotes or line breaks are quoted, quotes doubled.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(width: Option<usize>) -> RenderContext {
        RenderContext {
            format: Format::Table,
            width,
            ascii: false,
            color: false,
        }
    }

    fn sample() -> HouseTable {
        let mut t = HouseTable::new(vec![
            Column::new("#"),
            Column::new("devices"),
            Column::new("price"),
            Column::new("cloud $/h").optional(2),
            Column::new("memory").csv("memory_bytes"),
            Column::new("decode tok/s"),
        ]);
        t.add_row([
            Cell::from("1"),
            "rtx-4060-ti-16gb + rtx-5060-ti-16gb".into(),
            "$928".into(),
            "-".into(),
            Cell::with_raw("34.36 GB".into(), 34_360_000_000u64),
            "14-35 (~28)".into(),
        ]);
        t
    }

    #[test]
    fn narrow_rendering_never_splits_tokens_and_fits() {
        let t = sample();
        for width in [52usize, 60, 80, 200] {
            let s = t.render(&ctx(Some(width)));
            for line in s.lines() {
                assert!(
                    line.width() <= width,
                    "{width}: {line:?} is {}",
                    line.width()
                );
            }
            for token in [
                "rtx-4060-ti-16gb",
                "rtx-5060-ti-16gb",
                "34.36",
                "(~28)",
                "14-35",
            ] {
                assert!(s.contains(token), "{width}: token {token} split in\n{s}");
            }
        }
        // Wide enough: one line per row (header, rule, row, frame).
        assert_eq!(t.render(&ctx(Some(200))).lines().count(), 5);
    }

    #[test]
    fn optional_columns_drop_first_and_are_named() {
        let s = sample().render(&ctx(Some(55)));
        let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains("hidden at this width: cloud $/h"), "{s}");
        assert!(!s.lines().next().unwrap_or("").is_empty());
        assert!(!s.split("(hidden").next().unwrap().contains("cloud"), "{s}");
        // Wide enough for every column: nothing hidden.
        assert!(!sample().render(&ctx(Some(120))).contains("hidden"));
    }

    #[test]
    fn csv_carries_raw_values_and_quotes() {
        let mut t = sample();
        t.add_row(["2", "a, \"b\"", "$1", "-", "5 GB", "1"]);
        let csv = t.render(&RenderContext {
            format: Format::Csv,
            ..ctx(None)
        });
        let mut lines = csv.lines();
        assert_eq!(
            lines.next().unwrap(),
            "#,devices,price,cloud $/h,memory_bytes,decode tok/s"
        );
        assert!(lines.next().unwrap().contains(",34360000000,"));
        assert_eq!(lines.next().unwrap(), "2,\"a, \"\"b\"\"\",$1,-,5 GB,1");
    }

    #[test]
    fn markdown_escapes_pipes() {
        let mut t = HouseTable::new(vec![Column::new("a"), Column::new("b")]);
        t.add_row(["x|y", "z"]);
        let md = t.render(&RenderContext {
            format: Format::Md,
            ..ctx(None)
        });
        assert_eq!(md, "| a | b |\n|---|---|\n| x\\|y | z |");
    }

    #[test]
    fn commands_wrap_with_continuations_and_prose_at_spaces() {
        let cmd = "llama-server -m mixtral-8x7b-Q3_K_M.gguf -c 8192 -np 1 -ngl 33 --tensor-split 16,17 -fa on";
        let w = wrap_command("launch: ", cmd, 40);
        for line in w.lines() {
            assert!(line.width() <= 40, "{line}");
        }
        let rejoined: String = w.trim_start_matches("launch: ").replace(" \\\n    ", " ");
        assert_eq!(rejoined, cmd);
        let p = wrap_prose(
            "  (ranges: 90% prediction interval of efficiencies fitted to published data)",
            30,
        );
        assert!(p.lines().all(|l| l.width() <= 30), "{p}");
        assert!(p.lines().skip(1).all(|l| l.starts_with("    ")), "{p}");
    }

    #[test]
    fn ascii_borders_when_asked() {
        let s = sample().render(&RenderContext {
            ascii: true,
            ..ctx(None)
        });
        assert!(s.is_ascii(), "{s}");
    }
}
