//! Names as people type them: Ollama tags (`llama3.1:70b`, `qwen2.5:32b-instruct-q4_K_M`),
//! Hugging Face repo ids of originals and re-uploads (`bartowski/...-GGUF`, `...-AWQ`), GGUF file
//! names (`...-Q4_K_M.gguf`, `...-00001-of-00003.gguf`) and quantization spellings (`fp16`,
//! `q4km`, `Q4_K`, `iq4xs`, `q8`). Pure string work: the catalogue matches the result.

/// A quantization spelling resolved to the canonical name `WeightFormat::parse` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuantSpelling {
    One(&'static str),
    /// A spelling that names several formats ("4bit"): the choices.
    Ambiguous(&'static [&'static str]),
    Unknown,
}

/// llama.cpp file-type names (`llama-quantize` spelling), as `ggml::FileType` has them; a test
/// holds the two lists equal.
pub const GGUF_FILE_TYPES: &[&str] = &[
    "F32",
    "F16",
    "Q4_0",
    "Q4_1",
    "Q8_0",
    "Q5_0",
    "Q5_1",
    "Q2_K",
    "Q3_K_S",
    "Q3_K_M",
    "Q3_K_L",
    "Q4_K_S",
    "Q4_K_M",
    "Q5_K_S",
    "Q5_K_M",
    "Q6_K",
    "IQ2_XXS",
    "IQ2_XS",
    "Q2_K_S",
    "IQ3_XS",
    "IQ3_XXS",
    "IQ1_S",
    "IQ4_NL",
    "IQ3_S",
    "IQ3_M",
    "IQ2_S",
    "IQ2_M",
    "IQ4_XS",
    "IQ1_M",
    "BF16",
    "TQ1_0",
    "TQ2_0",
    "MXFP4_MOE",
];

/// Other spellings, compacted (upper case, no `-`, `_`, `.` or spaces) -> canonical name.
/// `Q4_K`, `Q3_K` and `Q5_K` are llama-quantize's own aliases for the `_M` types.
const ALIASES: &[(&str, &str)] = &[
    ("FP16", "F16"),
    ("FLOAT16", "F16"),
    ("HALF", "F16"),
    ("BFLOAT16", "BF16"),
    ("FP32", "F32"),
    ("FLOAT32", "F32"),
    ("Q4K", "Q4_K_M"),
    ("Q3K", "Q3_K_M"),
    ("Q5K", "Q5_K_M"),
    ("Q8", "Q8_0"),
    ("Q6", "Q6_K"),
    ("Q2", "Q2_K"),
    ("MXFP4", "MXFP4_MOE"),
    ("AWQ", "awq"),
    ("AWQINT4", "awq"),
    ("AWQ4BIT", "awq"),
    ("GPTQ", "gptq"),
    ("GPTQINT4", "gptq"),
    ("GPTQ4BIT", "gptq"),
    ("FP8", "fp8"),
    ("FP8E4M3", "fp8"),
    ("NF4", "nf4"),
    ("BNBNF4", "nf4"),
    ("BNB4BIT", "nf4"),
    ("INT8", "int8"),
    ("BNBINT8", "int8"),
    ("BNB8BIT", "int8"),
    ("LLMINT8", "int8"),
    ("HFBF16", "hf-bf16"),
    ("SAFETENSORSBF16", "hf-bf16"),
];

const FOUR_BIT: &[&str] = &["Q4_K_M", "Q4_K_S", "Q4_0", "IQ4_XS", "awq", "gptq", "nf4"];
const EIGHT_BIT: &[&str] = &["Q8_0", "fp8", "int8"];
const SIXTEEN_BIT: &[&str] = &["F16", "BF16"];

/// Spellings that name several formats.
const AMBIGUOUS: &[(&str, &[&str])] = &[
    ("4BIT", FOUR_BIT),
    ("INT4", FOUR_BIT),
    ("4", FOUR_BIT),
    ("8BIT", EIGHT_BIT),
    ("8", EIGHT_BIT),
    ("16BIT", SIXTEEN_BIT),
    ("16", SIXTEEN_BIT),
    ("Q4", &["Q4_K_M", "Q4_K_S", "Q4_0", "Q4_1"]),
    ("Q5", &["Q5_K_M", "Q5_K_S", "Q5_0", "Q5_1"]),
    ("Q3", &["Q3_K_M", "Q3_K_S", "Q3_K_L"]),
    ("IQ4", &["IQ4_XS", "IQ4_NL"]),
    ("IQ3", &["IQ3_M", "IQ3_S", "IQ3_XS", "IQ3_XXS"]),
    ("IQ2", &["IQ2_M", "IQ2_S", "IQ2_XS", "IQ2_XXS"]),
];

