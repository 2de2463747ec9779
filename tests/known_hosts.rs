//! Differential test: gantry's known_hosts verdicts against OpenSSH's own
//! `ssh` on the same files.
//!
//! A throwaway `sshd` listens on 127.0.0.1 with an ED25519 host key; for
//! each case we write known_hosts file(s), connect with
//! `ssh -o StrictHostKeyChecking=yes`, read from its stderr whether it
//! refused the host key (and why) or got past it to authentication, and
//! assert that `KnownHosts::check` says the same. Each case also carries
//! the outcome OpenSSH 9 gives today, so a change in OpenSSH shows up as a
//! named case rather than silently moving both sides.
//!
//! Connections use the real name and the server's non-default port, so
//! ssh looks up `[name]:port` and then, if nothing at all is known for
//! that, the bare name. `HostKeyAlias` cases cover the port-22 path: ssh
//! looks an alias up as it is (lowercased), without a port and without
//! that fallback, which is exactly `check(alias, 22, …)`.
//!
//! Without `sshd`/`ssh`/`ssh-keygen` the test prints a note and passes,
//! unless `GANTRY_REQUIRE_OPENSSH=1`, when it fails.

use std::fs;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gantry::ssh::known_hosts::{KnownHosts, Verdict, fingerprint};

/// Kills and reaps its process when dropped, so a failing assertion never
/// leaves an sshd or ssh behind.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Got past the host key (to "Permission denied" at authentication).
    Accepted,
    Changed,
    Revoked,
    Unknown,
}

fn gantry_outcome(v: &Verdict) -> Outcome {
    match v {
        Verdict::Trusted { .. } => Outcome::Accepted,
        Verdict::Changed { .. } => Outcome::Changed,
        Verdict::Revoked { .. } => Outcome::Revoked,
        Verdict::Unknown => Outcome::Unknown,
    }
}

struct Tools {
    sshd: PathBuf,
    ssh: PathBuf,
    keygen: PathBuf,
}

