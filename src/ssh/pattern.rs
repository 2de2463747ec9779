//! OpenSSH's host patterns and its `[user@]host[:port]` spellings: one
//! copy, read the way `match.c` and `misc.c` read them, for known_hosts,
//! ssh_config and the hosts file.
//!
//! - [`match_pattern`]: `*` is any run of bytes, `?` one byte; no escapes,
//!   no classes. A `*` in the pattern is always a wildcard, even where the
//!   name holds a `*` too.
//! - A list matches when some pattern matches and no `!`-negated one does
//!   (a matching negation vetoes the whole list, wherever it stands).
//!   known_hosts writes a list as one comma-separated field, compared
//!   case-insensitively ([`match_pattern_list`]); a `Host` line gives its
//!   patterns as words, compared as typed ([`match_host_patterns`]).
//! - `[user@]host[:port]` ([`split_user_host_port`]): the user is
//!   everything before the *last* `@`; a host in brackets may hold colons;
//!   without brackets the host ends at the first `:`. So a bare IPv6
//!   address (`fe80::1`) is not a host here: OpenSSH reads `fe80` and a
//!   port of `:1` and refuses it, and so do we, saying to add brackets.
//!   (`ssh -G` is the reference: `tests/ssh_config.rs` compares ProxyJump
//!   spellings with it.) A `/` is not a delimiter here, unlike in
//!   OpenSSH's `hpdelim`: every caller refuses it, or reads it as part of a
//!   host that will not resolve.
//! - A port is digits only, 1 to 65535 ([`parse_port`]); `[host]:port`
//!   is how a host on another port than 22 is named ([`put_host_port`]).

/// The SSH port: a host on it is named without `[…]:port`.
pub const DEFAULT_PORT: u16 = 22;

/// match.c `match_pattern`: `*` any run of bytes, `?` one byte, no escapes.
/// Iterative, so a hostile pattern cannot make it exponential.
pub fn match_pattern(s: &[u8], p: &[u8]) -> bool {
    let (mut si, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi + 1, si));
            pi += 1;
        } else if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if let Some((after_star, from)) = star {
            pi = after_star;
            si = from + 1;
            star = Some((after_star, from + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// How a list of patterns took a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMatch {
    /// No pattern matched.
    No,
    /// A pattern matched, and no negated one.
    Yes,
    /// A `!` pattern matched: the list refuses the name.
    Negated,
}

/// match.c `match_pattern_list` with `dolower`, as known_hosts uses it:
/// comma-separated patterns, each lowercased before it is compared (the
/// caller lowercases `name`).
pub fn match_pattern_list(name: &[u8], list: &[u8]) -> ListMatch {
    // OpenSSH copies each pattern into a 1024-byte buffer; a longer one
    // makes the whole list fail to match.
    const MAX_PATTERN: usize = 1023;
    let mut positive = false;
    let mut i = 0;
    while i < list.len() {
        let negated = list[i] == b'!';
        if negated {
            i += 1;
        }
        let start = i;
        while i < list.len() && i - start < MAX_PATTERN && list[i] != b',' {
            i += 1;
        }
        if i - start >= MAX_PATTERN {
            return ListMatch::No;
        }
        let pattern = list[start..i].to_ascii_lowercase();
        if i < list.len() && list[i] == b',' {
            i += 1;
        }
        if match_pattern(name, &pattern) {
            if negated {
                return ListMatch::Negated;
            }
            positive = true;
        }
    }
    if positive {
        ListMatch::Yes
    } else {
        ListMatch::No
    }
}

/// readconf.c `Host` line: the patterns are the line's words, compared
/// case-sensitively with the name as typed; true when the block applies.
pub fn match_host_patterns(name: &str, patterns: &[String]) -> bool {
    let mut matched = false;
    for pattern in patterns {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern.as_str()),
        };
        if match_pattern(name.as_bytes(), pattern.as_bytes()) {
            if negated {
                return false;
            }
            matched = true;
        }
    }
    matched
}

/// `[user@]host[:port]` taken apart (see the module doc); the port is left
/// as written, for the caller to say what an empty one means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserHostPort<'a> {
    pub user: Option<&'a str>,
    pub host: &'a str,
    /// After the `:`: `None` without one, `Some("")` for `host:`.
    pub port: Option<&'a str>,
}

/// Why a `[user@]host[:port]` spelling is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostPortError {
    EmptyUser,
    UnclosedBracket,
    JunkAfterBracket,
    BareIpv6,
    EmptyHost,
}

impl HostPortError {
    /// What to fix, for a message that quotes the value beside it.
    pub fn reason(self) -> &'static str {
        match self {
            HostPortError::EmptyUser => "the user before `@` is empty",
            HostPortError::UnclosedBracket => "`[` without `]`",
            HostPortError::JunkAfterBracket => "expected `:port` after `]`",
            HostPortError::BareIpv6 => {
                "an IPv6 address goes in brackets, as `[addr]` or `[addr]:port`"
            }
            HostPortError::EmptyHost => "the host is empty",
        }
    }
}

