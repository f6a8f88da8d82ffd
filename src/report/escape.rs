//! Untrusted strings (model names, architectures, token pieces, file paths) on a terminal: control
//! characters are shown, never executed. A `general.name` holding `ESC ] 0 ;` retitles the
//! window and `ESC [ 2 J` clears the screen when printed raw; escaped, they read `\u{1b}]0;`.
//! JSON output is not escaped this way (serde's escaping is exact).

use std::borrow::Cow;

/// Whether `c` must not reach a terminal raw: C0 and C1 controls, DEL, and the bidirectional
/// overrides and isolates that reorder what follows them on screen.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escape(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) && !keep(c) {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                _ => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// For one-line fields (names, paths, error messages): every control character escaped,
/// newlines and tabs included.
pub fn escape_line(s: &str) -> Cow<'_, str> {
    escape(s, |_| false)
}

/// For running text (generated text, prompts): newlines and tabs kept, every other control
/// character escaped.
pub fn escape_text(s: &str) -> Cow<'_, str> {
    escape(s, |c| c == '\n' || c == '\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_shown_not_executed() {
        assert!(matches!(escape_line("SmolLM2 135M"), Cow::Borrowed(_)));
        assert_eq!(
            escape_line("a\u{1b}]0;pwned\u{7}\u{1b}[2Jb"),
            "a\\u{1b}]0;pwned\\u{7}\\u{1b}[2Jb"
        );
        assert_eq!(escape_line("x\ny\tz\r"), "x\\ny\\tz\\r");
        assert_eq!(escape_text("x\ny\tz\r"), "x\ny\tz\\r");
        assert_eq!(escape_line("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(escape_line("abc\u{202e}fdp.exe"), "abc\\u{202e}fdp.exe");
        assert_eq!(escape_line("\u{7f}"), "\\u{7f}");
        assert_eq!(escape_line("héllo 日本"), "héllo 日本");
    }
}