fn find_tool(name: &str, usual: &str) -> Option<PathBuf> {
    if Path::new(usual).is_file() {
        return Some(PathBuf::from(usual));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn find_tools() -> Result<Tools, String> {
    let sshd = find_tool("sshd", "/usr/sbin/sshd")
        .ok_or("sshd not found (apt-get install openssh-server)")?;
    let ssh =
        find_tool("ssh", "/usr/bin/ssh").ok_or("ssh not found (apt-get install openssh-client)")?;
    let keygen = find_tool("ssh-keygen", "/usr/bin/ssh-keygen").ok_or("ssh-keygen not found")?;
    Ok(Tools { sshd, ssh, keygen })
}

/// A running sshd and the keys the cases write into known_hosts.
struct Lab {
    tools: Tools,
    dir: tempfile::TempDir,
    _sshd: ChildGuard,
    port: u16,
    /// "ssh-ed25519 BASE64" of the server's host key, its base64 and blob.
    key: String,
    b64: String,
    blob: Vec<u8>,
    /// Another ED25519 key, and an ECDSA key the server also holds.
    other: String,
    ecdsa: String,
    counter: AtomicUsize,
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn keygen(tools: &Tools, dir: &Path, name: &str, kind: &str) -> Result<String, String> {
    let path = dir.join(name);
    run(Command::new(&tools.keygen)
        .args(["-q", "-t", kind, "-N", "", "-C", "gantry-test", "-f"])
        .arg(&path))?;
    let public = fs::read_to_string(path.with_extension("pub")).map_err(|e| e.to_string())?;
    // "type base64 comment": keep type and base64.
    Ok(public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" "))
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

impl Lab {
    fn start() -> Result<Lab, String> {
        let tools = find_tools()?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let key = keygen(&tools, dir.path(), "hostkey", "ed25519")?;
        let ecdsa = keygen(&tools, dir.path(), "hostkey_ecdsa", "ecdsa")?;
        let other = keygen(&tools, dir.path(), "otherkey", "ed25519")?;
        let b64 = key.split(' ').nth(1).unwrap_or_default().to_string();
        let blob = STANDARD.decode(&b64).map_err(|e| e.to_string())?;

        // sshd run as root insists on its privilege-separation directory,
        // which the openssh-server service normally creates at boot.
        if !Path::new("/run/sshd").exists() {
            let _ = fs::create_dir_all("/run/sshd");
        }
        let mut last_error = String::new();
        for _attempt in 0..3 {
            let port = free_port()?;
            let config = dir.path().join("sshd_config");
            let base = format!(
                "ListenAddress 127.0.0.1\nPort {port}\nHostKey {0}/hostkey\nHostKey {0}/hostkey_ecdsa\nPidFile none\nUsePAM no\nStrictModes no\n",
                dir.path().display()
            );
            // OpenSSH 9.8+ penalises clients that connect and never log in,
            // which is all this test does; older sshd rejects the option.
            fs::write(&config, format!("{base}PerSourcePenalties no\n"))
                .map_err(|e| e.to_string())?;
            if run(Command::new(&tools.sshd).arg("-t").arg("-f").arg(&config)).is_err() {
                fs::write(&config, &base).map_err(|e| e.to_string())?;
                run(Command::new(&tools.sshd).arg("-t").arg("-f").arg(&config))?;
            }
            let log = dir.path().join("sshd.log");
            let log_file = fs::File::create(&log).map_err(|e| e.to_string())?;
            let child = Command::new(&tools.sshd)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file)
                .spawn()
                .map_err(|e| format!("cannot start sshd: {e}"))?;
            let mut sshd = ChildGuard(child);
            let deadline = Instant::now() + Duration::from_secs(5);
            let ready = loop {
                if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                    break true;
                }
                if Instant::now() > deadline || matches!(sshd.0.try_wait(), Ok(Some(_))) {
                    break false;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            if ready {
                return Ok(Lab {
                    tools,
                    dir,
                    _sshd: sshd,
                    port,
                    key,
                    b64,
                    blob,
                    other,
                    ecdsa,
                    counter: AtomicUsize::new(0),
                });
            }
            last_error = format!(
                "sshd did not start: {}",
                fs::read_to_string(&log).unwrap_or_default()
            );
        }
        Err(last_error)
    }

    fn fresh_path(&self, what: &str) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        self.dir.path().join(format!("{what}-{n}"))
    }

    /// `ssh-keygen -H` of the given lines: OpenSSH's own hashing.
    fn hashed(&self, text: &str) -> String {
        let path = self.fresh_path("hash");
        fs::write(&path, text).unwrap();
        run(Command::new(&self.tools.keygen)
            .arg("-H")
            .arg("-f")
            .arg(&path))
        .unwrap();
        let hashed = fs::read_to_string(&path).unwrap();
        assert!(hashed.starts_with("|1|"), "ssh-keygen -H gave {hashed:?}");
        hashed
    }

    /// What OpenSSH's ssh does with these known_hosts files.
    fn openssh(&self, files: &[PathBuf], name: &str, alias: Option<&str>) -> (Outcome, String) {
        let list = files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" ");
        let err_path = self.fresh_path("stderr");
        let err_file = fs::File::create(&err_path).unwrap();
        let mut cmd = Command::new(&self.tools.ssh);
        cmd.args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
        ])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={list}"))
        .args([
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "CheckHostIP=no",
        ])
        .args([
            "-o",
            "HostKeyAlgorithms=ssh-ed25519",
            "-o",
            "ConnectTimeout=5",
        ])
        .args(["-o", "UpdateHostKeys=no", "-o", "PubkeyAuthentication=no"])
        .args([
            "-o",
            "PasswordAuthentication=no",
            "-o",
            "KbdInteractiveAuthentication=no",
        ])
        .args(["-o", "GSSAPIAuthentication=no", "-l", "gantry-test"]);
        if let Some(alias) = alias {
            cmd.arg("-o").arg(format!("HostKeyAlias={alias}"));
        }
        cmd.arg("-p")
            .arg(self.port.to_string())
            .arg(name)
            .arg("true");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err_file)
            .spawn()
            .unwrap();
        let mut ssh = ChildGuard(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(status) = ssh.0.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "ssh to {name} hung");
            std::thread::sleep(Duration::from_millis(5));
        };
        let stderr = fs::read_to_string(&err_path).unwrap();
        let outcome = if stderr.contains("Host key verification failed") {
            if stderr.contains("REVOKED HOST KEY DETECTED") {
                Outcome::Revoked
            } else if stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
                Outcome::Changed
            } else if stderr.contains("host key is known for") {
                Outcome::Unknown
            } else {
                panic!("unclassified refusal from ssh:\n{stderr}")
            }
        } else if stderr.contains("Permission denied") || status.success() {
            Outcome::Accepted
        } else {
            panic!("ssh failed before or after the host key check ({status}):\n{stderr}")
        };
        (outcome, stderr)
    }
}

