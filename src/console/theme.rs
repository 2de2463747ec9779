//! The control room's theme: a [`Style`] per role.
//!
//! This module owns the roles (what a piece of the screen *means*: ok,
//! failed, stale, a key label), parsing `themes/*.toml` (the embedded
//! `themes/default.toml` overlaid with the user's file) and `NO_COLOR`.
//! Views read the styles from [`Theme`] and never name a colour themselves,
//! so a theme, a 16-colour terminal or `NO_COLOR` changes every screen at
//! once. The format is documented in `docs/keys-and-themes.md`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use toml::Spanned;

use super::user_config::overlay_user_file;
use crate::text::line_at;

/// The embedded default theme: only the 16 ANSI colours, so it suits any
/// colour terminal.
const DEFAULT_THEME: &str = include_str!("../../themes/default.toml");

/// Declares the roles once: the struct's fields, the names a theme file
/// uses, and the lookup by name, so the three cannot drift apart.
macro_rules! roles {
    ($( $(#[doc = $doc:literal])* $role:ident ),* $(,)?) => {
        /// A style per role. Build it with [`Theme::load`] (what the control
        /// room uses), [`Theme::default_theme`] or [`Theme::from_toml`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct Theme {
            $( $(#[doc = $doc])* pub $role: Style, )*
        }

        impl Theme {
            /// Every role's name, in declaration order: the keys `[roles]`
            /// accepts.
            pub const ROLES: &'static [&'static str] = &[$( stringify!($role) ),*];

            /// Every role with its style, in declaration order.
            pub fn roles(&self) -> Vec<(&'static str, Style)> {
                vec![$( (stringify!($role), self.$role) ),*]
            }

            fn role_mut(&mut self, name: &str) -> Option<&mut Style> {
                match name {
                    $( stringify!($role) => Some(&mut self.$role), )*
                    _ => None,
                }
            }
        }
    };
}

roles! {
    /// Ordinary text.
    text,
    /// Text that matters less: labels, separators, idle hosts.
    muted,
    border,
    title,
    /// Table headers and the top bar.
    header,
    /// The selected row (the ▶ marker makes selection readable without
    /// colour).
    selection,
    /// Live, ok checks.
    state_ok,
    /// Shadow, paper, canary soaking.
    state_progress,
    /// Awaiting approval.
    state_attention,
    /// Rolled back, failing checks, refused replies.
    state_failed,
    /// Halted: the loudest.
    state_halted,
    /// Stale data, link down, no data: must never look like ok.
    stale,
    gauge,
    /// A gauge near its limit.
    gauge_warn,
    sparkline,
    dialog,
    dialog_border,
    /// Text being typed: a dialog's reason, the filter, the command line.
    input,
    /// Key labels in the footer and on the help screen.
    key,
}

impl Theme {
    /// The embedded default overlaid with the user's file: `$GANTRY_THEME`,
    /// else `$XDG_CONFIG_HOME/gantry/theme.toml`, else
    /// `~/.config/gantry/theme.toml`. A missing file at a default path is
    /// fine; a file named by `$GANTRY_THEME` must exist, and any file found
    /// must read and parse. `no_color` drops every colour (see
    /// [`Theme::no_color_from_env`]).
    pub fn load(no_color: bool) -> Result<Self, ThemeError> {
        Self::load_with(&|name| std::env::var_os(name), no_color)
    }

    fn load_with(
        env: &dyn Fn(&str) -> Option<OsString>,
        no_color: bool,
    ) -> Result<Self, ThemeError> {
        let mut theme = Self::default_theme(false);
        overlay_user_file(
            env,
            "GANTRY_THEME",
            "theme.toml",
            |text, origin| theme.overlay(text, origin),
            |path, source| ThemeError::Read { path, source },
        )?;
        Ok(theme.colours(no_color))
    }

    /// A theme from one file alone (roles it leaves out are plain).
    /// `origin` names the file in error messages.
    pub fn from_toml(text: &str, origin: &str, no_color: bool) -> Result<Self, ThemeError> {
        let mut theme = Theme::default();
        theme.overlay(text, origin)?;
        Ok(theme.colours(no_color))
    }

    /// The embedded `themes/default.toml`.
    pub fn default_theme(no_color: bool) -> Self {
        // The embedded file is tested to parse (`default_theme_parses`), so
        // this only fails on a build whose own file is broken.
        Self::from_toml(DEFAULT_THEME, "themes/default.toml (embedded)", no_color)
            .expect("the embedded default theme parses; see its test")
    }

    /// `NO_COLOR` is set and not empty (https://no-color.org).
    pub fn no_color_from_env() -> bool {
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
    }

    /// Lays `text` over this theme, field by field: a role's `fg`, `bg` or
    /// `modifiers` in the file replaces that field, and what the file leaves
    /// out stays. On error the theme is unchanged.
    pub fn overlay(&mut self, text: &str, origin: &str) -> Result<(), ThemeError> {
        let invalid = |line: usize, problem: ThemeProblem| ThemeError::Invalid {
            origin: origin.to_string(),
            line,
            problem,
        };
        let raw: RawTheme = toml::from_str(text).map_err(|e| {
            let (line, message) = crate::text::toml_error(text, &e);
            invalid(line, ThemeProblem::Toml(message))
        })?;

        // A map loses file order; sorting by position reports the first
        // mistake in the file first.
        let mut roles: Vec<(String, Spanned<RawStyle>)> = raw.roles.into_iter().collect();
        roles.sort_by_key(|(_, style)| style.span().start);

        let mut theme = *self;
        for (name, raw_style) in roles {
            let role_line = line_at(text, raw_style.span().start);
            let style = theme.role_mut(&name).ok_or_else(|| {
                invalid(role_line, ThemeProblem::UnknownRole { role: name.clone() })
            })?;
            let raw_style = raw_style.into_inner();
            let colour = |value: &Spanned<String>| {
                parse_colour(value.get_ref()).ok_or_else(|| {
                    invalid(
                        line_at(text, value.span().start),
                        ThemeProblem::UnknownColour {
                            colour: value.get_ref().clone(),
                        },
                    )
                })
            };
            if let Some(fg) = &raw_style.fg {
                style.fg = Some(colour(fg)?);
            }
            if let Some(bg) = &raw_style.bg {
                style.bg = Some(colour(bg)?);
            }
            if let Some(names) = &raw_style.modifiers {
                let mut modifiers = Modifier::empty();
                for name in names {
                    modifiers |= parse_modifier(name.get_ref()).ok_or_else(|| {
                        invalid(
                            line_at(text, name.span().start),
                            ThemeProblem::UnknownModifier {
                                modifier: name.get_ref().clone(),
                            },
                        )
                    })?;
                }
                style.add_modifier = modifiers;
                style.sub_modifier = Modifier::empty();
            }
        }
        *self = theme;
        Ok(())
    }

    /// With `no_color`, every role loses its colours and keeps its
    /// modifiers, which is why the default theme tells states apart by
    /// modifier as well as by colour.
    fn colours(self, no_color: bool) -> Self {
        if !no_color {
            return self;
        }
        let mut theme = self;
        for name in Theme::ROLES {
            if let Some(style) = theme.role_mut(name) {
                *style = Style {
                    fg: None,
                    bg: None,
                    ..*style
                };
            }
        }
        theme
    }
}

/// Why a theme could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("cannot read theme {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}:{line}: {problem}")]
    Invalid {
        origin: String,
        line: usize,
        problem: ThemeProblem,
    },
}

/// What is wrong at a line of a theme file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThemeProblem {
    #[error("{0}")]
    Toml(String),
    #[error("unknown role {role:?}; the roles are: {}", Theme::ROLES.join(" "))]
    UnknownRole { role: String },
    #[error(
        "unknown colour {colour:?}; use one of {}, \"reset\", \"#rrggbb\" or an index 0-255 such as \"42\"",
        NAMED_COLOURS.map(|(name, _)| name).join(" ")
    )]
    UnknownColour { colour: String },
    #[error(
        "unknown modifier {modifier:?}; use any of {}",
        MODIFIERS.map(|(name, _)| name).join(" ")
    )]
    UnknownModifier { modifier: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTheme {
    #[serde(default)]
    roles: BTreeMap<String, Spanned<RawStyle>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStyle {
    fg: Option<Spanned<String>>,
    bg: Option<Spanned<String>>,
    modifiers: Option<Vec<Spanned<String>>>,
}

/// The 16 ANSI colours by the names ratatui gives them; every terminal with
/// colour has these, in the user's own palette.
const NAMED_COLOURS: [(&str, Color); 16] = [
    ("black", Color::Black),
    ("red", Color::Red),
    ("green", Color::Green),
    ("yellow", Color::Yellow),
    ("blue", Color::Blue),
    ("magenta", Color::Magenta),
    ("cyan", Color::Cyan),
    ("gray", Color::Gray),
    ("darkgray", Color::DarkGray),
    ("lightred", Color::LightRed),
    ("lightgreen", Color::LightGreen),
    ("lightyellow", Color::LightYellow),
    ("lightblue", Color::LightBlue),
    ("lightmagenta", Color::LightMagenta),
    ("lightcyan", Color::LightCyan),
    ("white", Color::White),
];

/// The modifiers a theme may use. Blinking and hidden text are left out on
/// purpose: neither has a place on a control room's screen.
const MODIFIERS: [(&str, Modifier); 6] = [
    ("bold", Modifier::BOLD),
    ("dim", Modifier::DIM),
    ("italic", Modifier::ITALIC),
    ("underlined", Modifier::UNDERLINED),
    ("reversed", Modifier::REVERSED),
    ("crossed_out", Modifier::CROSSED_OUT),
];

/// A colour as a theme writes it: a 16-colour name (case, `-`, `_` and
/// spaces ignored, "grey" for "gray"), "reset" (the terminal's own),
/// "#rrggbb", or an index "0".."255".
fn parse_colour(text: &str) -> Option<Color> {
    if let Some(hex) = text.strip_prefix('#') {
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        return Some(Color::Rgb(byte(0)?, byte(2)?, byte(4)?));
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<u8>().ok().map(Color::Indexed);
    }
    let name: String = text
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .collect::<String>()
        .to_ascii_lowercase()
        .replace("grey", "gray");
    if name == "reset" {
        return Some(Color::Reset);
    }
    NAMED_COLOURS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, colour)| colour)
}

