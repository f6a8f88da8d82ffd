//! How this process renders: the output format, the width tables must fit, ASCII borders and
//! colour. Decided once by the binary from flags, the environment and the terminal; renderers read it.

use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[default]
    Table,
    Json,
    Md,
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderContext {
    pub format: Format,
    /// Columns a text table must fit in; `None` = unlimited (output piped without COLUMNS).
    pub width: Option<usize>,
    /// Plain ASCII borders (piped output) instead of box drawing.
    pub ascii: bool,
    /// ANSI colour for verdicts and warnings.
    pub color: bool,
}

impl Default for RenderContext {
    fn default() -> Self {
        Self {
            format: Format::Table,
            width: None,
            ascii: false,
            color: false,
        }
    }
}

/// The width rule: a terminal's own width, 80 when it reports none or zero (`script`, some CI
/// logs); when piped, `COLUMNS` if set, else unlimited.
pub fn width_for(
    is_terminal: bool,
    terminal_width: Option<usize>,
    columns_env: Option<&str>,
) -> Option<usize> {
    let env = columns_env
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0);
    if is_terminal {
        Some(env.or(terminal_width.filter(|&w| w > 0)).unwrap_or(80))
    } else {
        env
    }
}

static CONTEXT: OnceLock<RenderContext> = OnceLock::new();

/// Sets the process-wide context; the first call wins.
pub fn set_context(ctx: RenderContext) {
    let _ = CONTEXT.set(ctx);
}

/// The process-wide context (the default until the binary sets one).
pub fn context() -> RenderContext {
    CONTEXT.get().copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::width_for;

    #[test]
    fn width_rule() {
        assert_eq!(width_for(true, Some(120), None), Some(120));
        assert_eq!(width_for(true, Some(0), None), Some(80));
        assert_eq!(width_for(true, None, None), Some(80));
        assert_eq!(width_for(true, Some(120), Some("90")), Some(90));
        assert_eq!(width_for(false, None, None), None);
        assert_eq!(width_for(false, None, Some("80")), Some(80));
        assert_eq!(width_for(false, None, Some("0")), None);
    }
}
