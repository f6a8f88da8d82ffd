//! Colour for the few things a person should see at a glance: verdicts and warnings.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Bad,
    Warn,
}

/// `text` in the tone's ANSI colour when `enabled`, else unchanged.
pub fn paint(text: &str, tone: Tone, enabled: bool) -> String {
    if !enabled {
        return text.to_string();
    }
    let code = match tone {
        Tone::Good => "32",
        Tone::Bad => "31",
        Tone::Warn => "33",
    };
    format!("\x1b[1;{code}m{text}\x1b[0m")
}

/// `text` in the tone's colour if the process-wide context has colour on.
pub fn tone(text: &str, tone: Tone) -> String {
    paint(text, tone, super::context::context().color)
}
