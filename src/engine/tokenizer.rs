//! Tokenizers read from GGUF metadata, ported from llama.cpp's `src/llama-vocab.cpp` so that
//! token ids match llama.cpp's `llama_tokenize` exactly: GPT-2-style byte-level BPE
//! (`tokenizer.ggml.model = "gpt2"`, with the pre-tokenizer named by `tokenizer.ggml.pre`) and
//! SentencePiece-style BPE over scores (`"llama"`). Special tokens in the text are split out first
//! (`tokenizer_st_partition`): user-defined tokens always, control tokens only when asked to.

use std::cmp::Ordering;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

use super::unicode::{byte_encode, char_to_byte, split_words, PreTokenizer};
use super::EngineError;
use crate::gguf::GgufFile;

/// `llama_token_attr` bits.
mod attr {
    pub const UNKNOWN: u32 = 1 << 0;
    pub const UNUSED: u32 = 1 << 1;
    pub const NORMAL: u32 = 1 << 2;
    pub const CONTROL: u32 = 1 << 3;
    pub const USER_DEFINED: u32 = 1 << 4;
    pub const BYTE: u32 = 1 << 5;
    pub const LSTRIP: u32 = 1 << 7;
    pub const RSTRIP: u32 = 1 << 8;
}

/// Which algorithm turns a text fragment into tokens.
#[derive(Debug, Clone)]
enum Algorithm {
    /// Byte-level BPE over merge ranks, after a pre-tokenizer split.
    Bpe {
        pre: PreTokenizer,
        /// `"left right"` -> rank (the first occurrence of a merge wins, as in llama.cpp).
        ranks: HashMap<String, u32>,
        /// Llama 3: a word that is itself a token is not merged (`ignore_merges`).
        ignore_merges: bool,
    },
    /// SentencePiece BPE: merge the highest-scoring pair first; bytes as `<0xXX>` tokens.
    Spm,
}

/// Kind of vocabulary, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VocabKind {
    /// Byte-level BPE (`tokenizer.ggml.model = "gpt2"`).
    Bpe,
    /// SentencePiece (`tokenizer.ggml.model = "llama"`).
    Spm,
}

/// A tokenizer built from a GGUF file's `tokenizer.ggml.*` metadata.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    algo: Algorithm,
    tokens: Vec<String>,
    scores: Vec<f32>,
    attrs: Vec<u32>,
    token_to_id: HashMap<String, u32>,
    /// Control, user-defined and unknown tokens, longest text first (`cache_special_tokens`).
    specials: Vec<u32>,
    /// Pieces with special tokens rendered (`cache_token_to_piece`).
    pieces: Vec<Vec<u8>>,
    bos: Option<u32>,
    eos: Option<u32>,
    eot: Option<u32>,
    eog: BTreeSet<u32>,
    add_bos: bool,
    add_eos: bool,
    add_space_prefix: bool,
    clean_spaces: bool,
}

/// A text fragment left by the special-token split: raw text or a special token.
#[derive(Debug, Clone, Copy)]
enum Fragment {
    Text { start: usize, len: usize },
    Token(u32),
}

/// Token texts llama.cpp treats as end of generation (and marks as control tokens).
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];

/// Texts that make a token the EOT token when the file names none.
const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];

/// Fill-in-the-middle token texts (prefix, suffix, middle, pad, repo, file separator), detected
/// when the file names none; they become control tokens, and pad/repo/sep end generation.
const FIM_TEXTS: [&[&str]; 6] = [
    &[
        "<|fim_prefix|>",
        "<fim-prefix>",
        "<fim_prefix>",
        "<｜fim▁begin｜>",
        "<PRE>",
        "▁<PRE>",
        "<|code_prefix|>",
        "<|prefix|>",
    ],
    &[
        "<|fim_suffix|>",
        "<fim-suffix>",
        "<fim_suffix>",
        "<｜fim▁hole｜>",
        "<SUF>",
        "▁<SUF>",
        "<|code_suffix|>",
        "<|suffix|>",
    ],
    &[
        "<|fim_middle|>",
        "<fim-middle>",
        "<fim_middle>",
        "<｜fim▁end｜>",
        "<MID>",
        "▁<MID>",
        "<|code_middle|>",
        "<|middle|>",
    ],
    &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"],
    &[
        "<|fim_repo|>",
        "<|repo_name|>",
        "<fim-repo>",
        "<REPO>",
        "<reponame>",
    ],
    &["<|file_sep|>"],
];

