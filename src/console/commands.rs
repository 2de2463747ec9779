//! The `:` command line: its commands with their arguments and what they
//! do (the help screen lists them), reading a typed line, and Tab
//! completion of a command's name or a host's.

use super::state::DialogKind;

/// What a `:` command does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypedCommand {
    Open(DialogKind),
    /// Every host's emergency stop at once.
    FleetStop,
    /// The hosts grouped by the release they serve, in the footer.
    Releases,
    Quit,
}

/// One `:` command as the help screen shows it.
#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    pub name: &'static str,
    /// `[HOST]`, or empty when it takes none.
    pub args: &'static str,
    pub desc: &'static str,
    pub does: TypedCommand,
}

const fn on_host(name: &'static str, desc: &'static str, kind: DialogKind) -> CommandSpec {
    CommandSpec {
        name,
        args: "[HOST]",
        desc,
        does: TypedCommand::Open(kind),
    }
}

/// The `:` commands, in the order help and the unknown-command message
/// list them. A command with `[HOST]` acts on that host (selecting it),
/// else on the selected one.
pub const COMMANDS: [CommandSpec; 9] = [
    on_host("approve", "approve canary → live", DialogKind::Approve),
    on_host(
        "rollback",
        "roll back to the known-good release",
        DialogKind::Rollback,
    ),
    on_host(
        "estop",
        "emergency stop: halt, kill switch, verify flat",
        DialogKind::EmergencyStop,
    ),
    CommandSpec {
        name: "estop all",
        args: "",
        desc: "emergency stop of every host at once",
        does: TypedCommand::FleetStop,
    },
    on_host("drill", "rollback drill", DialogKind::Drill),
    on_host(
        "rearm",
        "rearm a halted host once its venue answered",
        DialogKind::Rearm,
    ),
    on_host(
        "restore",
        "restore the known-good release to live after a halt",
        DialogKind::Restore,
    ),
    CommandSpec {
        name: "releases",
        args: "",
        desc: "the hosts grouped by the release they serve",
        does: TypedCommand::Releases,
    },
    CommandSpec {
        name: "quit",
        args: "",
        desc: "quit (also :q); the agents keep running",
        does: TypedCommand::Quit,
    },
];

/// A typed command line, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<'a> {
    Empty,
    /// The command, and the host it names if it names one.
    Run(TypedCommand, Option<&'a str>),
    /// A command that takes no host was given one.
    NoHostHere(&'static str),
    Unknown,
}

pub fn parse(text: &str) -> Parsed<'_> {
    let text = text.trim();
    if text.is_empty() {
        return Parsed::Empty;
    }
    if text == "q" {
        return Parsed::Run(TypedCommand::Quit, None);
    }
    // Whole names first: `estop all` is one command, not estop on "all".
    if let Some(spec) = COMMANDS.iter().find(|c| c.name == text) {
        return Parsed::Run(spec.does, None);
    }
    let (name, host) = match text.split_once(char::is_whitespace) {
        Some((name, host)) => (name, Some(host.trim())),
        None => (text, None),
    };
    match COMMANDS.iter().find(|c| c.name == name) {
        Some(spec) if host.is_some() && spec.args.is_empty() => Parsed::NoHostHere(spec.name),
        Some(spec) => Parsed::Run(spec.does, host),
        None => Parsed::Unknown,
    }
}

/// Tab: completes the word being typed, a command's name first, then a
/// host's, as far as every candidate agrees. `None` when nothing matches.
pub fn complete<'a>(text: &str, hosts: impl Iterator<Item = &'a str>) -> Option<String> {
    let (head, word, candidates): (&str, &str, Vec<&str>) =
        match text.rsplit_once(char::is_whitespace) {
            Some((name, word)) => {
                let takes_host = COMMANDS
                    .iter()
                    .any(|c| c.name == name.trim() && !c.args.is_empty());
                if !takes_host {
                    return None;
                }
                (&text[..text.len() - word.len()], word, hosts.collect())
            }
            None => ("", text, COMMANDS.iter().map(|c| c.name).collect()),
        };
    let matching: Vec<&str> = candidates
        .into_iter()
        .filter(|c| c.starts_with(word))
        .collect();
    let first = matching.first()?;
    let common = matching.iter().fold(first.len(), |len, c| {
        first
            .char_indices()
            .zip(c.chars())
            .take_while(|((_, a), b)| a == b)
            .last()
            .map_or(0, |((i, a), _)| i + a.len_utf8())
            .min(len)
    });
    let mut done = format!("{head}{}", &first[..common]);
    // One match, whole: ready for the next word.
    if matching.len() == 1 {
        done.push(' ');
    }
    Some(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_take_a_host_or_none() {
        assert_eq!(
            parse("approve demo-5"),
            Parsed::Run(TypedCommand::Open(DialogKind::Approve), Some("demo-5"))
        );
        assert_eq!(
            parse("rollback"),
            Parsed::Run(TypedCommand::Open(DialogKind::Rollback), None)
        );
        assert_eq!(
            parse("estop all"),
            Parsed::Run(TypedCommand::FleetStop, None)
        );
        assert_eq!(parse("q"), Parsed::Run(TypedCommand::Quit, None));
        assert_eq!(parse("quit now"), Parsed::NoHostHere("quit"));
        assert_eq!(parse("aprove"), Parsed::Unknown);
        assert_eq!(parse("  "), Parsed::Empty);
    }

    #[test]
    fn tab_completes_a_command_then_a_host() {
        let hosts = ["demo-1", "demo-2", "fra-1"];
        let complete = |text: &str| complete(text, hosts.iter().copied());
        assert_eq!(complete("app").as_deref(), Some("approve "));
        assert_eq!(complete("r").as_deref(), Some("r"));
        assert_eq!(complete("res").as_deref(), Some("restore "));
        assert_eq!(complete("est").as_deref(), Some("estop"));
        assert_eq!(complete("rea").as_deref(), Some("rearm "));
        assert_eq!(complete("approve d").as_deref(), Some("approve demo-"));
        assert_eq!(complete("approve f").as_deref(), Some("approve fra-1 "));
        assert_eq!(complete("approve x"), None);
        assert_eq!(complete("quit d"), None);
    }
}
