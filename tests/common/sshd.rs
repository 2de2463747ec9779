//! A real OpenSSH `sshd` on 127.0.0.1 for interop tests. CI sets
//! GANTRY_REQUIRE_OPENSSH=1 so a missing sshd fails there instead of
//! skipping.

#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SSHD: &str = "/usr/sbin/sshd";

/// Whether OpenSSH interop can run here; panics when it must.
pub fn available() -> bool {
    let have = Path::new(SSHD).exists()
        && which("ssh-keygen")
        && which("ssh")
        // sshd switches to the logged-in user, which needs root.
        && unsafe { libc::geteuid() } == 0;
    if !have {
        if std::env::var("GANTRY_REQUIRE_OPENSSH").as_deref() == Ok("1") {
            panic!(
                "GANTRY_REQUIRE_OPENSSH=1 but OpenSSH (sshd, ssh, ssh-keygen, running as root) is not available"
            );
        }
        eprintln!(
            "skipping: OpenSSH sshd/ssh not available (set GANTRY_REQUIRE_OPENSSH=1 to require it)"
        );
    }
    have
}

fn which(binary: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(binary).is_file()))
}

pub fn user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// ssh-keygen -t ed25519; returns (private key path, public key line).
pub fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .output()
        .expect("ssh-keygen");
    assert!(
        out.status.success(),
        "ssh-keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = std::fs::read_to_string(path.with_extension("pub")).expect("public key");
    (path, public.trim().to_string())
}

pub struct Sshd {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
    pub host_public: String,
    pub log: PathBuf,
}

impl Sshd {
    /// Starts sshd with its own host key, `authorized_keys` lines as given.
    pub fn start(dir: &Path, authorized_keys: &[String]) -> Self {
        Self::start_with(dir, authorized_keys, |_| String::new())
    }

    /// [`Sshd::start`], with `extra` called on the ED25519 host key's path
    /// before sshd starts (to sign it, make more host keys) and its
    /// answer appended to sshd_config (`HostKey`, `HostCertificate` lines).
    pub fn start_with(
        dir: &Path,
        authorized_keys: &[String],
        extra: impl FnOnce(&Path) -> String,
    ) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        // Privilege separation needs this directory on Debian.
        let _ = std::fs::create_dir_all("/run/sshd");
        let (host_key, host_public) = keygen(dir, "host_ed25519");
        let extra = extra(&host_key);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let authorized = dir.join("authorized_keys");
        std::fs::write(&authorized, authorized_keys.join("\n") + "\n").unwrap();
        let log = dir.join("sshd.log");
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\n\
                 StrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nExposeAuthInfo yes\nAllowTcpForwarding yes\nLogLevel DEBUG1\n{extra}",
                host_key.display(),
                dir.join("sshd.pid").display(),
                authorized.display()
            ),
        )
        .unwrap();
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .arg("-E")
            .arg(&log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start sshd");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not listen: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child,
            port,
            dir: dir.to_path_buf(),
            host_public,
            log,
        }
    }

    /// This server's known_hosts line.
    pub fn known_hosts_line(&self) -> String {
        let key = self
            .host_public
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        format!("[127.0.0.1]:{} {key}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