struct Case {
    what: &'static str,
    files: Vec<String>,
    /// The name ssh connects to (it must resolve to 127.0.0.1).
    name: &'static str,
    alias: Option<&'static str>,
    /// What OpenSSH 9 does today.
    expect: Outcome,
}

fn case(what: &'static str, text: String, expect: Outcome) -> Case {
    Case {
        what,
        files: vec![text],
        name: "127.0.0.1",
        alias: None,
        expect,
    }
}

fn cases(lab: &Lab) -> Vec<Case> {
    use Outcome::*;
    let p = lab.port;
    let k = &lab.key;
    let b = &lab.b64;
    let o = &lab.other;
    let e = &lab.ecdsa;
    let here = format!("[127.0.0.1]:{p}");
    let truncated = &b[..b.len() - 8];
    let mut all = vec![
        case("exact [host]:port", format!("{here} {k}\n"), Accepted),
        case(
            "bare name, non-default port (ssh falls back)",
            format!("127.0.0.1 {k}\n"),
            Accepted,
        ),
        case(
            "another port only",
            format!("[127.0.0.1]:{} {k}\n", p.wrapping_add(1)),
            Unknown,
        ),
        case(
            "another host only",
            format!("[127.0.0.2]:{p} {k}\n127.0.0.2 {k}\n"),
            Unknown,
        ),
        case(
            "hashed [host]:port",
            lab.hashed(&format!("{here} {k}\n")),
            Accepted,
        ),
        case(
            "hashed bare name",
            lab.hashed(&format!("127.0.0.1 {k}\n")),
            Accepted,
        ),
        case(
            "hashed other host",
            lab.hashed(&format!("[127.0.0.2]:{p} {k}\n")),
            Unknown,
        ),
        case(
            "hashed, another key",
            lab.hashed(&format!("{here} {o}\n")),
            Changed,
        ),
        case(
            "bad hash salt skipped",
            format!("|1|AAAA|xyz {k}\n{here} {k}\n"),
            Accepted,
        ),
        case("bad hash salt alone", format!("|1|AAAA|xyz {k}\n"), Unknown),
        case(
            "wildcard [127.0.0.*]:port",
            format!("[127.0.0.*]:{p} {k}\n"),
            Accepted,
        ),
        case("wildcard 127.0.0.*", format!("127.0.0.* {k}\n"), Accepted),
        case("wildcard *", format!("* {k}\n"), Accepted),
        case(
            "wildcard [127.0.0.?]:*",
            format!("[127.0.0.?]:* {k}\n"),
            Accepted,
        ),
        case("wildcard 127.0.0.??", format!("127.0.0.?? {k}\n"), Unknown),
        case("no CIDR", format!("127.0.0.0/8 {k}\n"), Unknown),
        case(
            "negation of the bare name only",
            format!("*,!127.0.0.1 {k}\n"),
            Accepted,
        ),
        case(
            "negation of [host]:port, bare name falls back to *",
            format!("*,!{here} {k}\n"),
            Accepted,
        ),
        case(
            "negation of both forms",
            format!("*,!{here},!127.0.0.1 {k}\n"),
            Unknown,
        ),
        case(
            "negation first, positive after",
            format!("!127.0.0.2,{here} {k}\n"),
            Accepted,
        ),
        case(
            "positive vetoed by wildcard negation",
            format!("{here},![127.0.0.*]:* {k}\n"),
            Unknown,
        ),
        case("@revoked alone", format!("@revoked {here} {k}\n"), Revoked),
        case(
            "@revoked after an accepting line",
            format!("{here} {k}\n@revoked * {k}\n"),
            Revoked,
        ),
        case(
            "@revoked before an accepting line",
            format!("@revoked * {k}\n{here} {k}\n"),
            Revoked,
        ),
        case(
            "@revoked bare name only (found by the fallback)",
            format!("@revoked 127.0.0.1 {k}\n"),
            Revoked,
        ),
        case(
            "@revoked bare name, [host]:port accepts first",
            format!("{here} {k}\n@revoked 127.0.0.1 {k}\n"),
            Accepted,
        ),
        case(
            "@revoked another key",
            format!("@revoked * {o}\n{here} {k}\n"),
            Accepted,
        ),
        case("changed key", format!("{here} {o}\n"), Changed),
        case(
            "changed key plus the right one",
            format!("{here} {o}\n{here} {k}\n"),
            Accepted,
        ),
        case(
            "another key under the bare name only",
            format!("127.0.0.1 {o}\n"),
            Unknown,
        ),
        case(
            "only another key type known",
            format!("{here} {e}\n"),
            Changed,
        ),
        case(
            "other type at [host]:port, key at bare name",
            format!("{here} {e}\n127.0.0.1 {k}\n"),
            Changed,
        ),
        case(
            "other type and the key",
            format!("{here} {e}\n{here} {k}\n"),
            Accepted,
        ),
        case(
            "tabs and runs of blanks",
            format!("{here}\t\tssh-ed25519 \t {b}\t a comment\n"),
            Accepted,
        ),
        case(
            "leading blanks",
            format!("  \t{here}   ssh-ed25519   {b}\n"),
            Accepted,
        ),
        case(
            "@revoked with tabs only",
            format!("@revoked\t*\tssh-ed25519\t{b}\n{here} {k}\n"),
            Revoked,
        ),
        case(
            "@revoked with tabs, spaces later: invalid marker",
            format!("@revoked\t*\tssh-ed25519\t{b} two words\n{here} {k}\n"),
            Accepted,
        ),
        case(
            "malformed lines before a good one",
            format!(
                "garbage\n{here}\n{here} ssh-ed25519\n{here} ssh-ed25519 !!!notbase64\n{here} ssh-ed25519 {truncated}\n{here} ecdsa-sha2-nistp256 {b}\n{here} {k}\n"
            ),
            Accepted,
        ),
        case(
            "bad base64 only",
            format!("{here} ssh-ed25519 !!!notbase64\n"),
            Unknown,
        ),
        case(
            "truncated key only",
            format!("{here} ssh-ed25519 {truncated}\n"),
            Unknown,
        ),
        case(
            "key type mismatch only",
            format!("{here} ecdsa-sha2-nistp256 {b}\n"),
            Unknown,
        ),
        case(
            "comment glued to the key",
            format!("{here} ssh-ed25519 {b}#comment\n"),
            Unknown,
        ),
        case("unknown marker", format!("@foo {here} {k}\n"), Unknown),
        case(
            "two markers",
            format!("@revoked @revoked * {k}\n{here} {k}\n"),
            Accepted,
        ),
        case(
            "@cert-authority *",
            format!("@cert-authority * {k}\n"),
            Unknown,
        ),
        case(
            "@cert-authority [host]:port",
            format!("@cert-authority {here} {k}\n"),
            Unknown,
        ),
        case(
            "comment-only file",
            "# a comment\n   # indented\n\n\t\n".to_string(),
            Unknown,
        ),
        case("empty file", String::new(), Unknown),
        case(
            "CRLF with comment",
            format!("{here} {k} comment\r\n"),
            Accepted,
        ),
        case("CRLF without comment", format!("{here} {k}\r\n"), Accepted),
        case(
            "CRLF @revoked",
            format!("@revoked * {k}\r\n{here} {k}\r\n"),
            Revoked,
        ),
        case("no final newline", format!("{here} {k}"), Accepted),
    ];
    all.push(Case {
        what: "two files: changed in one, the key in the other",
        files: vec![format!("{here} {o}\n"), format!("{here} {k}\n")],
        ..case("", String::new(), Accepted)
    });
    all.push(Case {
        what: "two files: accepted in one, @revoked in the other",
        files: vec![format!("{here} {k}\n"), format!("@revoked * {k}\n")],
        ..case("", String::new(), Revoked)
    });
    all.push(Case {
        name: "localhost",
        ..case("localhost", format!("[localhost]:{p} {k}\n"), Accepted)
    });
    all.push(Case {
        name: "LOCALHOST",
        ..case(
            "uppercase client name",
            format!("[localhost]:{p} {k}\n"),
            Accepted,
        )
    });
    all.push(Case {
        name: "localhost",
        ..case(
            "uppercase pattern",
            format!("[LOCALHOST]:{p} {k}\n"),
            Accepted,
        )
    });
    all.push(Case {
        name: "localhost",
        ..case(
            "hashed localhost",
            lab.hashed(&format!("[localhost]:{p} {k}\n")),
            Accepted,
        )
    });
    // HostKeyAlias: looked up as is (lowercased), no port, no fallback.
    let alias = |what, text: String, alias, expect| Case {
        alias: Some(alias),
        ..case(what, text, expect)
    };
    all.push(alias(
        "alias, bare line",
        format!("gantry-alias {k}\n"),
        "gantry-alias",
        Accepted,
    ));
    all.push(alias(
        "alias, bracketed line",
        format!("[gantry-alias]:{p} {k}\n"),
        "gantry-alias",
        Unknown,
    ));
    all.push(alias(
        "alias, changed key",
        format!("gantry-alias {o}\n"),
        "gantry-alias",
        Changed,
    ));
    all.push(alias(
        "alias, other key type",
        format!("gantry-alias {e}\n"),
        "gantry-alias",
        Changed,
    ));
    all.push(alias(
        "alias, uppercase",
        format!("gantry-alias {k}\n"),
        "Gantry-ALIAS",
        Accepted,
    ));
    all.push(alias(
        "alias, hashed",
        lab.hashed(&format!("gantry-alias {k}\n")),
        "gantry-alias",
        Accepted,
    ));
    all.push(alias(
        "alias, revoked",
        format!("gantry-alias {k}\n@revoked * {k}\n"),
        "gantry-alias",
        Revoked,
    ));
    all.push(alias(
        "alias, negated",
        format!("*,!gantry-alias {k}\n"),
        "gantry-alias",
        Unknown,
    ));
    all.push(alias(
        "alias, wildcard",
        format!("gantry-* {k}\n"),
        "gantry-alias",
        Accepted,
    ));
    all
}