fn compact(s: &str) -> String {
    s.trim()
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Resolves a quantization as people spell it.
pub fn quant_spelling(s: &str) -> QuantSpelling {
    let c = compact(s);
    if c.is_empty() {
        return QuantSpelling::Unknown;
    }
    if let Some(name) = GGUF_FILE_TYPES.iter().find(|n| compact(n) == c) {
        return QuantSpelling::One(name);
    }
    if let Some((_, name)) = ALIASES.iter().find(|(a, _)| *a == c) {
        return QuantSpelling::One(name);
    }
    if let Some((_, choices)) = AMBIGUOUS.iter().find(|(a, _)| *a == c) {
        return QuantSpelling::Ambiguous(choices);
    }
    QuantSpelling::Unknown
}

/// Vendor and brand words people add or drop ("NVIDIA GeForce RTX 4090" vs "rtx-4090", "Tesla
/// T4" vs "t4"): one list for exact and token matching.
pub const VENDOR_WORDS: &[&str] = &[
    "nvidia", "geforce", "amd", "radeon", "apple", "instinct", "tesla",
];

/// A normalized name (`nvidia-geforce-rtx-4090`) without its leading vendor words.
pub fn strip_vendor(normalized: &str) -> String {
    let mut s = normalized;
    while let Some((first, rest)) = s.split_once('-') {
        if !VENDOR_WORDS.contains(&first) {
            break;
        }
        s = rest;
    }
    s.to_string()
}

/// Match tokens without vendor words.
pub fn without_vendor(tokens: Vec<String>) -> Vec<String> {
    tokens
        .into_iter()
        .filter(|t| !VENDOR_WORDS.contains(&t.as_str()))
        .collect()
}

/// A model name taken apart: match tokens, and the quantization it names, if any.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedName {
    /// Lower-case tokens with noise words removed (`llama`, `3.1`, `70b`).
    pub tokens: Vec<String>,
    /// Canonical quantization named in the text (`Q4_K_M`, `awq`).
    pub quant: Option<&'static str>,
}

/// Words that do not change the architecture: base/instruct/chat variants, packaging, the
/// organisation prefix of a repo name (`Meta-Llama`).
const NOISE: &[&str] = &[
    "instruct",
    "it",
    "chat",
    "hf",
    "latest",
    "base",
    "pt",
    "gguf",
    "meta",
    "text",
    "imat",
    "i1",
    "ud",
    "bnb",
    "unsloth",
    "turbo",
    "mlx",
    "model",
    "weights",
    "safetensors",
    "dynamic",
    // Quantization-aware-trained weights (`gemma-3-27b-it-qat-q4_0-gguf`): the same architecture.
    "qat",
];

/// Splits text into match tokens: separators are anything but letters, digits and dots; a
/// letter followed by a digit also splits (`llama3.1` -> `llama`, `3.1`), a digit followed by a
/// letter does not (`70b`; `8x7b` -> `8x`, `7b`, the same on both sides of a match).
pub fn tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.')) {
        let mut cur = String::new();
        let mut prev: Option<char> = None;
        for c in raw.chars() {
            let c = c.to_ascii_lowercase();
            if prev.is_some_and(|p| p.is_ascii_alphabetic()) && c.is_ascii_digit() {
                out.push(std::mem::take(&mut cur));
            }
            cur.push(c);
            prev = Some(c);
        }
        out.push(cur);
    }
    out.into_iter()
        .map(|t| t.trim_matches('.').to_string())
        .filter(|t| !t.is_empty() && !NOISE.contains(&t.as_str()))
        .collect()
}