/// Metadata keys of the FIM token ids, in [`FIM_TEXTS`] order.
const FIM_KEYS: [&str; 6] = [
    "tokenizer.ggml.fim_pre_token_id",
    "tokenizer.ggml.fim_suf_token_id",
    "tokenizer.ggml.fim_mid_token_id",
    "tokenizer.ggml.fim_pad_token_id",
    "tokenizer.ggml.fim_rep_token_id",
    "tokenizer.ggml.fim_sep_token_id",
];

/// Pre-tokenizer and flags for a `tokenizer.ggml.pre` name (`llama_vocab::impl::load`):
/// (pre-tokenizer, ignore_merges, forces add_bos, clean_spaces).
fn bpe_pre(name: &str) -> Option<(PreTokenizer, bool, bool, bool)> {
    use PreTokenizer::*;
    Some(match name {
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0"
        | "lfm2" | "jina-v5-nano" => (Llama3, true, true, true),
        "dbrx" | "smaug-bpe" => (Llama3, false, false, true),
        "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es" | "jina-v2-de"
        | "a.x-4.0" | "mellum" | "modern-bert" | "mpt" | "olmo" | "jais" | "exaone4" => {
            (Gpt2, false, false, true)
        }
        "trillion" | "granite-docling" => (Gpt2, false, false, false),
        "starcoder" | "refact" | "codeshell" | "exaone" | "minerva-7b" | "mellum2" => {
            (DigitsThenGpt2, false, false, true)
        }
        "smollm" | "command-r" => (DigitsThenGpt2, false, false, false),
        "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "hunyuan" | "solar-open"
        | "grok-2" => (Qwen2, false, false, false),
        "stablelm2" | "megrez" => (Qwen2, false, false, true),
        _ => return None,
    })
}

fn opt_bool<D: AsRef<[u8]>>(f: &GgufFile<D>, key: &str) -> Result<Option<bool>, EngineError> {
    match f.get(key) {
        None => Ok(None),
        Some(_) => Ok(Some(f.get_bool(key)?)),
    }
}

fn opt_id<D: AsRef<[u8]>>(f: &GgufFile<D>, key: &str) -> Result<Option<u64>, EngineError> {
    match f.get(key) {
        None => Ok(None),
        Some(_) => Ok(Some(f.get_uint(key)?)),
    }
}

/// The vocabulary's texts (`[EMPTY_i]` for empty ones, as llama.cpp names them), scores (0 when
/// absent) and attributes (normal when absent), each checked to cover every token.
#[allow(clippy::type_complexity)]
fn token_table<D: AsRef<[u8]>>(
    f: &GgufFile<D>,
) -> Result<(Vec<String>, Vec<f32>, Vec<u32>), EngineError> {
    let tokens: Vec<String> = f
        .get_str_array("tokenizer.ggml.tokens")?
        .enumerate()
        .map(|(i, s)| {
            if s.is_empty() {
                format!("[EMPTY_{i}]")
            } else {
                s.to_string()
            }
        })
        .collect();
    let n = tokens.len();
    if n == 0 || n > u32::MAX as usize {
        return Err(EngineError::Metadata(format!(
            "tokenizer.ggml.tokens has {n} entries"
        )));
    }
    let scores: Vec<f32> = match f.get("tokenizer.ggml.scores") {
        None => vec![0.0; n],
        Some(_) => f
            .get_scalar_array::<f32>("tokenizer.ggml.scores")?
            .take(n)
            .collect(),
    };
    if scores.len() < n {
        return Err(EngineError::Metadata(format!(
            "tokenizer.ggml.scores has {} entries for {n} tokens",
            scores.len()
        )));
    }
    let attrs: Vec<u32> = match f.get("tokenizer.ggml.token_type") {
        None => vec![attr::NORMAL; n],
        Some(_) => f
            .get_scalar_array::<i32>("tokenizer.ggml.token_type")?
            .take(n)
            .map(|t| match t {
                2 => attr::UNKNOWN,
                5 => attr::UNUSED,
                1 => attr::NORMAL,
                3 => attr::CONTROL,
                4 => attr::USER_DEFINED,
                6 => attr::BYTE,
                _ => 0,
            })
            .collect(),
    };
    if attrs.len() < n {
        return Err(EngineError::Metadata(format!(
            "tokenizer.ggml.token_type has {} entries for {n} tokens",
            attrs.len()
        )));
    }
    Ok((tokens, scores, attrs))
}

