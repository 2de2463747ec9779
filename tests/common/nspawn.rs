//! A real systemd for tests: PID 1 of a `systemd-nspawn` container booted
//! on an overlay of `/`, so it sees this build's `gantry` and the test's
//! directories (bound in at the same paths) while its writes stay in a
//! temp dir. It boots in about half a second; it is torn down on drop
//! (container killed, overlay unmounted), pass or fail.
//!
//! Reached with `nsenter -t LEADER -m -p …` (LEADER: the container's
//! PID 1 as this host numbers it). The container has a private network, so
//! an agent that must probe a unit's port runs inside it too
//! ([`Nspawn::inside`]): a real agent shares the unit's pid and network
//! namespaces, and reads pids and ports in its own /proc.
//!
//! CI sets GANTRY_REQUIRE_ENGINES=1 so that a machine without
//! systemd-nspawn fails there instead of skipping.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{GANTRY, Lab};

/// Whether a systemd container can run here; panics when it must.
pub fn available() -> bool {
    let have = ["/usr/bin/systemd-nspawn", "/usr/bin/nsenter", "/lib/systemd/systemd"]
        .iter()
        .all(|p| Path::new(p).exists())
        // Mounting an overlay and booting a container need root.
        && unsafe { libc::geteuid() } == 0;
    if !have {
        if std::env::var("GANTRY_REQUIRE_ENGINES").as_deref() == Ok("1") {
            panic!(
                "GANTRY_REQUIRE_ENGINES=1 but systemd-nspawn (apt install systemd-container), nsenter and root are not all available"
            );
        }
        eprintln!(
            "skipping: systemd-nspawn, nsenter or root not available (set GANTRY_REQUIRE_ENGINES=1 to require them)"
        );
    }
    have
}

pub struct Nspawn {
    /// upper/, work/ and root/ of the overlay, and the console log.
    dir: tempfile::TempDir,
    root: PathBuf,
    child: Option<Child>,
    pub leader: u32,
    /// The container's own cgroups (one per hierarchy systemd uses).
    cgroups: Vec<PathBuf>,
}

