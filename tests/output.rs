//! Output for terminals, scripts and documents: tables fitted to 80 and 200 columns without
//! splitting an id or a number, Markdown/CSV exports, completions and the man page.

mod smollm2;

use std::process::{Command, Output};

fn vramplan_env(args: &[&str], columns: Option<usize>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vramplan"));
    cmd.args(args).env_remove("NO_COLOR");
    match columns {
        Some(c) => cmd.env("COLUMNS", c.to_string()),
        None => cmd.env_remove("COLUMNS"),
    };
    cmd.output().expect("run vramplan")
}

fn stdout_ok(args: &[&str], columns: Option<usize>) -> String {
    let out = vramplan_env(args, columns);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Every subcommand that prints a table, on inputs that exercise its widest rows.
fn table_commands() -> Vec<Vec<String>> {
    let smol = smollm2::path().display().to_string();
    let cmds: &[&[&str]] = &[
        &["list", "models"],
        &["list", "hardware"],
        &["list", "apis"],
        &["show", "mixtral-8x7b"],
        &["show", "rtx-4090"],
        &["show", "m4-max-64gb"],
        &[
            "fit",
            "mixtral-8x7b",
            "--quant",
            "Q3_K_M",
            "--ctx",
            "8k",
            "--gpu",
            "rtx-3060-12gbx2",
        ],
        &[
            "fit",
            "deepseek-r1",
            "--engine",
            "vllm",
            "--quant",
            "fp8",
            "--ctx",
            "32k",
            "--gpu",
            "h200x8",
        ],
        &[
            "fit",
            "llama-3.1-70b",
            "--quant",
            "Q4_K_M",
            "--gpu",
            "rtx-3090",
            "--ngl",
            "40",
        ],
        &["gpus", "mixtral-8x7b", "--quant", "Q4_K_M", "--ctx", "8k"],
        &[
            "gpus",
            "deepseek-r1",
            "--quant",
            "Q4_K_M",
            "--ctx",
            "32k",
            "--cloud",
        ],
        &[
            "quants",
            "mistral-small-24b",
            "--gpu",
            "rtx-4090",
            "--ctx",
            "16k",
        ],
        &[
            "cost",
            "mixtral-8x7b",
            "--quant",
            "Q3_K_M",
            "--gpu",
            "rtx-3060-12gbx2",
            "--api",
            "gpt-3.5-turbo-1106",
        ],
        &["detect"],
        &["models", "--gpu", "rtx-4090", "--ctx", "8k"],
    ];
    let mut all: Vec<Vec<String>> = cmds
        .iter()
        .map(|c| c.iter().map(|s| s.to_string()).collect())
        .collect();
    // quantize prints a table of what it wrote; --force lets the three renderings reuse the path.
    let dir = std::env::temp_dir().join(format!("vramplan-output-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    all.push(vec![
        "quantize".into(),
        smol.clone(),
        dir.join("q8.gguf").display().to_string(),
        "--type".into(),
        "Q8_0".into(),
        "--allow-requantize".into(),
        "--force".into(),
    ]);
    all.push(
        [
            "validate",
            &smol,
            "--types",
            "Q8_0",
            "--ctx",
            "128",
            "--chunks",
            "1",
            "--runs",
            "1",
            "--decode",
            "4",
            "--no-bandwidth",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    );
    all.push(vec!["inspect".into(), smol.clone()]);
    all.push(vec![
        "fit".into(),
        smol,
        "--ctx".into(),
        "2k".into(),
        "--gpu".into(),
        "rtx-4090".into(),
    ]);
    all
}

/// The cells of every table in a Markdown rendering, with each table's column titles.
fn markdown_tables(md: &str) -> Vec<(Vec<String>, Vec<Vec<String>>)> {
    let split = |line: &str| -> Vec<String> {
        line.trim()
            .trim_start_matches('|')
            .trim_end_matches('|')
            .split(" | ")
            .map(|c| c.trim().replace("\\|", "|"))
            .collect()
    };
    let lines: Vec<&str> = md.lines().collect();
    let mut tables = Vec::new();
    let mut i = 0;
    while i + 1 < lines.len() {
        if lines[i].starts_with('|') && lines[i + 1].starts_with("|---") {
            let titles = split(lines[i]);
            let mut rows = Vec::new();
            i += 2;
            while i < lines.len() && lines[i].starts_with('|') {
                rows.push(split(lines[i]));
                i += 1;
            }
            tables.push((titles, rows));
        } else {
            i += 1;
        }
    }
    tables
}

#[test]
fn every_table_fits_80_and_200_columns_without_splitting_ids_or_numbers() {
    for cmd in table_commands() {
        let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let mut md_args = args.clone();
        md_args.extend(["--format", "md"]);
        let tables = markdown_tables(&stdout_ok(&md_args, None));
        assert!(!tables.is_empty(), "{args:?}: no table in --format md");
        for width in [80usize, 200] {
            let text = stdout_ok(&args, Some(width));
            for line in text.lines() {
                // A URL longer than the width stays whole on its own line so it can be copied.
                let lone_url = line.split_whitespace().count() == 1 && line.contains("://");
                assert!(
                    line.chars().count() <= width || lone_url,
                    "{args:?} at {width} columns: line of {} characters:\n{line}",
                    line.chars().count()
                );
            }
            // validate measures again on every run, and detect reads the RAM available now: their
            // figures differ between the Markdown run and this one (detect's free RAM moved by
            // 0.01 GB under load once), so only their labels are held to the Markdown cells.
            let measured = args[0] == "validate" || args[0] == "detect";
            let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
            for (titles, rows) in &tables {
                for row in rows {
                    for (col, cell) in row.iter().enumerate() {
                        let title = titles.get(col).map(String::as_str).unwrap_or("");
                        // URLs are neither ids nor numbers: a table cuts one that is wider
                        // than its column.
                        if measured && col > 0 {
                            continue;
                        }
                        for token in cell.split_whitespace().filter(|t| !t.contains("://")) {
                            let hidden = !title.is_empty()
                                && flat.contains("hidden at this width")
                                && flat.contains(title);
                            assert!(
                                text.contains(token) || hidden,
                                "{args:?} at {width} columns: `{token}` (column `{title}`) is \
                                 split or missing:\n{text}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn piped_tables_use_ascii_borders() {
    let text = stdout_ok(&["list", "apis"], Some(80));
    let border = text.lines().find(|l| l.starts_with('+')).expect("a border");
    assert!(border.is_ascii(), "{border}");
}

/// The CSV of `gpus`, `quants` and `cost` holds the same rows as their JSON.
#[test]
fn csv_rows_match_json_rows() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["gpus", "mixtral-8x7b", "--quant", "Q4_K_M", "--ctx", "8k"],
            "candidates",
        ),
        (
            &[
                "quants",
                "mistral-small-24b",
                "--gpu",
                "rtx-4090",
                "--ctx",
                "16k",
            ],
            "ladder",
        ),
        (
            &[
                "cost",
                "mixtral-8x7b",
                "--quant",
                "Q3_K_M",
                "--gpu",
                "rtx-3060-12gbx2",
            ],
            "rows",
        ),
    ];
    for (args, key) in cases {
        let mut j = args.to_vec();
        j.push("--json");
        let json: serde_json::Value = serde_json::from_str(&stdout_ok(&j, None)).unwrap();
        let mut c = args.to_vec();
        c.extend(["--format", "csv"]);
        let csv = stdout_ok(&c, None);
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().expect("CSV header").split(',').collect();
        let rows: Vec<Vec<String>> = lines.map(parse_csv_line).collect();
        let json_rows = json[key]
            .as_array()
            .unwrap_or_else(|| panic!("{args:?}: no `{key}` array in JSON"));
        assert_eq!(
            rows.len(),
            json_rows.len(),
            "{args:?}: CSV rows vs JSON rows"
        );
        // Every CSV column named after a JSON key carries that key's value, row for row.
        let mut checked = 0;
        for (row, jrow) in rows.iter().zip(json_rows) {
            assert_eq!(row.len(), header.len(), "{args:?}: ragged CSV row {row:?}");
            for (name, cell) in header.iter().zip(row) {
                // Column names are JSON key paths (`decode_tok_s.low`).
                let mut v = Some(jrow);
                for key in name.split('.') {
                    v = v.and_then(|v| v.get(key));
                }
                let Some(v) = v else { continue };
                match v {
                    serde_json::Value::Number(n) => {
                        let got: f64 = cell.parse().unwrap_or_else(|_| {
                            panic!("{args:?}: column {name}: `{cell}` is not a number")
                        });
                        let want = n.as_f64().unwrap();
                        assert!(
                            got == want || (got - want).abs() <= 1e-12 * want.abs(),
                            "{args:?}: column {name}: {got} vs {want}"
                        );
                    }
                    serde_json::Value::String(s) => assert_eq!(cell, s, "{args:?}: column {name}"),
                    serde_json::Value::Null => assert_eq!(cell, "", "{args:?}: column {name}"),
                    other => assert_eq!(cell, &other.to_string(), "{args:?}: column {name}"),
                }
                checked += 1;
            }
        }
        assert!(
            checked >= rows.len() * 2,
            "{args:?}: CSV columns do not name JSON keys: {header:?}"
        );
    }
}

fn parse_csv_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(ch) = chars.next() {
        match (ch, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

#[test]
fn completions_for_four_shells_and_bash_loads_them() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let script = stdout_ok(&["completions", shell], None);
        assert!(script.len() > 1000, "{shell}: {} bytes", script.len());
        // clap_complete's fish and PowerShell scripts complete option values, not positionals.
        if shell == "bash" || shell == "zsh" {
            assert!(
                script.contains("mixtral-8x7b"),
                "{shell}: no model ids offered"
            );
        }
        assert!(
            script.contains("rtx-4090"),
            "{shell}: no device ids offered"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vramplan.bash");
    std::fs::write(&path, stdout_ok(&["completions", "bash"], None)).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source '{}' && complete -p vramplan",
            path.display()
        ))
        .output()
        .expect("bash");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && printed.contains("vramplan"),
        "complete -p: {printed} {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn man_page_is_roff() {
    let man = stdout_ok(&["man"], None);
    assert!(
        man.starts_with(".ie") || man.contains(".TH vramplan"),
        "{}",
        &man[..200.min(man.len())]
    );
    assert!(man.contains("completions"));
}

#[test]
fn color_only_when_asked() {
    let plain = stdout_ok(&["fit", "llama-3.1-8b", "--gpu", "rtx-4090"], Some(200));
    assert!(!plain.contains('\x1b'), "piped output has escape codes");
    let colored = stdout_ok(
        &[
            "fit",
            "llama-3.1-8b",
            "--gpu",
            "rtx-4090",
            "--color",
            "always",
        ],
        Some(200),
    );
    assert!(colored.contains("\x1b["), "--color always gave no colour");
}

/// `tokenize` prints `id -> 'piece'` like llama-tokenize (`%6d -> '%s'`), `--ids` its list form,
/// and JSON carries both.
#[test]
fn tokenize_prints_pieces_like_llama_tokenize() {
    let smol = smollm2::path().display().to_string();
    let text = "Hello world, <|im_start|> 42";
    let json: serde_json::Value =
        serde_json::from_str(&stdout_ok(&["tokenize", &smol, text, "--json"], None)).unwrap();
    let ids: Vec<i64> = json["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let pieces: Vec<&str> = json["pieces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(ids.len() >= 5, "{ids:?}");
    let lines = stdout_ok(&["tokenize", &smol, text], None);
    let expected: Vec<String> = ids
        .iter()
        .zip(&pieces)
        .map(|(id, p)| format!("{id:>6} -> '{p}'"))
        .collect();
    assert_eq!(lines.lines().collect::<Vec<_>>(), expected);
    let list = stdout_ok(&["tokenize", &smol, text, "--ids"], None);
    let ids_text: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    assert_eq!(list.trim_end(), format!("[{}]", ids_text.join(", ")));
}