/// Adds the end-of-generation tokens found by text to `eog` (marking them control tokens) and
/// drops the ones that some vocabularies use otherwise (`llama_vocab::impl::load`).
fn end_of_generation(tokens: &[String], attrs: &mut [u32], eog: &mut BTreeSet<u32>) {
    for (id, text) in tokens.iter().enumerate() {
        if EOG_TEXTS.contains(&text.as_str()) {
            eog.insert(id as u32);
            attrs[id] |= attr::CONTROL;
        }
    }
    let with_text =
        |eog: &BTreeSet<u32>, t: &str| eog.iter().copied().find(|&i| tokens[i as usize] == t);
    // o200k_harmony / solar-open: "<|end|>" is not an end of generation there.
    let has = |eog: &BTreeSet<u32>, t: &str| with_text(eog, t).is_some();
    let call = has(eog, "<|call|>") || has(eog, "<|calls|>");
    if call && (has(eog, "<|return|>") || has(eog, "<|flush|>")) {
        if let Some(end) = with_text(eog, "<|end|>") {
            eog.remove(&end);
            attrs[end as usize] = attr::USER_DEFINED;
        }
    }
    // gemma4 and plamo: "</s>" is a normal token.
    if has(eog, "<|tool_response>") || has(eog, "<|plamo:eos|>") {
        if let Some(s_id) = with_text(eog, "</s>") {
            eog.remove(&s_id);
            attrs[s_id as usize] = attr::NORMAL;
        }
    }
}

