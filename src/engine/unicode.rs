//! Code point classes and the pre-tokenizer splitters, ported from llama.cpp's `src/unicode.cpp`
//! so that text splits into exactly the words llama.cpp splits it into: the hand-written GPT-2,
//! Llama-3 and Qwen2 splitters (`unicode_regex_split_custom_*`), the single-digit split that
//! `"\\p{N}"` performs through `std::regex`, and GPT-2's byte-to-unicode mapping.

use std::sync::OnceLock;

use super::unicode_data::{LOWER_TO_ASCII, RANGES_FLAGS, WHITESPACE};

/// `unicode_cpt_flags` bits (`src/unicode.h`).
pub(crate) mod flag {
    pub const UNDEFINED: u16 = 0x0001;
    pub const NUMBER: u16 = 0x0002;
    pub const LETTER: u16 = 0x0004;
    pub const WHITESPACE: u16 = 0x0100;
}

/// Category flags of a code point (`unicode_cpt_flags_from_cpt`): the range table plus the
/// whitespace bit.
pub(crate) fn cpt_flags(cpt: u32) -> u16 {
    if cpt >= 0x110000 {
        return flag::UNDEFINED;
    }
    // The last range starting at or before `cpt`.
    let i = RANGES_FLAGS.partition_point(|&(start, _)| start <= cpt);
    let mut f = RANGES_FLAGS[i.saturating_sub(1)].1;
    if WHITESPACE.binary_search(&cpt).is_ok() {
        f |= flag::WHITESPACE;
    }
    f
}

/// Flags of the code point at `pos`, or 0 outside the current segment (llama.cpp's
/// `_get_flags` returning `unicode_cpt_flags{}`).
#[derive(Clone, Copy)]
struct Flags(u16);

impl Flags {
    fn letter(self) -> bool {
        self.0 & flag::LETTER != 0
    }
    fn number(self) -> bool {
        self.0 & flag::NUMBER != 0
    }
    fn whitespace(self) -> bool {
        self.0 & flag::WHITESPACE != 0
    }
    /// `as_uint() != 0`: any code point inside the segment.
    fn any(self) -> bool {
        self.0 != 0
    }
}

/// The two letters of `'re`, `'ve` or `'ll` after an apostrophe.
fn is_re_ve_ll(a: u32, b: u32) -> bool {
    matches!(
        (char::from_u32(a), char::from_u32(b)),
        (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l'))
    )
}

/// `unicode_tolower` for the only use the splitters make of it: comparing with ASCII letters.
fn to_lower_ascii(cpt: u32) -> u32 {
    match cpt {
        0x41..=0x5A => cpt + 32,
        _ => LOWER_TO_ASCII
            .iter()
            .find(|&&(u, _)| u == cpt)
            .map_or(cpt, |&(_, l)| u32::from(l)),
    }
}

/// The pre-tokenizer of a BPE vocabulary (`llm_tokenizer_bpe` in `src/llama-vocab.cpp`), as the
/// sequence of splitting passes llama.cpp runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreTokenizer {
    /// GPT-2's regex (`'s|'t|... ?\p{L}+| ?\p{N}+|...`): `gpt2`, `mpt`, `olmo`, ...
    Gpt2,
    /// Every digit on its own, then GPT-2's regex: `smollm`, `starcoder`, `refact`, `command-r`, ...
    DigitsThenGpt2,
    /// Llama 3's regex (numbers in runs of at most three digits): `llama-bpe`, `llama3`, ...
    Llama3,
    /// Qwen2's regex (single digits): `qwen2`, `deepseek-r1-qwen`, `stablelm2`, ...
    Qwen2,
}

/// Splits `text` into pre-tokenizer words (`unicode_regex_split`), each a range of code point
/// indices; returns the code points and the word lengths.
pub(crate) fn split_words(text: &str, pre: PreTokenizer) -> Vec<String> {
    let cpts: Vec<u32> = text.chars().map(u32::from).collect();
    let mut offsets = vec![cpts.len()];
    if pre == PreTokenizer::DigitsThenGpt2 {
        offsets = split_each_number(&cpts, &offsets);
    }
    offsets = match pre {
        PreTokenizer::Gpt2 | PreTokenizer::DigitsThenGpt2 => split_gpt2(&cpts, &offsets),
        PreTokenizer::Llama3 => split_llama3_qwen2(&cpts, &offsets, Some(3)),
        PreTokenizer::Qwen2 => split_llama3_qwen2(&cpts, &offsets, Some(1)),
    };
    let mut words = Vec::with_capacity(offsets.len());
    let mut start = 0;
    for len in offsets {
        words.push(
            cpts[start..start + len]
                .iter()
                .filter_map(|&c| char::from_u32(c))
                .collect(),
        );
        start += len;
    }
    words
}

