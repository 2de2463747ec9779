//! Jump hosts: a host of the file or an address, and no cycles.

use std::collections::{HashMap, HashSet};

use super::{HostEntry, Jump, Problem};
use crate::ssh::pattern::{
    DEFAULT_PORT, HostPortError, UserHostPort, parse_port, split_user_host_port,
};

/// A jump is a host of the file when it names one; otherwise it must look
/// like an address (have a user, a port or a dot), so a misspelt host
/// name is an error rather than a DNS lookup of the typo.
pub(super) fn resolve_jump(
    host: &str,
    jump: &str,
    names: &HashSet<String>,
) -> Result<Jump, Problem> {
    if names.contains(jump) {
        return Ok(Jump::Host(jump.to_string()));
    }
    if !jump.contains(['@', ':', '.']) {
        return Err(Problem::UnknownJumpHost {
            host: host.to_string(),
            jump: jump.to_string(),
        });
    }
    parse_jump_address(jump).map_err(|reason| Problem::BadJump {
        host: host.to_string(),
        jump: jump.to_string(),
        reason: reason.to_string(),
    })
}

/// `[user@]host[:port]` read as OpenSSH reads a `ProxyJump` hop
/// (`pattern.rs`): the user is everything before the last `@`, and an IPv6
/// host goes in brackets (`[::1]`, `[::1]:2222`).
pub(super) fn parse_jump_address(jump: &str) -> Result<Jump, &'static str> {
    if jump.contains(',') {
        return Err("one hop only: to chain, give the jump host its own `jump`");
    }
    if jump.contains("://") {
        return Err("write user@host:port, not a URI");
    }
    if jump.chars().any(char::is_whitespace) {
        return Err("must not contain spaces");
    }
    if jump.starts_with('-') {
        return Err("must not start with `-` (ssh would read it as an option)");
    }
    let UserHostPort { user, host, port } =
        split_user_host_port(jump).map_err(HostPortError::reason)?;
    let port = match port {
        None => DEFAULT_PORT,
        // Stricter than OpenSSH on `host:`: in our own file it is a typo.
        Some(p) => parse_port(p).ok_or("the port must be a number from 1 to 65535")?,
    };
    Ok(Jump::Address {
        user: user.map(str::to_string),
        host: host.to_string(),
        port,
    })
}

/// The first jump cycle in file order, as the names around it (the first
/// repeated at the end) and the line of the host where it starts.
pub(super) fn find_jump_cycle(hosts: &[HostEntry]) -> Option<(usize, Vec<String>)> {
    let index: HashMap<&str, usize> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.name.as_str(), i))
        .collect();
    // 0 = not visited, 1 = on the current walk, 2 = known to end.
    let mut state = vec![0u8; hosts.len()];
    for start in 0..hosts.len() {
        let mut walk = Vec::new();
        let mut at = Some(start);
        while let Some(i) = at {
            match state[i] {
                2 => break,
                1 => {
                    let from = walk.iter().position(|&w| w == i).unwrap_or(0);
                    let cycle_at = walk[from..].iter().copied().min().unwrap_or(i);
                    // Start the cycle at the host that comes first in the
                    // file, so the message is the same whichever way in.
                    let first = walk[from..]
                        .iter()
                        .position(|&w| w == cycle_at)
                        .unwrap_or(0)
                        + from;
                    let mut cycle: Vec<String> = walk[first..]
                        .iter()
                        .chain(&walk[from..first])
                        .map(|&w| hosts[w].name.clone())
                        .collect();
                    cycle.push(hosts[cycle_at].name.clone());
                    return Some((hosts[cycle_at].line, cycle));
                }
                _ => {
                    state[i] = 1;
                    walk.push(i);
                    at = match &hosts[i].jump {
                        Some(Jump::Host(name)) => index.get(name.as_str()).copied(),
                        _ => None,
                    };
                }
            }
        }
        for i in walk {
            state[i] = 2;
        }
    }
    None
}