impl Tokenizer {
    /// Builds the tokenizer a GGUF file describes (`tokenizer.ggml.model`, `.pre`, `.tokens`,
    /// `.scores`, `.token_type`, `.merges`, special token ids and `add_*` flags).
    pub fn from_gguf<D: AsRef<[u8]>>(f: &GgufFile<D>) -> Result<Tokenizer, EngineError> {
        let model = f.get_str("tokenizer.ggml.model")?;
        let (tokens, scores, mut attrs) = token_table(f)?;
        let n = tokens.len();
        // Later duplicates win, as `token_to_id[word] = i` does.
        let token_to_id: HashMap<String, u32> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();

        let (algo, mut bos, mut eos, mut unk, mut add_bos, mut add_space_prefix, clean_spaces) =
            match model {
                "gpt2" => {
                    let pre_name = match f.get("tokenizer.ggml.pre") {
                        None => "",
                        Some(_) => f.get_str("tokenizer.ggml.pre")?,
                    };
                    let (pre, ignore_merges, add_bos, clean) =
                        bpe_pre(pre_name).ok_or_else(|| EngineError::UnsupportedTokenizer {
                            what: format!("BPE pre-tokenizer `{pre_name}` (tokenizer.ggml.pre)"),
                        })?;
                    let mut ranks = HashMap::new();
                    for (i, m) in f.get_str_array("tokenizer.ggml.merges")?.enumerate() {
                        // `word.find(' ', 1)`: the separator is the first space after byte 0.
                        let sep = m.as_bytes().iter().skip(1).position(|&c| c == b' ');
                        let key = match sep {
                            Some(p) => format!("{} {}", &m[..p + 1], &m[p + 2..]),
                            None => " ".to_string(),
                        };
                        ranks.entry(key).or_insert(i as u32);
                    }
                    let algo = Algorithm::Bpe {
                        pre,
                        ranks,
                        ignore_merges,
                    };
                    (algo, Some(11), Some(11), None, add_bos, false, clean)
                }
                "llama" => (Algorithm::Spm, Some(1), Some(2), Some(0), true, true, false),
                other => {
                    return Err(EngineError::UnsupportedTokenizer {
                        what: format!("tokenizer model `{other}` (tokenizer.ggml.model)"),
                    })
                }
            };
        if let Some(v) = opt_bool(f, "tokenizer.ggml.add_space_prefix")? {
            add_space_prefix = v;
        }
        let in_range = |id: Option<u64>| id.filter(|&i| (i as usize) < n).map(|i| i as u32);
        let mut eot = None;
        let mut eom = None;
        for (key, slot) in [
            ("tokenizer.ggml.bos_token_id", &mut bos),
            ("tokenizer.ggml.eos_token_id", &mut eos),
            ("tokenizer.ggml.unknown_token_id", &mut unk),
            ("tokenizer.ggml.eot_token_id", &mut eot),
            ("tokenizer.ggml.eom_token_id", &mut eom),
        ] {
            *slot = slot.filter(|&i| (i as usize) < n);
            if let Some(id) = in_range(opt_id(f, key)?) {
                *slot = Some(id);
            }
        }
        let _ = unk;
        if let Some(v) = opt_bool(f, "tokenizer.ggml.add_bos_token")? {
            add_bos = v;
        }
        let add_eos = opt_bool(f, "tokenizer.ggml.add_eos_token")?.unwrap_or(false);

        // Auto-detected EOT/EOM/FIM and end-of-generation tokens by text
        // (`llama_vocab::impl::load`); they become control tokens.
        let mut fim: [Option<u32>; 6] = [None; 6];
        for (slot, key) in fim.iter_mut().zip(FIM_KEYS) {
            *slot = in_range(opt_id(f, key)?);
        }
        for (id, text) in tokens.iter().enumerate() {
            let id32 = id as u32;
            if eot.is_none() && EOT_TEXTS.contains(&text.as_str()) {
                eot = Some(id32);
                attrs[id] |= attr::CONTROL;
            }
            if eom.is_none() && text == "<|eom_id|>" {
                eom = Some(id32);
                attrs[id] |= attr::CONTROL;
            }
            for (slot, texts) in fim.iter_mut().zip(FIM_TEXTS) {
                if slot.is_none() && texts.contains(&text.as_str()) {
                    *slot = Some(id32);
                    attrs[id] |= attr::CONTROL;
                }
            }
        }
        let mut eog: BTreeSet<u32> = fim[3..].iter().flatten().copied().collect();
        eog.extend(eos.into_iter().chain(eot).chain(eom));
        end_of_generation(&tokens, &mut attrs, &mut eog);

        let mut specials: Vec<u32> = (0..n as u32)
            .filter(|&i| {
                attrs[i as usize] & (attr::CONTROL | attr::USER_DEFINED | attr::UNKNOWN) != 0
            })
            .collect();
        specials.sort_by_key(|&i| std::cmp::Reverse(tokens[i as usize].len()));

        let mut tok = Tokenizer {
            algo,
            tokens,
            scores,
            attrs,
            token_to_id,
            specials,
            pieces: Vec::new(),
            bos,
            eos,
            eot,
            eog,
            add_bos,
            add_eos,
            add_space_prefix,
            clean_spaces,
        };
        tok.pieces = (0..n as u32).map(|i| tok.render_piece(i)).collect();
        Ok(tok)
    }