/// `"\\p{N}"` through `unicode_regex_split_stl`: every number code point becomes its own segment
/// and the runs between them stay whole.
fn split_each_number(cpts: &[u32], offsets: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(offsets.len());
    let mut start = 0;
    for &len in offsets {
        let seg = &cpts[start..start + len];
        let mut run = 0;
        for &c in seg {
            // ASCII digits are kept as is in the collapsed text; other code points whose category
            // is NUMBER (and not whitespace) collapse to the \p{N} marker.
            let f = cpt_flags(c);
            let is_num = if c < 128 {
                (0x30..=0x39).contains(&c)
            } else {
                f & flag::WHITESPACE == 0 && f & 0xFF == flag::NUMBER
            };
            if is_num {
                if run > 0 {
                    out.push(run);
                    run = 0;
                }
                out.push(1);
            } else {
                run += 1;
            }
        }
        if run > 0 {
            out.push(run);
        }
        start += len;
    }
    out
}

/// `unicode_regex_split_custom_gpt2`:
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
fn split_gpt2(cpts: &[u32], offsets: &[usize]) -> Vec<usize> {
    const OUT: u32 = u32::MAX;
    let mut out = Vec::with_capacity(offsets.len());
    let mut start = 0;
    for &len in offsets {
        let (ini, end) = (start, start + len);
        start = end;
        let cpt = |p: usize| if p >= ini && p < end { cpts[p] } else { OUT };
        let flags = |p: usize| {
            Flags(if p >= ini && p < end {
                cpt_flags(cpts[p])
            } else {
                0
            })
        };
        let mut prev_end = ini;
        let mut add = |e: usize, out: &mut Vec<usize>| -> usize {
            let n = e - prev_end;
            if n > 0 {
                out.push(n);
            }
            prev_end = e;
            n
        };
        let mut pos = ini;
        while pos < end {
            let c = cpt(pos);
            let f = flags(pos);
            if c == u32::from('\'') && pos + 1 < end {
                let n = cpt(pos + 1);
                if [b's', b't', b'm', b'd'].iter().any(|&x| n == u32::from(x)) {
                    pos += add(pos + 2, &mut out);
                    continue;
                }
                if pos + 2 < end {
                    let nn = cpt(pos + 2);
                    if is_re_ve_ll(n, nn) {
                        pos += add(pos + 3, &mut out);
                        continue;
                    }
                }
            }
            let space = c == u32::from(' ');
            let mut f2 = if space { flags(pos + 1) } else { f };
            if f2.letter() {
                pos += usize::from(space);
                while f2.letter() {
                    pos += 1;
                    f2 = flags(pos);
                }
                add(pos, &mut out);
                continue;
            }
            if f2.number() {
                pos += usize::from(space);
                while f2.number() {
                    pos += 1;
                    f2 = flags(pos);
                }
                add(pos, &mut out);
                continue;
            }
            if !(f2.whitespace() || f2.letter() || f2.number()) && f2.any() {
                pos += usize::from(space);
                while !(f2.whitespace() || f2.letter() || f2.number()) && f2.any() {
                    pos += 1;
                    f2 = flags(pos);
                }
                add(pos, &mut out);
                continue;
            }
            let mut n_ws = 0;
            while flags(pos + n_ws).whitespace() {
                n_ws += 1;
            }
            if n_ws > 1 && cpt(pos + n_ws) != OUT {
                pos += n_ws - 1;
                add(pos, &mut out);
                continue;
            }
            if n_ws > 0 {
                pos += n_ws;
                add(pos, &mut out);
                continue;
            }
            pos += 1;
            add(pos, &mut out);
        }
    }
    out
}