/// A size token (`70b`, `0.5b`, `135m`) as a parameter count.
pub fn size_of_token(t: &str) -> Option<f64> {
    let (num, mult) = if let Some(n) = t.strip_suffix('b') {
        (n, 1e9)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 1e6)
    } else {
        return None;
    };
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    num.parse::<f64>().ok().map(|n| n * mult)
}

/// A quantization segment of a file or repo name: only spellings that cannot be a model token.
fn name_quant(seg: &str) -> Option<&'static str> {
    let c = compact(seg);
    let plausible = c.starts_with('Q')
        || c.starts_with("IQ")
        || c.starts_with("TQ")
        || matches!(
            c.as_str(),
            "F16" | "FP16" | "BF16" | "F32" | "FP32" | "AWQ" | "GPTQ" | "FP8" | "MXFP4" | "NF4"
        );
    if !plausible {
        return None;
    }
    match quant_spelling(seg) {
        QuantSpelling::One(q) => Some(q),
        _ => None,
    }
}

/// Strips `-00001-of-00003` (llama.cpp's split-file suffix).
fn strip_shard(s: &str) -> &str {
    let b = s.as_bytes();
    // "-NNNNN-of-NNNNN" is 15 bytes.
    if b.len() > 15 {
        let tail = &s[s.len() - 15..];
        let t = tail.as_bytes();
        let digits = |r: std::ops::Range<usize>| t[r].iter().all(|c| c.is_ascii_digit());
        if t[0] == b'-'
            && digits(1..6)
            && tail[6..10].eq_ignore_ascii_case("-of-")
            && digits(10..15)
        {
            return &s[..s.len() - 15];
        }
    }
    s
}

/// Takes a model name apart: URL and org prefixes, `.gguf`, shard suffixes, the Ollama tag, and
/// quantization segments (`Q4_K_M`, `AWQ`, `GPTQ-Int4`, `bnb-4bit`, `fp16`).
pub fn parse_model_name(query: &str) -> ParsedName {
    let mut s = query.trim();
    for prefix in ["https://", "http://"] {
        if let Some(r) = s.strip_prefix(prefix) {
            s = r;
        }
    }
    for prefix in ["huggingface.co/", "hf.co/", "www.huggingface.co/"] {
        if let Some(r) = s.strip_prefix(prefix) {
            s = r;
        }
    }
    // Ollama `name:tag` (also `hf.co/org/repo:Q4_K_M`).
    let (name, tag) = match s.rsplit_once(':') {
        Some((n, t)) => (n, t),
        None => (s, ""),
    };
    // `org/repo` or a path: the last component names the model.
    let mut name = name.rsplit('/').next().unwrap_or(name);
    if name.len() > 5 && name[name.len() - 5..].eq_ignore_ascii_case(".gguf") {
        name = &name[..name.len() - 5];
    }
    let name = strip_shard(name);
    // bartowski's `org_Repo` naming (`mistralai_Mistral-Small-...`, `Qwen_Qwen3-8B`).
    let name = match name.split_once('_') {
        Some((org, rest))
            if !org.is_empty()
                && !org.contains('-')
                && org.chars().all(|c| c.is_ascii_alphabetic())
                && !rest.is_empty()
                && name_quant(name).is_none() =>
        {
            rest
        }
        _ => name,
    };
    let mut quant = None;
    let mut words: Vec<String> = Vec::new();
    let joined = if tag.is_empty() {
        name.to_string()
    } else {
        format!("{name}-{tag}")
    };
    let segs: Vec<&str> = joined.split('-').collect();
    let mut i = 0;
    while i < segs.len() {
        let seg = segs[i];
        let next = segs.get(i + 1).map(|n| n.to_ascii_lowercase());
        // Paired spellings: `bnb-4bit`, `GPTQ-Int4`, `AWQ-INT4`.
        let lower = seg.to_ascii_lowercase();
        if lower == "bnb" && matches!(next.as_deref(), Some("4bit" | "nf4")) {
            quant = Some("nf4");
            i += 2;
            continue;
        }
        if lower == "bnb" && next.as_deref() == Some("8bit") {
            quant = Some("int8");
            i += 2;
            continue;
        }
        if let Some(q) = name_quant(seg) {
            quant = Some(q);
            if (q == "gptq" || q == "awq") && matches!(next.as_deref(), Some("int4" | "4bit")) {
                i += 1;
            }
            i += 1;
            continue;
        }
        // TheBloke's `model.Q4_K_M`: the quantization after the last dot.
        if let Some((head, tail)) = seg.rsplit_once('.') {
            if let Some(q) = name_quant(tail) {
                quant = Some(q);
                words.push(head.to_string());
                i += 1;
                continue;
            }
        }
        words.push(seg.to_string());
        i += 1;
    }
    ParsedName {
        tokens: tokens(&words.join("-")),
        quant,
    }
}