    /// Number of tokens in the vocabulary.
    pub fn n_vocab(&self) -> usize {
        self.tokens.len()
    }
    /// BPE or SentencePiece.
    pub fn kind(&self) -> VocabKind {
        match self.algo {
            Algorithm::Bpe { .. } => VocabKind::Bpe,
            Algorithm::Spm => VocabKind::Spm,
        }
    }
    /// The beginning-of-sequence token.
    pub fn bos(&self) -> Option<u32> {
        self.bos
    }
    /// The end-of-sequence token.
    pub fn eos(&self) -> Option<u32> {
        self.eos
    }
    /// The end-of-turn token (`<|im_end|>`, `<|eot_id|>`, ...), named or detected by its text.
    pub fn eot(&self) -> Option<u32> {
        self.eot
    }
    /// Whether `encode(.., add_special = true, ..)` prepends BOS (`tokenizer.ggml.add_bos_token`).
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }
    /// Whether generation stops at `token` (`llama_vocab_is_eog`).
    pub fn is_eog(&self, token: u32) -> bool {
        self.eog.contains(&token)
    }
    /// The token's text as stored in the vocabulary.
    pub fn token_text(&self, token: u32) -> Option<&str> {
        self.tokens.get(token as usize).map(String::as_str)
    }
    /// The id of a token text, if the vocabulary has it.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.token_to_id.get(text).copied()
    }
    fn is_control_or_unknown(&self, token: u32) -> bool {
        self.attrs[token as usize] & (attr::CONTROL | attr::UNKNOWN) != 0
    }

    /// Tokenizes `text` as `llama_tokenize(vocab, text, add_special, parse_special)`:
    /// `add_special` adds BOS/EOS where the vocabulary asks for them; `parse_special` turns the
    /// text of control tokens (`<|im_start|>`) into those tokens (user-defined tokens always are).
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        let mut frags = Vec::new();
        if !text.is_empty() {
            frags.push(Fragment::Text {
                start: 0,
                len: text.len(),
            });
            self.partition_special(text, &mut frags, parse_special);
        }
        let mut out = Vec::new();
        match &self.algo {
            Algorithm::Spm => {
                let mut prev_special = true;
                if add_special && self.add_bos {
                    if let Some(b) = self.bos {
                        out.push(b);
                    }
                }
                for frag in &frags {
                    match *frag {
                        Fragment::Text { start, len } => {
                            let mut s = String::new();
                            if self.add_space_prefix && prev_special {
                                s.push(' ');
                            }
                            s.push_str(&text[start..start + len]);
                            let s = s.replace(' ', "\u{2581}");
                            self.spm_tokenize(&s, &mut out);
                            prev_special = false;
                        }
                        Fragment::Token(t) => {
                            out.push(t);
                            prev_special = true;
                        }
                    }
                }
                if add_special && self.add_eos {
                    if let Some(e) = self.eos {
                        out.push(e);
                    }
                }
            }
            Algorithm::Bpe {
                pre,
                ranks,
                ignore_merges,
            } => {
                if add_special && self.add_bos {
                    if let Some(b) = self.bos {
                        out.push(b);
                    }
                }
                for frag in &frags {
                    match *frag {
                        Fragment::Text { start, len } => self.bpe_tokenize(
                            &text[start..start + len],
                            *pre,
                            ranks,
                            *ignore_merges,
                            &mut out,
                        ),
                        Fragment::Token(t) => out.push(t),
                    }
                }
                if add_special && self.add_eos {
                    if let Some(e) = self.eos {
                        out.push(e);
                    }
                }
            }
        }
        out
    }

    /// `tokenizer_st_partition`: splits text fragments around every occurrence of each special
    /// token, longest tokens first.
    fn partition_special(&self, text: &str, frags: &mut Vec<Fragment>, parse_special: bool) {
        let bytes = text.as_bytes();
        let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r');
        for &id in &self.specials {
            let a = self.attrs[id as usize];
            if !parse_special && a & (attr::CONTROL | attr::UNKNOWN) != 0 {
                continue;
            }
            let tt = self.tokens[id as usize].as_str();
            if !frags
                .iter()
                .any(|f| matches!(f, Fragment::Text { start, len } if text[*start..*start + *len].contains(tt)))
            {
                continue;
            }
            let mut next = Vec::with_capacity(frags.len() + 2);
            for f in frags.iter() {
                let Fragment::Text { start, len } = *f else {
                    next.push(*f);
                    continue;
                };
                let (mut off, mut left) = (start, len);
                loop {
                    let Some(rel) = text[off..off + left].find(tt) else {
                        if left > 0 {
                            next.push(Fragment::Text {
                                start: off,
                                len: left,
                            });
                        }
                        break;
                    };
                    let m = off + rel;
                    if m > off {
                        let mut l = m - off;
                        if a & attr::LSTRIP != 0 {
                            while l > 0 && is_space(bytes[off + l - 1]) {
                                l -= 1;
                            }
                        }
                        if l > 0 {
                            next.push(Fragment::Text { start: off, len: l });
                        }
                    }
                    next.push(Fragment::Token(id));
                    let mut r_off = m + tt.len();
                    let mut r_len = off + left - r_off;
                    if r_len == 0 {
                        break;
                    }
                    if a & attr::RSTRIP != 0 {
                        while r_len > 0 && is_space(bytes[r_off]) {
                            r_off += 1;
                            r_len -= 1;
                        }
                    }
                    off = r_off;
                    left = r_len;
                    if left == 0 {
                        break;
                    }
                }
            }
            *frags = next;
        }
    }

    /// `llm_tokenizer_bpe_session::tokenize` for one text fragment.
    fn bpe_tokenize(
        &self,
        text: &str,
        pre: PreTokenizer,
        ranks: &HashMap<String, u32>,
        ignore_merges: bool,
        out: &mut Vec<u32>,
    ) {
        for word in split_words(text, pre) {
            let word = byte_encode(&word);
            if ignore_merges {
                if let Some(&t) = self.token_to_id.get(&word) {
                    out.push(t);
                    continue;
                }
            }
            for piece in bpe_merge(&word, ranks) {
                match self.token_to_id.get(piece) {
                    Some(&t) => out.push(t),
                    None => {
                        // llama.cpp looks up each byte of the encoded piece as a one-byte token.
                        for b in piece.bytes().filter(u8::is_ascii) {
                            if let Some(&t) = self.token_to_id.get(&(b as char).to_string()) {
                                out.push(t);
                            }
                        }
                    }
                }
            }
        }
    }

    /// `llm_tokenizer_spm_session::tokenize` on whitespace-escaped text.
    fn spm_tokenize(&self, text: &str, out: &mut Vec<u32>) {
        let mut syms: Vec<Sym> = Vec::new();
        for (i, (off, c)) in text.char_indices().enumerate() {
            syms.push(Sym {
                start: off,
                n: c.len_utf8(),
                prev: i as isize - 1,
                next: if off + c.len_utf8() == text.len() {
                    -1
                } else {
                    i as isize + 1
                },
            });
        }
        let mut queue = BinaryHeap::new();
        let mut rev_merge: HashMap<String, (usize, usize)> = HashMap::new();
        let try_add = |l: isize,
                       r: isize,
                       syms: &[Sym],
                       queue: &mut BinaryHeap<SpmBigram>,
                       rev: &mut HashMap<String, (usize, usize)>| {
            if l < 0 || r < 0 {
                return;
            }
            let (l, r) = (l as usize, r as usize);
            let s = &text[syms[l].start..syms[l].start + syms[l].n + syms[r].n];
            if let Some(&t) = self.token_to_id.get(s) {
                queue.push(SpmBigram {
                    score: self.scores[t as usize],
                    left: l,
                    right: r,
                    size: s.len(),
                });
                rev.insert(s.to_string(), (l, r));
            }
        };
        for i in 1..syms.len() {
            try_add(
                i as isize - 1,
                i as isize,
                &syms,
                &mut queue,
                &mut rev_merge,
            );
        }
        while let Some(b) = queue.pop() {
            let (ln, rn) = (syms[b.left].n, syms[b.right].n);
            if ln == 0 || rn == 0 || ln + rn != b.size {
                continue;
            }
            syms[b.left].n += rn;
            syms[b.right].n = 0;
            syms[b.left].next = syms[b.right].next;
            if syms[b.right].next >= 0 {
                let nx = syms[b.right].next as usize;
                syms[nx].prev = b.left as isize;
            }
            let (p, nx) = (syms[b.left].prev, syms[b.left].next);
            try_add(p, b.left as isize, &syms, &mut queue, &mut rev_merge);
            try_add(b.left as isize, nx, &syms, &mut queue, &mut rev_merge);
        }
        if syms.is_empty() {
            return;
        }
        let mut i: isize = 0;
        while i != -1 {
            let s = syms[i as usize];
            self.spm_resegment(text, &syms, s.start, s.n, &rev_merge, out);
            i = s.next;
        }
    }

    fn spm_resegment(
        &self,
        text: &str,
        syms: &[Sym],
        start: usize,
        n: usize,
        rev: &HashMap<String, (usize, usize)>,
        out: &mut Vec<u32>,
    ) {
        let s = &text[start..start + n];
        if let Some(&t) = self.token_to_id.get(s) {
            out.push(t);
            return;
        }
        match rev.get(s) {
            Some(&(l, r)) => {
                self.spm_resegment(text, syms, syms[l].start, syms[l].n, rev, out);
                self.spm_resegment(text, syms, syms[r].start, syms[r].n, rev, out);
            }
            None => {
                for b in s.bytes() {
                    if let Some(t) = self.spm_byte_token(b) {
                        out.push(t);
                    }
                }
            }
        }
    }

    /// `byte_to_token` of a SentencePiece vocabulary: `<0xXX>`, else the byte as text.
    fn spm_byte_token(&self, b: u8) -> Option<u32> {
        self.token_to_id
            .get(&format!("<0x{b:02X}>"))
            .or_else(|| {
                if b.is_ascii() {
                    self.token_to_id.get(&(b as char).to_string())
                } else {
                    None
                }
            })
            .copied()
    }

    /// `token_to_piece(token, special = true)` without lstrip: the bytes a token stands for.
    fn render_piece(&self, token: u32) -> Vec<u8> {
        let a = self.attrs[token as usize];
        let text = &self.tokens[token as usize];
        if a & (attr::UNKNOWN | attr::CONTROL | attr::USER_DEFINED) != 0 {
            return text.as_bytes().to_vec();
        }
        match self.algo {
            Algorithm::Spm => {
                if a & attr::NORMAL != 0 {
                    text.replace('\u{2581}', " ").into_bytes()
                } else if a & attr::BYTE != 0 {
                    text.get(3..5)
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                        .map_or_else(Vec::new, |b| vec![b])
                } else {
                    Vec::new()
                }
            }
            Algorithm::Bpe { .. } => {
                if a & attr::NORMAL != 0 {
                    let mut out = Vec::with_capacity(text.len());
                    for c in text.chars() {
                        match char_to_byte(c) {
                            Some(b) => out.push(b),
                            None => {
                                // llama_decode_text's marker for a character outside the map.
                                out.extend_from_slice(b"[UNK_BYTE_0x");
                                let mut buf = [0u8; 4];
                                for b in c.encode_utf8(&mut buf).bytes() {
                                    out.extend_from_slice(format!("{b:02x}").as_bytes());
                                }
                                out.extend_from_slice(text.as_bytes());
                                out.push(b']');
                            }
                        }
                    }
                    out
                } else if a & attr::BYTE != 0 {
                    text.get(3..5)
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                        .map_or_else(Vec::new, |b| vec![b])
                } else {
                    Vec::new()
                }
            }
        }
    }

    /// The bytes of one token (`llama_token_to_piece`); control and unknown tokens are empty
    /// unless `special`.
    pub fn token_to_piece(&self, token: u32, special: bool) -> &[u8] {
        match self.pieces.get(token as usize) {
            Some(p) if special || !self.is_control_or_unknown(token) => p,
            _ => &[],
        }
    }

    /// Text of `tokens` as `llama_detokenize(.., remove_special = false, unparse_special =
    /// false)`: control tokens render as nothing; invalid UTF-8 becomes U+FFFD.
    pub fn decode(&self, tokens: &[u32]) -> String {
        String::from_utf8_lossy(&self.decode_bytes(tokens, false)).into_owned()
    }

    /// The bytes of `tokens`, with control tokens rendered when `special`.
    pub fn decode_bytes(&self, tokens: &[u32], special: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut remove_space = self.add_space_prefix;
        for &t in tokens {
            let mut p = self.token_to_piece(t, special);
            if remove_space && p.first() == Some(&b' ') {
                p = &p[1..];
            }
            remove_space = false;
            out.extend_from_slice(p);
        }
        if self.clean_spaces {
            out = clean_up_spaces(&out);
        }
        out
    }
}