/// misc.c `parse_user_host_port`, up to the port's number (see the module
/// doc for the rules).
pub fn split_user_host_port(s: &str) -> Result<UserHostPort<'_>, HostPortError> {
    let (user, rest) = match s.rsplit_once('@') {
        Some(("", _)) => return Err(HostPortError::EmptyUser),
        Some((user, rest)) => (Some(user), rest),
        None => (None, s),
    };
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (host, after) = inner
            .split_once(']')
            .ok_or(HostPortError::UnclosedBracket)?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or(HostPortError::JunkAfterBracket)?,
                ),
            ),
        }
    } else if rest.matches(':').count() > 1 {
        return Err(HostPortError::BareIpv6);
    } else {
        match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(HostPortError::EmptyHost);
    }
    Ok(UserHostPort { user, host, port })
}

/// A port as OpenSSH's `a2port` takes a number: digits only, 1 to 65535
/// (not `u16::from_str`, which takes `0` and `+22`).
pub fn parse_port(value: &str) -> Option<u16> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse::<u16>().ok().filter(|&p| p != 0)
}

/// misc.c `put_host_port`: `host` on the default port (or port 0),
/// `[host]:port` otherwise. The name known_hosts files a host under.
pub fn put_host_port(host: &str, port: u16) -> String {
    if port == DEFAULT_PORT || port == 0 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn lists_are_vetoed_by_a_matching_negation() {
        let list = |name: &str, list: &str| match_pattern_list(name.as_bytes(), list.as_bytes());
        assert_eq!(list("a.prod", "*.prod,!b.prod"), ListMatch::Yes);
        assert_eq!(list("b.prod", "*.prod,!b.prod"), ListMatch::Negated);
        assert_eq!(list("b.prod", "!b.prod,*.prod"), ListMatch::Negated);
        assert_eq!(list("x", "!y"), ListMatch::No);
        assert_eq!(list("web", "WEB"), ListMatch::Yes, "patterns lowercased");
        let long = format!("h,{}", "a".repeat(1023));
        assert_eq!(list("h", &long), ListMatch::No, "a too long pattern");
    }

    #[test]
    fn host_lines_match_words_as_typed() {
        let pats = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let host = |name: &str, p: &[&str]| match_host_patterns(name, &pats(p));
        assert!(host("web-1", &["web-?"]));
        assert!(!host("web-12", &["web-?"]));
        assert!(host("a.prod", &["*.prod", "!b.prod"]));
        assert!(!host("b.prod", &["*.prod", "!b.prod"]));
        assert!(!host("b.prod", &["!b.prod", "*.prod"]));
        assert!(!host("x", &["!y"]));
        assert!(!host("Web", &["web"]));
        assert!(host("abc", &["a*c*"]));
        assert!(host("", &["*"]));
        assert!(!host("a,b", &["a"]));
        assert!(
            host("a*b", &["a*"]),
            "a `*` in the pattern stays a wildcard"
        );
    }

    #[test]
    fn user_host_port_spellings() {
        fn ok(s: &str) -> UserHostPort<'_> {
            split_user_host_port(s).unwrap()
        }
        let uhp = |user, host, port| UserHostPort { user, host, port };
        assert_eq!(ok("h"), uhp(None, "h", None));
        assert_eq!(ok("a@b@j:2"), uhp(Some("a@b"), "j", Some("2")));
        assert_eq!(ok("[::1]:2200"), uhp(None, "::1", Some("2200")));
        assert_eq!(ok("u@[fe80::1]"), uhp(Some("u"), "fe80::1", None));
        assert_eq!(ok("h:"), uhp(None, "h", Some("")));
        let err = |s: &str| split_user_host_port(s).unwrap_err();
        assert_eq!(err("@h"), HostPortError::EmptyUser);
        assert_eq!(err("[::1"), HostPortError::UnclosedBracket);
        assert_eq!(err("[::1]x"), HostPortError::JunkAfterBracket);
        assert_eq!(err("fe80::1"), HostPortError::BareIpv6);
        assert_eq!(err("::1"), HostPortError::BareIpv6);
        assert_eq!(err(":22"), HostPortError::EmptyHost);
        assert_eq!(err("[]:22"), HostPortError::EmptyHost);
    }

    #[test]
    fn ports_and_names() {
        assert_eq!(parse_port("0"), None);
        assert_eq!(parse_port("65536"), None);
        assert_eq!(parse_port("+22"), None);
        assert_eq!(parse_port(""), None);
        assert_eq!(parse_port("65535"), Some(65535));
        assert_eq!(put_host_port("h", 22), "h");
        assert_eq!(put_host_port("h", 0), "h");
        assert_eq!(put_host_port("::1", 2222), "[::1]:2222");
    }

    proptest! {
        #[test]
        fn glob_agrees_with_a_reference(s in "[ab.*?]{0,8}", p in "[ab.*?]{0,8}") {
            // The recursive definition from match.c. The name may hold `*`
            // and `?` too: in the pattern they stay wildcards.
            fn reference(s: &[u8], p: &[u8]) -> bool {
                match p.first() {
                    None => s.is_empty(),
                    Some(b'*') => (0..=s.len()).any(|i| reference(&s[i..], &p[1..])),
                    Some(&c) => !s.is_empty() && (c == b'?' || c == s[0]) && reference(&s[1..], &p[1..]),
                }
            }
            prop_assert_eq!(match_pattern(s.as_bytes(), p.as_bytes()), reference(s.as_bytes(), p.as_bytes()));
        }
    }
}
