//! What /proc says about a process: its state, start time, group,
//! parent, environment, and the TCP sockets it listens on. Read only;
//! every service kind uses it (the command kind to know its own
//! processes, the systemd kind a unit's, the container kind a
//! container's).

use std::fs;

/// A process as /proc/PID/stat shows it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stat {
    pub(super) state: char,
    pub(super) ppid: u32,
    pub(super) pgid: u32,
    /// Start time in clock ticks since boot: with the pid, names one
    /// process even after the pid is reused.
    pub(super) start_ticks: u64,
}

impl Stat {
    /// Not a zombie waiting to be reaped, nor dead.
    pub(super) fn live(&self) -> bool {
        self.state != 'Z' && self.state != 'X'
    }
}

pub(super) fn stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may hold spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // ppid and pgrp are fields 4 and 5 overall; starttime is field 22.
    let ppid = fields.next()?.parse().ok()?;
    let pgid = fields.next()?.parse().ok()?;
    let start_ticks = fields.nth(16)?.parse().ok()?;
    Some(Stat {
        state,
        ppid,
        pgid,
        start_ticks,
    })
}

/// Whether `pid` is a live process (not a zombie waiting to be reaped).
pub fn running(pid: u32) -> bool {
    stat(pid).is_some_and(|s| s.live())
}

/// Every pid in /proc.
pub(super) fn pids() -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .collect()
}

/// `pid` and every live process descended from it.
pub(super) fn with_descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = pids()
        .into_iter()
        .filter_map(|p| stat(p).filter(Stat::live).map(|s| (p, s.ppid)))
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, ppid)| *ppid == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found
}

/// A process's environment, as it was when it started.
pub(super) fn environ(pid: u32) -> Option<Vec<(String, String)>> {
    let bytes = fs::read(format!("/proc/{pid}/environ")).ok()?;
    Some(
        bytes
            .split(|b| *b == 0)
            .filter_map(|pair| {
                let pair = std::str::from_utf8(pair).ok()?;
                let (k, v) = pair.split_once('=')?;
                Some((k.to_string(), v.to_string()))
            })
            .collect(),
    )
}

/// Inodes of the TCP sockets listening on `port`, any local address, in
/// this network namespace: asked of netlink, or read from /proc where
/// netlink cannot answer (sockdiag.rs says why).
pub(super) fn listening_inodes(port: u16) -> Vec<String> {
    super::sockdiag::listening_inodes(port).unwrap_or_else(|_| listening_in("/proc/net", port))
}

/// The same in the network namespace of process `pid` (a container's,
/// which may not be the agent's): netlink where it is the agent's own
/// (a host-network container), else that namespace's /proc table.
pub(super) fn listening_inodes_of(pid: u32, port: u16) -> Vec<String> {
    let own = fs::read_link("/proc/self/ns/net").ok();
    if own.is_some() && own == fs::read_link(format!("/proc/{pid}/ns/net")).ok() {
        return listening_inodes(port);
    }
    listening_in(&format!("/proc/{pid}/net"), port)
}

pub(super) fn listening_in(dir: &str, port: u16) -> Vec<String> {
    const LISTEN: &str = "0A";
    let mut inodes = Vec::new();
    for table in [format!("{dir}/tcp"), format!("{dir}/tcp6")] {
        let Ok(text) = fs::read_to_string(&table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let local_port = local
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            if *state == LISTEN && local_port == Some(port) {
                inodes.push(inode.to_string());
            }
        }
    }
    inodes
}

/// Whether `pid` holds one of the sockets `inodes` names.
pub(super) fn holds_socket(pid: u32, inodes: &[String]) -> bool {
    fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
        fds.flatten().any(|fd| {
            fs::read_link(fd.path()).is_ok_and(|target| {
                let target = target.to_string_lossy();
                inodes
                    .iter()
                    .any(|inode| target == format!("socket:[{inode}]"))
            })
        })
    })
}

/// When a process that started `ticks` clock ticks after boot started.
pub(super) fn started_at(ticks: u64) -> Option<chrono::DateTime<chrono::Utc>> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let boot: i64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz <= 0 {
        return None;
    }
    let ms = i64::try_from(ticks).ok()? * 1000 / hz as i64;
    chrono::DateTime::from_timestamp_millis(boot * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netlink_finds_a_listener_and_agrees_with_proc() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // A connection in the table too, which a LISTEN dump must skip.
        let _client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut asked = super::super::sockdiag::listening_inodes(port).expect("netlink answers");
        let mut read = listening_in("/proc/net", port);
        asked.sort();
        read.sort();
        assert_eq!(asked.len(), 1, "{asked:?}");
        assert_eq!(asked, read);
        assert_eq!(listening_inodes(port), read);
        drop(listener);
        assert!(
            super::super::sockdiag::listening_inodes(port)
                .unwrap()
                .is_empty()
        );
    }
}