/// The three clean-up passes of `llama_vocab::impl::detokenize` (`clean_spaces`).
fn clean_up_spaces(text: &[u8]) -> Vec<u8> {
    let mut t = text.to_vec();
    // " ?", " !", " .", " ,": drop the space.
    let mut out: Vec<u8> = Vec::with_capacity(t.len());
    for (i, &x) in t.iter().enumerate() {
        if i > 0 && t[i - 1] == b' ' && matches!(x, b'?' | b'!' | b'.' | b',') {
            out.pop();
        }
        out.push(x);
    }
    t = out;
    // " ' ": drop both spaces.
    // llama.cpp overwrites the skipped space with NUL, which later checks then see.
    let mut out: Vec<u8> = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < t.len() {
        let x = t[i];
        if i > 0 && x == b'\'' && i + 1 < t.len() && t[i - 1] == b' ' && t[i + 1] == b' ' {
            out.pop();
            out.push(x);
            t[i + 1] = 0;
            i += 2;
            continue;
        }
        out.push(x);
        i += 1;
    }
    t = out;
    // " 's", " 'm", " 're", " 've": drop the space.
    let mut out: Vec<u8> = Vec::with_capacity(t.len());
    for i in 0..t.len() {
        let x = t[i];
        if i > 0 && t[i - 1] == b' ' && x == b'\'' && i + 1 < t.len() {
            let x1 = t[i + 1];
            let x2 = t.get(i + 2).copied();
            if matches!(x1, b's' | b'm')
                || (i + 2 < t.len() && matches!((x1, x2), (b'r', Some(b'e')) | (b'v', Some(b'e'))))
            {
                out.pop();
            }
        }
        out.push(x);
    }
    out
}