fn parse_modifier(text: &str) -> Option<Modifier> {
    MODIFIERS
        .iter()
        .find(|(n, _)| *n == text)
        .map(|&(_, modifier)| modifier)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(err: ThemeError) -> (usize, ThemeProblem) {
        match err {
            ThemeError::Invalid { line, problem, .. } => (line, problem),
            other => panic!("expected an Invalid error, got {other:?}"),
        }
    }

    fn is_16_colour(colour: Color) -> bool {
        colour == Color::Reset || NAMED_COLOURS.iter().any(|&(_, c)| c == colour)
    }

    #[test]
    fn default_theme_parses() {
        Theme::from_toml(DEFAULT_THEME, "themes/default.toml", false)
            .expect("default theme parses");
        Theme::from_toml(DEFAULT_THEME, "themes/default.toml", true).expect("default theme parses");
    }

    #[test]
    fn default_theme_equals_the_file() {
        assert_eq!(
            Theme::default_theme(false),
            Theme::from_toml(include_str!("../../themes/default.toml"), "default", false).unwrap()
        );
    }

    #[test]
    fn the_default_file_names_every_role() {
        let raw: RawTheme = toml::from_str(DEFAULT_THEME).unwrap();
        for role in Theme::ROLES {
            assert!(
                raw.roles.contains_key(*role),
                "themes/default.toml lacks {role}"
            );
        }
    }

    #[test]
    fn default_theme_uses_only_16_colour_names() {
        for (role, style) in Theme::default_theme(false).roles() {
            for colour in [style.fg, style.bg].into_iter().flatten() {
                assert!(is_16_colour(colour), "{role} uses {colour:?}");
            }
        }
    }

    #[test]
    fn high_contrast_theme_parses() {
        let theme = Theme::from_toml(
            include_str!("../../themes/high-contrast.toml"),
            "themes/high-contrast.toml",
            false,
        )
        .unwrap();
        for (role, style) in theme.roles() {
            for colour in [style.fg, style.bg].into_iter().flatten() {
                assert!(is_16_colour(colour), "{role} uses {colour:?}");
            }
        }
    }

    #[test]
    fn states_differ_by_colour() {
        let t = Theme::default_theme(false);
        let states = [
            t.state_ok,
            t.state_progress,
            t.state_attention,
            t.state_failed,
            t.state_halted,
            t.stale,
        ];
        for (i, a) in states.iter().enumerate() {
            for b in &states[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn no_color_drops_colours_and_keeps_states_apart() {
        let t = Theme::default_theme(true);
        for (role, style) in t.roles() {
            assert_eq!((style.fg, style.bg), (None, None), "{role} keeps a colour");
        }
        let ok = t.state_ok.add_modifier;
        for (role, style) in [
            ("state_failed", t.state_failed),
            ("state_halted", t.state_halted),
            ("stale", t.stale),
        ] {
            assert_ne!(
                style.add_modifier, ok,
                "{role} looks like ok without colour"
            );
        }
        assert_ne!(t.state_failed, t.state_halted);
        assert_ne!(t.state_failed, t.stale);
        assert_ne!(t.state_halted, t.stale);
        assert_ne!(t.state_attention, t.state_ok);
        // The modifiers are the coloured theme's.
        let coloured = Theme::default_theme(false);
        assert_eq!(
            t.state_halted.add_modifier,
            coloured.state_halted.add_modifier
        );
    }

    #[test]
    fn overlay_replaces_fields_not_roles() {
        let mut t = Theme::default_theme(false);
        let before = t;
        t.overlay(
            "[roles]\nstate_failed = { fg = \"magenta\" }\nselection = { modifiers = [] }\n",
            "user.toml",
        )
        .unwrap();
        assert_eq!(t.state_failed.fg, Some(Color::Magenta));
        assert_eq!(
            t.state_failed.add_modifier,
            before.state_failed.add_modifier
        );
        assert_eq!(t.selection.add_modifier, Modifier::empty());
        assert_eq!(t.selection.bg, before.selection.bg);
        assert_eq!(t.state_ok, before.state_ok);
    }

    #[test]
    fn colours_are_parsed() {
        assert_eq!(parse_colour("red"), Some(Color::Red));
        assert_eq!(parse_colour("DarkGray"), Some(Color::DarkGray));
        assert_eq!(parse_colour("light_red"), Some(Color::LightRed));
        assert_eq!(parse_colour("dark grey"), Some(Color::DarkGray));
        assert_eq!(parse_colour("reset"), Some(Color::Reset));
        assert_eq!(parse_colour("#ff8000"), Some(Color::Rgb(255, 128, 0)));
        assert_eq!(parse_colour("42"), Some(Color::Indexed(42)));
        for bad in ["", "256", "-1", "#ff80", "#gg0000", "orange", "#ff8000ff"] {
            assert_eq!(parse_colour(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn unknown_role_colour_and_modifier_name_the_line() {
        let err = Theme::from_toml(
            "[roles]\ntext = {}\nstate_faild = { fg = \"red\" }\n",
            "mine.toml",
            false,
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("mine.toml:3: unknown role \"state_faild\""),
            "{text}"
        );
        assert!(text.contains("state_failed"), "{text}");

        let (line, problem) = invalid(
            Theme::from_toml(
                "[roles]\ntext = {}\n\nborder = { fg = \"purple\" }\n",
                "mine.toml",
                false,
            )
            .unwrap_err(),
        );
        assert_eq!(
            (line, problem),
            (
                4,
                ThemeProblem::UnknownColour {
                    colour: "purple".into()
                }
            )
        );

        let (line, problem) = invalid(
            Theme::from_toml(
                "[roles]\nkey = { modifiers = [\n  \"bold\",\n  \"blink\",\n] }\n",
                "m",
                false,
            )
            .unwrap_err(),
        );
        assert_eq!(
            (line, problem),
            (
                4,
                ThemeProblem::UnknownModifier {
                    modifier: "blink".into()
                }
            )
        );

        let (line, _) = invalid(
            Theme::from_toml(
                "[roles]\ntext = { fg = \"red\", bold = true }\n",
                "m",
                false,
            )
            .unwrap_err(),
        );
        assert_eq!(line, 2);
        let (line, _) =
            invalid(Theme::from_toml("\n[colours]\ntext = {}\n", "m", false).unwrap_err());
        assert_eq!(line, 2);
    }

    #[test]
    fn a_failed_overlay_leaves_the_theme_unchanged() {
        let mut t = Theme::default_theme(false);
        assert!(
            t.overlay(
                "[roles]\ntext = { fg = \"blue\" }\nborder = { fg = \"nope\" }\n",
                "m"
            )
            .is_err()
        );
        assert_eq!(t, Theme::default_theme(false));
    }

    #[test]
    fn load_reads_the_user_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("theme.toml");
        let named = file.clone().into_os_string();
        let env = move |name: &str| (name == "GANTRY_THEME").then(|| named.clone());

        let err = Theme::load_with(&env, false).unwrap_err();
        assert!(
            matches!(&err, ThemeError::Read { path, .. } if *path == file),
            "{err:?}"
        );

        std::fs::write(&file, "[roles]\nstate_ok = { fg = \"lightgreen\" }\n").unwrap();
        let t = Theme::load_with(&env, false).unwrap();
        assert_eq!(t.state_ok.fg, Some(Color::LightGreen));
        assert_eq!(t.state_failed, Theme::default_theme(false).state_failed);
        assert_eq!(
            Theme::load_with(&env, true).unwrap(),
            Theme::default_theme(true)
        );

        // Nothing at a default path: the defaults.
        let home = dir.path().as_os_str().to_owned();
        let env = move |name: &str| (name == "HOME").then(|| home.clone());
        assert_eq!(
            Theme::load_with(&env, false).unwrap(),
            Theme::default_theme(false)
        );
    }
}