/// `unicode_regex_split_custom_llama3` (`max_digits` 3) and `unicode_regex_split_custom_qwen2`
/// (`max_digits` 1): `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,k}|
/// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
fn split_llama3_qwen2(cpts: &[u32], offsets: &[usize], max_digits: Option<usize>) -> Vec<usize> {
    const OUT: u32 = u32::MAX;
    let max_digits = max_digits.unwrap_or(usize::MAX);
    let mut out = Vec::with_capacity(offsets.len());
    let mut start = 0;
    let is_rn = |c: u32| c == u32::from('\r') || c == u32::from('\n');
    for &len in offsets {
        let (ini, end) = (start, start + len);
        start = end;
        let cpt = |p: usize| if p >= ini && p < end { cpts[p] } else { OUT };
        let flags = |p: usize| {
            Flags(if p >= ini && p < end {
                cpt_flags(cpts[p])
            } else {
                0
            })
        };
        let mut prev_end = ini;
        let mut add = |e: usize, out: &mut Vec<usize>| -> usize {
            let n = e - prev_end;
            if n > 0 {
                out.push(n);
            }
            prev_end = e;
            n
        };
        let mut pos = ini;
        while pos < end {
            let c = cpt(pos);
            let f = flags(pos);
            if c == u32::from('\'') && pos + 1 < end {
                let n = to_lower_ascii(cpt(pos + 1));
                if [b's', b't', b'm', b'd'].iter().any(|&x| n == u32::from(x)) {
                    pos += add(pos + 2, &mut out);
                    continue;
                }
                if pos + 2 < end {
                    let nn = to_lower_ascii(cpt(pos + 2));
                    if is_re_ve_ll(n, nn) {
                        pos += add(pos + 3, &mut out);
                        continue;
                    }
                }
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if !(is_rn(c) || f.number()) && (f.letter() || flags(pos + 1).letter()) {
                pos += 1;
                while flags(pos).letter() {
                    pos += 1;
                }
                add(pos, &mut out);
                continue;
            }
            // \p{N}{1,k}
            if f.number() {
                let mut first = pos;
                while flags(pos).number() {
                    pos += 1;
                    if pos - first >= max_digits {
                        add(pos, &mut out);
                        first = pos;
                    }
                }
                add(pos, &mut out);
                continue;
            }
            // <space>?[^\s\p{L}\p{N}]+[\r\n]*
            let space = c == u32::from(' ');
            let mut f2 = if space { flags(pos + 1) } else { f };
            if !(f2.whitespace() || f2.letter() || f2.number()) && f.any() {
                pos += usize::from(space);
                while !(f2.whitespace() || f2.letter() || f2.number()) && f2.any() {
                    pos += 1;
                    f2 = flags(pos);
                }
                while is_rn(cpt(pos)) {
                    pos += 1;
                }
                add(pos, &mut out);
                continue;
            }
            let mut n_ws = 0;
            let mut last_rn_end = 0;
            while flags(pos + n_ws).whitespace() {
                if is_rn(cpt(pos + n_ws)) {
                    last_rn_end = pos + n_ws + 1;
                }
                n_ws += 1;
            }
            // \s*[\r\n]+
            if last_rn_end > 0 {
                pos = last_rn_end;
                add(pos, &mut out);
                continue;
            }
            // \s+(?!\S)
            if n_ws > 1 && cpt(pos + n_ws) != OUT {
                pos += n_ws - 1;
                add(pos, &mut out);
                continue;
            }
            if n_ws > 0 {
                pos += n_ws;
                add(pos, &mut out);
                continue;
            }
            pos += 1;
            add(pos, &mut out);
        }
    }
    out
}

/// GPT-2's `bytes_to_unicode`: byte -> the code point standing for it in BPE vocabularies.
fn byte_to_cpt_table() -> &'static [char; 256] {
    static TABLE: OnceLock<[char; 256]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = ['\0'; 256];
        let mut n = 0u32;
        for b in 0..256u32 {
            let printable = (0x21..=0x7E).contains(&b)
                || (0xA1..=0xAC).contains(&b)
                || (0xAE..=0xFF).contains(&b);
            let cpt = if printable {
                b
            } else {
                n += 1;
                255 + n
            };
            t[b as usize] = char::from_u32(cpt).expect("code points below 0x200 are valid chars");
        }
        t
    })
}

/// `unicode_byte_to_utf8`: the vocabulary character of one byte.
pub(crate) fn byte_to_char(b: u8) -> char {
    byte_to_cpt_table()[usize::from(b)]
}

/// `unicode_utf8_to_byte`: the byte a vocabulary character stands for.
pub(crate) fn char_to_byte(c: char) -> Option<u8> {
    let cpt = u32::from(c);
    match cpt {
        0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF => Some(cpt as u8),
        0x100..=0x143 => byte_to_cpt_table()
            .iter()
            .position(|&x| x == c)
            .map(|b| b as u8),
        _ => None,
    }
}

/// `unicode_byte_encoding_process` for one word: every UTF-8 byte as its vocabulary character.
pub(crate) fn byte_encode(word: &str) -> String {
    word.bytes().map(byte_to_char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str, pre: PreTokenizer) -> Vec<String> {
        split_words(text, pre)
    }

    #[test]
    fn flags_follow_llama_cpp_categories() {
        assert_eq!(cpt_flags('a' as u32) & 0xFF, flag::LETTER);
        assert_eq!(cpt_flags('7' as u32) & 0xFF, flag::NUMBER);
        assert_ne!(cpt_flags(' ' as u32) & flag::WHITESPACE, 0);
        assert_ne!(cpt_flags(0x3000) & flag::WHITESPACE, 0);
        assert_eq!(cpt_flags('é' as u32) & 0xFF, flag::LETTER);
        assert_eq!(cpt_flags('²' as u32) & 0xFF, flag::NUMBER);
        assert_eq!(cpt_flags(0x10FFFF) & 0xFF, flag::UNDEFINED);
    }

    #[test]
    fn byte_mapping_round_trips() {
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(byte_to_char(b)), Some(b));
        }
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
    }

    #[test]
    fn gpt2_words() {
        assert_eq!(
            split("Hello world's  end\n\n", PreTokenizer::Gpt2),
            ["Hello", " world", "'s", " ", " end", "\n\n"]
        );
        assert_eq!(
            split(" 1234 abc", PreTokenizer::DigitsThenGpt2),
            [" ", "1", "2", "3", "4", " abc"]
        );
    }

    #[test]
    fn llama3_and_qwen2_words() {
        assert_eq!(
            split("I'M 12345 ok!!\n  x", PreTokenizer::Llama3),
            ["I", "'M", " ", "123", "45", " ok", "!!\n", " ", " x"]
        );
        assert_eq!(
            split("x 123", PreTokenizer::Qwen2),
            ["x", " ", "1", "2", "3"]
        );
    }
}