/// One symbol of the merge loops: a byte range of the word and its neighbours.
#[derive(Debug, Clone, Copy)]
struct Sym {
    start: usize,
    n: usize,
    prev: isize,
    next: isize,
}

/// A candidate SentencePiece merge: highest score first, then leftmost.
#[derive(Debug)]
struct SpmBigram {
    score: f32,
    left: usize,
    right: usize,
    size: usize,
}

impl PartialEq for SpmBigram {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for SpmBigram {}
impl PartialOrd for SpmBigram {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for SpmBigram {
    fn cmp(&self, o: &Self) -> Ordering {
        self.score
            .total_cmp(&o.score)
            .then_with(|| o.left.cmp(&self.left))
    }
}

/// A candidate BPE merge: lowest rank first, then leftmost.
#[derive(Debug, PartialEq, Eq)]
struct BpeBigram {
    rank: u32,
    left: usize,
    right: usize,
    text: String,
}

impl PartialOrd for BpeBigram {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for BpeBigram {
    fn cmp(&self, o: &Self) -> Ordering {
        o.rank.cmp(&self.rank).then_with(|| o.left.cmp(&self.left))
    }
}

/// Merges the characters of one byte-encoded word by rank; returns the final pieces in order.
fn bpe_merge<'w>(word: &'w str, ranks: &HashMap<String, u32>) -> Vec<&'w str> {
    let mut syms: Vec<Sym> = Vec::new();
    for (i, (off, c)) in word.char_indices().enumerate() {
        syms.push(Sym {
            start: off,
            n: c.len_utf8(),
            prev: i as isize - 1,
            next: if off + c.len_utf8() == word.len() {
                -1
            } else {
                i as isize + 1
            },
        });
    }
    let text = |s: &Sym| &word[s.start..s.start + s.n];
    let mut queue = BinaryHeap::new();
    let add = |l: isize, r: isize, syms: &[Sym], q: &mut BinaryHeap<BpeBigram>| {
        if l < 0 || r < 0 {
            return;
        }
        let (l, r) = (l as usize, r as usize);
        let (lt, rt) = (text(&syms[l]), text(&syms[r]));
        let mut key = String::with_capacity(lt.len() + rt.len() + 1);
        key.push_str(lt);
        key.push(' ');
        key.push_str(rt);
        if let Some(&rank) = ranks.get(&key) {
            q.push(BpeBigram {
                rank,
                left: l,
                right: r,
                text: format!("{lt}{rt}"),
            });
        }
    };
    for i in 1..syms.len() {
        add(i as isize - 1, i as isize, &syms, &mut queue);
    }
    while let Some(b) = queue.pop() {
        let (l, r) = (syms[b.left], syms[b.right]);
        if l.n == 0 || r.n == 0 {
            continue;
        }
        // Stale if either side changed since the bigram was queued.
        if l.start + l.n != r.start || word[l.start..r.start + r.n] != *b.text {
            continue;
        }
        syms[b.left].n += r.n;
        syms[b.right].n = 0;
        syms[b.left].next = r.next;
        if r.next >= 0 {
            syms[r.next as usize].prev = b.left as isize;
        }
        let (p, nx) = (syms[b.left].prev, syms[b.left].next);
        add(p, b.left as isize, &syms, &mut queue);
        add(b.left as isize, nx, &syms, &mut queue);
    }
    syms.iter().filter(|s| s.n > 0).map(text).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_up_spaces_matches_llama_cpp() {
        let t = |s: &str| String::from_utf8(clean_up_spaces(s.as_bytes())).unwrap();
        assert_eq!(t("Hello , world !"), "Hello, world!");
        assert_eq!(t("it ' s"), "it's");
        assert_eq!(t("he 's here and they 're"), "he's here and they're");
        assert_eq!(t("don 't"), "don 't");
    }

    #[test]
    fn bpe_merges_by_rank() {
        let ranks: HashMap<String, u32> = [("a b", 1), ("b c", 0), ("a bc", 2)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(bpe_merge("abc", &ranks), ["abc"]);
        assert_eq!(bpe_merge("abd", &ranks), ["ab", "d"]);
    }
}
