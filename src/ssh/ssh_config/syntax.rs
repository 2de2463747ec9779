//! OpenSSH's config syntax, word by word: a line's keyword and arguments,
//! times (`1m30s`), and `ProxyJump` hops.

use crate::ssh::pattern::{UserHostPort, parse_port, split_user_host_port};

/// Splits a config line into its keyword and the rest, as OpenSSH does:
/// the keyword ends at whitespace or `=`, and one `=` (with whitespace
/// around it) may separate it from the arguments. `None` for blank and
/// comment lines.
pub(super) fn split_keyword(line: &str) -> Option<(&str, &str)> {
    let line = line.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\r' | '\n' | '\x0c'));
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line.find([' ', '\t', '=']).unwrap_or(line.len());
    let (keyword, mut rest) = line.split_at(end);
    rest = rest.trim_start_matches([' ', '\t']);
    if let Some(after) = rest.strip_prefix('=') {
        rest = after.trim_start_matches([' ', '\t']);
    }
    Some((keyword, rest))
}

/// OpenSSH's `argv_split`: words separated by spaces or tabs, `"` and `'`
/// quoting (also inside a word), backslash escaping a quote, a backslash
/// or (outside quotes) a space, and a `#` that starts a word ending the
/// line. An unclosed quote is an error.
pub(super) fn split_args(s: &str) -> Result<Vec<String>, ()> {
    let chars: Vec<char> = s.chars().collect();
    let mut args = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == ' ' || chars[i] == '\t' {
            i += 1;
            continue;
        }
        if chars[i] == '#' {
            break;
        }
        let mut arg = String::new();
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' {
                match chars.get(i + 1) {
                    Some(&next)
                        if next == '\''
                            || next == '"'
                            || next == '\\'
                            || (quote.is_none() && next == ' ') =>
                    {
                        arg.push(next);
                        i += 1;
                    }
                    _ => arg.push(c),
                }
            } else if quote.is_none() && (c == ' ' || c == '\t') {
                break;
            } else if quote.is_none() && (c == '"' || c == '\'') {
                quote = Some(c);
            } else if quote == Some(c) {
                quote = None;
            } else {
                arg.push(c);
            }
            i += 1;
        }
        if quote.is_some() {
            return Err(());
        }
        args.push(arg);
    }
    Ok(args)
}

/// OpenSSH's `convtime`: numbers with optional units s m h d w, summed
/// (`1m30s`, `90`).
pub(super) fn parse_time(value: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut rest = value;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let multiplier = match rest.bytes().next() {
            None => 1,
            Some(unit) => {
                let multiplier = match unit.to_ascii_lowercase() {
                    b's' => 1,
                    b'm' => 60,
                    b'h' => 3600,
                    b'd' => 86_400,
                    b'w' => 604_800,
                    _ => return None,
                };
                // Only after the match: the unit is ASCII, so slicing past
                // it stays on a char boundary (`1é` used to panic here).
                rest = &rest[1..];
                multiplier
            }
        };
        total = total.checked_add(number.checked_mul(multiplier)?)?;
    }
    // OpenSSH keeps times in an int.
    (total <= i32::MAX as u64).then_some(total)
}

/// A `ProxyJump` value as OpenSSH's `parse_jump` reads it, in `ssh -G`'s
/// spelling: `Some(None)` for `none`, `None` when invalid. Each hop is
/// `[user@]host[:port]` (IPv6 in brackets); `ssh://` hops are refused as
/// invalid here, being rare enough not to carry a second parser for.
pub(super) fn parse_proxy_jump(value: &str) -> Option<Option<String>> {
    if value.eq_ignore_ascii_case("none") {
        return Some(None);
    }
    let (extra, last) = match value.rsplit_once(',') {
        Some((extra, last)) => (Some(extra), last),
        None => (None, value),
    };
    for hop in extra.into_iter().flat_map(|e| e.split(',')) {
        parse_hop(hop)?;
    }
    let (user, host, port) = parse_hop(last)?;
    // ssh -G brackets a host that is numeric or holds a colon.
    let numeric = host.contains(':') || host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let mut out = String::new();
    if let Some(extra) = extra {
        out.push_str(extra);
        out.push(',');
    }
    if let Some(user) = user {
        out.push_str(user);
        out.push('@');
    }
    if numeric {
        out.push('[');
        out.push_str(host);
        out.push(']');
    } else {
        out.push_str(host);
    }
    if let Some(port) = port {
        out.push(':');
        out.push_str(&port.to_string());
    }
    Some(Some(out))
}

/// One hop: `[user@]host[:port]` as OpenSSH's `parse_user_host_port`.
pub(super) fn parse_hop(hop: &str) -> Option<(Option<&str>, &str, Option<u16>)> {
    if hop.starts_with("ssh://") || hop.contains(['/', ' ', '\t']) {
        return None;
    }
    let UserHostPort { user, host, port } = split_user_host_port(hop).ok()?;
    // `host:` is OpenSSH's too: no port.
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(parse_port(p)?),
    };
    Some((user, host, port))
}