/// How well the tokens of one name of an entry cover a query: `None` when a query token is
/// missing, else the count of the entry's extra tokens (0 = the same name).
pub fn coverage(query: &[String], entry: &[String], entry_params: Option<f64>) -> Option<usize> {
    let entry_has_size = entry.iter().any(|t| size_of_token(t).is_some());
    for q in query {
        if entry.contains(q) {
            continue;
        }
        // `deepseek-r1:671b` against `deepseek-r1`: a size token matches the parameter count
        // when the entry's name states none.
        match (size_of_token(q), entry_params) {
            (Some(size), Some(p)) if !entry_has_size && (p / size - 1.0).abs() < 0.15 => {}
            _ => return None,
        }
    }
    Some(entry.iter().filter(|t| !query.contains(t)).count())
}

/// `org/repo` of a Hugging Face URL (`https://huggingface.co/org/repo/blob/main/config.json`).
pub fn hf_repo_of(url: &str) -> Option<(&str, &str)> {
    let rest = url
        .strip_prefix("https://huggingface.co/")
        .or_else(|| url.strip_prefix("http://huggingface.co/"))?;
    let mut parts = rest.split('/');
    let org = parts.next().filter(|s| !s.is_empty())?;
    let repo = parts.next().filter(|s| !s.is_empty())?;
    Some((org, repo))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        tokens(s)
    }

    #[test]
    fn splits_tokens() {
        assert_eq!(toks("llama3.1"), ["llama", "3.1"]);
        assert_eq!(toks("Meta-Llama-3.1-8B-Instruct"), ["llama", "3.1", "8b"]);
        assert_eq!(
            toks("Mixtral-8x7B-v0.1"),
            ["mixtral", "8x", "7b", "v", "0.1"]
        );
        assert_eq!(toks("qwen3-30b-a3b"), ["qwen", "3", "30b", "a", "3b"]);
    }

    #[test]
    fn sizes() {
        assert_eq!(size_of_token("70b"), Some(70e9));
        assert_eq!(size_of_token("135m"), Some(135e6));
        assert_eq!(size_of_token("0.5b"), Some(0.5e9));
        assert_eq!(size_of_token("8x7b"), None);
        assert_eq!(size_of_token("b"), None);
    }

    #[test]
    fn ollama_tag_with_quant() {
        let p = parse_model_name("qwen2.5:32b-instruct-q4_K_M");
        assert_eq!(p.tokens, ["qwen", "2.5", "32b"]);
        assert_eq!(p.quant, Some("Q4_K_M"));
        let p = parse_model_name("llama3.1:8b-instruct-fp16");
        assert_eq!(p.quant, Some("F16"));
        assert_eq!(parse_model_name("phi4").tokens, ["phi", "4"]);
        assert_eq!(parse_model_name("phi4:latest").tokens, ["phi", "4"]);
    }

    #[test]
    fn gguf_file_names() {
        let p = parse_model_name("Mistral-Small-24B-Instruct-2501-Q4_K_M.gguf");
        assert_eq!(p.tokens, ["mistral", "small", "24b", "2501"]);
        assert_eq!(p.quant, Some("Q4_K_M"));
        let p = parse_model_name("Meta-Llama-3.1-70B-Instruct-Q5_K_M-00001-of-00002.gguf");
        assert_eq!(p.tokens, ["llama", "3.1", "70b"]);
        assert_eq!(p.quant, Some("Q5_K_M"));
        let p = parse_model_name("mixtral-8x7b-instruct-v0.1.Q4_K_M.gguf");
        assert_eq!(p.tokens, ["mixtral", "8x", "7b", "v", "0.1"]);
        assert_eq!(p.quant, Some("Q4_K_M"));
        let p = parse_model_name("gemma-3-27b-it-IQ4_XS.gguf");
        assert_eq!(p.quant, Some("IQ4_XS"));
        let p = parse_model_name("qwen2.5-7b-instruct-fp16-00001-of-00004.gguf");
        assert_eq!(p.tokens, ["qwen", "2.5", "7b"]);
        assert_eq!(p.quant, Some("F16"));
    }

    #[test]
    fn hf_repo_ids() {
        let p = parse_model_name("bartowski/Meta-Llama-3.1-8B-Instruct-GGUF");
        assert_eq!(p.tokens, ["llama", "3.1", "8b"]);
        assert_eq!(p.quant, None);
        let p = parse_model_name("bartowski/mistralai_Mistral-Small-3.1-24B-Instruct-2503-GGUF");
        assert_eq!(p.tokens, ["mistral", "small", "3.1", "24b", "2503"]);
        let p = parse_model_name("Qwen/Qwen2.5-32B-Instruct-AWQ");
        assert_eq!(p.quant, Some("awq"));
        let p = parse_model_name("Qwen/Qwen2.5-7B-Instruct-GPTQ-Int4");
        assert_eq!(p.tokens, ["qwen", "2.5", "7b"]);
        assert_eq!(p.quant, Some("gptq"));
        let p = parse_model_name("unsloth/Llama-3.2-3B-Instruct-bnb-4bit");
        assert_eq!(p.tokens, ["llama", "3.2", "3b"]);
        assert_eq!(p.quant, Some("nf4"));
        let p = parse_model_name("hf.co/bartowski/gemma-2-9b-it-GGUF:Q6_K");
        assert_eq!(p.tokens, ["gemma", "2", "9b"]);
        assert_eq!(p.quant, Some("Q6_K"));
        assert_eq!(
            hf_repo_of("https://huggingface.co/google/gemma-3-4b-pt/blob/main/config.json"),
            Some(("google", "gemma-3-4b-pt"))
        );
    }

    #[test]
    fn coverage_counts_extras() {
        let q = toks("llama3.1 70b");
        assert_eq!(coverage(&q, &toks("llama-3.1-70b"), None), Some(0));
        assert_eq!(coverage(&q, &toks("llama-3.1-8b"), None), None);
        let q = toks("deepseek-r1 671b");
        assert_eq!(coverage(&q, &toks("deepseek-r1"), Some(671e9)), Some(0));
        assert_eq!(coverage(&q, &toks("deepseek-r1"), Some(70e9)), None);
        assert_eq!(
            coverage(
                &toks("deepseek r1 70b"),
                &toks("deepseek-r1-distill-llama-70b"),
                Some(70.6e9)
            ),
            Some(2)
        );
    }

    #[test]
    fn quant_spellings() {
        use QuantSpelling::*;
        for (s, want) in [
            ("f16", "F16"),
            ("fp16", "F16"),
            ("FP16", "F16"),
            ("bf16", "BF16"),
            ("q4km", "Q4_K_M"),
            ("q4_k_m", "Q4_K_M"),
            ("Q4_K_M", "Q4_K_M"),
            ("Q4-K-M", "Q4_K_M"),
            ("Q4_K", "Q4_K_M"),
            ("q5_k", "Q5_K_M"),
            ("iq4xs", "IQ4_XS"),
            ("IQ4_XS", "IQ4_XS"),
            ("q8", "Q8_0"),
            ("Q8_0", "Q8_0"),
            ("q6k", "Q6_K"),
            ("mxfp4", "MXFP4_MOE"),
            ("awq", "awq"),
            ("GPTQ-Int4", "gptq"),
            ("fp8", "fp8"),
            ("nf4", "nf4"),
        ] {
            assert_eq!(quant_spelling(s), One(want), "{s}");
        }
        assert!(
            matches!(quant_spelling("4bit"), Ambiguous(c) if c.contains(&"Q4_K_M") && c.contains(&"awq"))
        );
        assert!(matches!(quant_spelling("q4"), Ambiguous(_)));
        assert!(matches!(quant_spelling("8-bit"), Ambiguous(c) if c.contains(&"Q8_0")));
        assert_eq!(quant_spelling("q4_k_x"), Unknown);
        assert_eq!(quant_spelling(""), Unknown);
    }
}