impl Nspawn {
    /// Boots systemd (to basic.target) with `binds` visible at their own
    /// paths, read-write; returns once systemctl answers.
    pub fn boot(binds: &[&Path]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("root");
        for d in ["upper", "work", "root"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        let options = format!(
            "lowerdir=/,upperdir={},workdir={}",
            dir.path().join("upper").display(),
            dir.path().join("work").display()
        );
        let out = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &options])
            .arg(&root)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount overlay: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut me = Self {
            dir,
            root,
            child: None,
            leader: 0,
            cgroups: own_cgroups(),
        };
        let console = std::fs::File::create(me.dir.path().join("console.log")).unwrap();
        let mut nspawn = Command::new("systemd-nspawn");
        nspawn.arg("-q").arg("-D").arg(&me.root).args([
            "--register=no",
            "--keep-unit",
            "--private-network",
        ]);
        for bind in binds {
            nspawn.arg(format!("--bind={}", bind.display()));
        }
        // With --keep-unit the container's cgroup is its caller's: two
        // containers booted by one test binary would share
        // …/system.slice/UNIT, and one's systemd would see (and stop) the
        // other's service. Each starts in a cgroup of its own.
        let procs: Vec<std::ffi::CString> = me
            .cgroups
            .iter()
            .map(|c| std::ffi::CString::new(c.join("cgroup.procs").display().to_string()).unwrap())
            .collect();
        // SAFETY: between fork and exec only open/write/close, which are
        // async-signal-safe, on paths allocated before the fork.
        unsafe {
            use std::os::unix::process::CommandExt;
            nspawn.pre_exec(move || {
                for path in &procs {
                    let fd = libc::open(path.as_ptr(), libc::O_WRONLY);
                    if fd < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    let written = libc::write(fd, b"0\n".as_ptr().cast(), 2);
                    libc::close(fd);
                    if written != 2 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = nspawn
            .args(["-b", "--", "--unit=basic.target"])
            .stdin(Stdio::null())
            .stdout(console.try_clone().unwrap())
            .stderr(console)
            .spawn()
            .expect("start systemd-nspawn");
        let nspawn_pid = child.id();
        me.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(
                Instant::now() < deadline,
                "the container did not boot: {}",
                me.console()
            );
            if me.leader == 0 {
                me.leader = leader_of(nspawn_pid).unwrap_or(0);
            }
            if me.leader != 0 {
                let out = me.systemctl(&["is-system-running"]);
                let state = String::from_utf8_lossy(&out.stdout);
                if matches!(state.trim(), "running" | "degraded") {
                    return me;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn console(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("console.log")).unwrap_or_default()
    }

    /// The argv prefix that runs `tool` inside the container.
    pub fn prefix(&self, tool: &str) -> Vec<String> {
        ["nsenter", "-t", &self.leader.to_string(), "-m", "-p", tool]
            .map(String::from)
            .to_vec()
    }

    /// An argv prefix that runs a program in the container's mount, pid
    /// and network namespaces (where its units run).
    pub fn inside(&self) -> Vec<String> {
        [
            "nsenter",
            "-t",
            &self.leader.to_string(),
            "-m",
            "-p",
            "-n",
            "--",
        ]
        .map(String::from)
        .to_vec()
    }

    pub fn systemctl(&self, args: &[&str]) -> Output {
        let prefix = self.prefix("systemctl");
        Command::new(&prefix[0])
            .args(&prefix[1..])
            .args(args)
            .output()
            .expect("run nsenter systemctl")
    }

    /// One property of a unit (`systemctl show -P`).
    pub fn property(&self, unit: &str, name: &str) -> String {
        let out = self.systemctl(&["show", "--timestamp=us+utc", "-P", name, unit]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Writes /etc/systemd/system/NAME in the container, then reloads.
    pub fn install_unit(&self, name: &str, text: &str) {
        let dir = self.root.join("etc/systemd/system");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), text).unwrap();
        let out = self.systemctl(&["daemon-reload"]);
        assert!(
            out.status.success(),
            "daemon-reload: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The unit the systemd labs run: `gantry sim`, Type=notify. Its
/// ExecStart is a shell that execs the sim (so MainPID is the sim) after
/// starting a helper that waits for the sim's port, then runs
/// `systemd-notify --ready` (which waits for systemd to take it): the
/// stand-in for a service that sends READY=1 itself. Two release keys
/// drive the unit's own faults: UNIT_FAIL_START=1 fails its ExecStartPre
/// (Result=exit-code), UNIT_READY_DELAY_S holds READY back.
pub const UNIT: &str = "gantry-sim.service";

/// A lab whose service is UNIT, and the container it runs in. `unit_extra`
/// goes into the unit's [Unit] section.
pub fn systemd_lab(name: &str, soak: u64, unit_extra: &str) -> (Lab, Nspawn) {
    let mut lab = Lab::new(name, soak);
    // The sim's `gantry sim --listen 127.0.0.1:PORT` becomes the unit's
    // command line; the config names the unit.
    let listen = lab.swap_service(&format!("\"systemd\"\nunit = \"{UNIT}\""));
    let port = listen.rsplit(':').next().unwrap().to_string();
    let state = lab.dir.path().to_path_buf();
    let container = Nspawn::boot(&[&state]);
    container.install_unit(UNIT, &unit_text(&state, &listen, &port, unit_extra));
    lab.agent_prefix = container.inside();
    (lab, container)
}

fn unit_text(state: &Path, listen: &str, port: &str, unit_extra: &str) -> String {
    let state = state.display();
    format!(
        "[Unit]\n\
         Description=gantry sim under test\n\
         StartLimitIntervalSec=0\n\
         {unit_extra}\n\
         [Service]\n\
         Type=notify\n\
         NotifyAccess=all\n\
         EnvironmentFile={state}/current.env\n\
         EnvironmentFile={state}/stage.env\n\
         Environment=GANTRY_HOST=lab\n\
         WorkingDirectory={state}\n\
         ExecStartPre=/bin/sh -c 'test -z \"$$UNIT_FAIL_START\"'\n\
         ExecStart=/bin/bash -c '(until (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null; do sleep 0.02; done; \
         sleep $${{UNIT_READY_DELAY_S:-0}}; systemd-notify --ready) & exec {GANTRY} sim --listen {listen}'\n\
         Restart=no\n\
         TimeoutStartSec=5\n\
         TimeoutStopSec=5\n"
    )
}

/// The container's PID 1 as this host numbers it: the child of
/// systemd-nspawn that is PID 1 in its own namespace.
fn leader_of(nspawn: u32) -> Option<u32> {
    for child in super::procs::all()
        .into_iter()
        .filter(|p| p.ppid == nspawn as i32)
    {
        let pid = child.pid as u32;
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        };
        let ppid = field("PPid:").and_then(|v| v.first()?.parse::<u32>().ok());
        let nspid = field("NSpid:").unwrap_or_default();
        if ppid == Some(nspawn) && nspid.len() >= 2 && nspid.last().map(String::as_str) == Some("1")
        {
            return Some(pid);
        }
    }
    None
}

impl Drop for Nspawn {
    fn drop(&mut self) {
        // Killing PID 1 ends every process in its pid namespace: the
        // units, and any agent entered into it.
        if self.leader != 0 {
            // SAFETY: kill(2) on the container's init, which this test booted.
            unsafe {
                libc::kill(self.leader as i32, libc::SIGKILL);
            }
        }
        if let Some(child) = &mut self.child {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && child.try_wait().ok().flatten().is_none() {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // Lazy: a process still holding a file in it cannot keep the mount.
        let _ = Command::new("umount").arg("-l").arg(&self.root).status();
        for cgroup in &self.cgroups {
            remove_cgroup(cgroup);
        }
    }
}

/// A new, empty cgroup under this process's own, in the systemd (v1)
/// and the unified hierarchies, whichever are mounted.
fn own_cgroups() -> Vec<PathBuf> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "gantry-nspawn-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut made = Vec::new();
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next(), parts.next(), parts.next());
        let mount = match controllers {
            Some("name=systemd") => PathBuf::from("/sys/fs/cgroup/systemd"),
            Some("") if Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists() => {
                PathBuf::from("/sys/fs/cgroup/unified")
            }
            Some("") => PathBuf::from("/sys/fs/cgroup"),
            _ => continue,
        };
        let dir = mount
            .join(path.unwrap_or("/").trim_start_matches('/'))
            .join(&name);
        std::fs::create_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot create the cgroup {}: {e}", dir.display()));
        made.push(dir);
    }
    made
}

/// rmdir a cgroup and the ones systemd made under it, deepest first.
fn remove_cgroup(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup(&entry.path());
            }
        }
    }
    // The last processes may take a moment to leave it.
    for _ in 0..100 {
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