#[test]
fn gantry_agrees_with_openssh() {
    let lab = match Lab::start() {
        Ok(lab) => lab,
        Err(why) if std::env::var("GANTRY_REQUIRE_OPENSSH").as_deref() == Ok("1") => {
            panic!("GANTRY_REQUIRE_OPENSSH=1 but OpenSSH cannot be used: {why}")
        }
        Err(why) => {
            eprintln!("skipping the OpenSSH differential test: {why}");
            return;
        }
    };

    // Fingerprints: ours against ssh-keygen -lf.
    let listed = run(Command::new(&lab.tools.keygen)
        .arg("-lf")
        .arg(lab.dir.path().join("hostkey.pub")))
    .unwrap();
    let theirs = listed
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert_eq!(fingerprint(&lab.blob), theirs);

    let all = cases(&lab);
    let started = Instant::now();
    // A few at a time: well under sshd's MaxStartups, and fast.
    let results: Vec<(usize, Outcome, Outcome, String)> = std::thread::scope(|scope| {
        let chunks: Vec<Vec<(usize, &Case)>> = (0..4)
            .map(|w| all.iter().enumerate().filter(|(i, _)| i % 4 == w).collect())
            .collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let lab = &lab;
                scope.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|(i, c)| {
                            let files: Vec<PathBuf> = c
                                .files
                                .iter()
                                .map(|text| {
                                    let path = lab.fresh_path("known_hosts");
                                    fs::write(&path, text).unwrap();
                                    path
                                })
                                .collect();
                            let (theirs, stderr) = lab.openssh(&files, c.name, c.alias);
                            let (host, port) = match c.alias {
                                Some(alias) => (alias, 22),
                                None => (c.name, lab.port),
                            };
                            let known = if let [text] = c.files.as_slice() {
                                KnownHosts::parse(text, &files[0])
                            } else {
                                KnownHosts::load(&files).unwrap()
                            };
                            let verdict = known.check(host, port, "ssh-ed25519", &lab.blob);
                            if let Verdict::Changed { offered, .. } = &verdict {
                                assert_eq!(offered, &fingerprint(&lab.blob));
                            }
                            (i, theirs, gantry_outcome(&verdict), stderr)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });

    let mut failures = Vec::new();
    for (i, theirs, ours, stderr) in &results {
        let c = &all[*i];
        if theirs != ours || *theirs != c.expect {
            failures.push(format!(
                "{}: OpenSSH {theirs:?}, gantry {ours:?}, expected {:?}\n  files: {:?}\n  ssh said: {}",
                c.what,
                c.expect,
                c.files,
                stderr.trim().replace('\n', "\n            ")
            ));
        }
    }
    eprintln!(
        "{} cases against OpenSSH in {:?}",
        results.len(),
        started.elapsed()
    );
    assert_eq!(results.len(), all.len());
    assert!(
        failures.is_empty(),
        "{} of {} cases disagree:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}
