//! Real container engines for tests: a private `dockerd` (its own socket,
//! data and exec roots, no iptables, no bridge) or `podman` with `runc`
//! (its own containers.conf, storage and registries config, all under a
//! temp dir), and Debian's `docker-registry` on 127.0.0.1 to pull from.
//! The test image is this build's `gantry` (stripped) and the libraries
//! `ldd` names, imported from a tarball and pushed under two tags: `good`
//! (`gantry sim`) and `crash` (the same, with SIM_FAULT=crash after 1 s in
//! the image's env). The sim's state dir is /data, a volume.
//!
//! Everything is torn down on drop, pass or fail: containers removed, the
//! daemon stopped (then killed), leftover processes of this harness
//! (containerd, shims, conmon) killed by pid, mounts under the temp dir
//! unmounted.
//!
//! CI sets GANTRY_REQUIRE_ENGINES=1 so that a machine without the engines
//! fails there instead of skipping.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::GANTRY;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Docker,
    Podman,
}

impl Kind {
    pub fn program(self) -> &'static str {
        match self {
            Kind::Docker => "docker",
            Kind::Podman => "podman",
        }
    }
}

/// Whether `kind` can run here; panics when it must.
pub fn available(kind: Kind) -> bool {
    let on_path = |p: &str| {
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .any(|d| d.join(p).is_file())
    };
    let tools: &[&str] = match kind {
        Kind::Docker => &["docker", "dockerd", "docker-registry", "strip"],
        Kind::Podman => &["podman", "runc", "docker-registry", "docker", "strip"],
    };
    let have = tools.iter().all(|t| on_path(t)) && unsafe { libc::geteuid() } == 0;
    if !have {
        if std::env::var("GANTRY_REQUIRE_ENGINES").as_deref() == Ok("1") {
            panic!(
                "GANTRY_REQUIRE_ENGINES=1 but {} are not all installed, or not root (apt install docker.io podman runc docker-registry)",
                tools.join(", ")
            );
        }
        eprintln!(
            "skipping: {} not all installed, or not root (set GANTRY_REQUIRE_ENGINES=1 to require them)",
            tools.join(", ")
        );
    }
    have
}

pub struct Engine {
    pub kind: Kind,
    pub dir: tempfile::TempDir,
    /// `127.0.0.1:PORT/sim`: the test image's repository.
    pub repo: String,
    /// What the engine's CLI needs in its environment (the agent's too).
    pub env: Vec<(String, String)>,
    registry: Option<Child>,
    /// The private dockerd that imports and pushes the image (for both
    /// kinds: podman pulls it from the registry like any other).
    dockerd: Option<Child>,
    docker_env: Vec<(String, String)>,
}

impl Engine {
    /// Starts the registry and the engine, builds and pushes the image.
    pub fn start(kind: Kind) -> Self {
        // Short: dockerd's and containerd's sockets live under it.
        let dir = tempfile::Builder::new()
            .prefix("ge")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let port = free_port();
        let d = dir.path().to_path_buf();
        let mut me = Self {
            kind,
            dir,
            repo: format!("127.0.0.1:{port}/sim"),
            env: Vec::new(),
            registry: None,
            dockerd: None,
            docker_env: Vec::new(),
        };
        std::fs::create_dir_all(d.join("registry")).unwrap();
        std::fs::write(
            d.join("registry.yml"),
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                d.join("registry").display()
            ),
        )
        .unwrap();
        me.registry = Some(
            Command::new("docker-registry")
                .arg("serve")
                .arg(d.join("registry.yml"))
                .stdout(Stdio::null())
                .stderr(log(&d, "registry.log"))
                .spawn()
                .expect("start docker-registry"),
        );
        me.start_dockerd(port);
        if kind == Kind::Podman {
            me.configure_podman(port);
        } else {
            me.env = me.docker_env.clone();
        }
        wait_for(
            &format!("the registry on {port}"),
            Duration::from_secs(10),
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        );
        me.build_image();
        me
    }

    fn start_dockerd(&mut self, port: u16) {
        let d = self.dir.path().to_path_buf();
        let sock = d.join("docker.sock");
        self.docker_env = vec![(
            "DOCKER_HOST".to_string(),
            format!("unix://{}", sock.display()),
        )];
        let child = Command::new("dockerd")
            .args(["--iptables=false", "--ip-masq=false", "--bridge=none"])
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .arg("--insecure-registry")
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log(&d, "dockerd.log"))
            .spawn()
            .expect("start dockerd");
        self.dockerd = Some(child);
        let env = self.docker_env.clone();
        wait_for("dockerd to answer", Duration::from_secs(30), || {
            run_with("docker", &env, &["version"]).status.success()
        });
    }

    fn configure_podman(&mut self, port: u16) {
        let d = self.dir.path();
        let p = d.join("podman");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(
            p.join("containers.conf"),
            format!(
                "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
                 [engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\ntmp_dir = \"{}\"\n",
                p.join("tmp").display()
            ),
        )
        .unwrap();
        std::fs::write(
            p.join("registries.conf"),
            format!("[[registry]]\nlocation = \"127.0.0.1:{port}\"\ninsecure = true\n"),
        )
        .unwrap();
        std::fs::write(
            p.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"overlay\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                p.join("graph").display(),
                p.join("run").display()
            ),
        )
        .unwrap();
        self.env = [
            ("CONTAINERS_CONF", "containers.conf"),
            ("CONTAINERS_REGISTRIES_CONF", "registries.conf"),
            ("CONTAINERS_STORAGE_CONF", "storage.conf"),
        ]
        .iter()
        .map(|(k, f)| (k.to_string(), p.join(f).display().to_string()))
        .collect();
    }

    /// The root file system of the test image, imported twice and pushed.
    fn build_image(&self) {
        let d = self.dir.path();
        let root = d.join("image");
        for sub in ["lib/x86_64-linux-gnu", "lib64", "data", "tmp"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        let out = Command::new("strip")
            .arg("-o")
            .arg(root.join("gantry"))
            .arg(GANTRY)
            .output()
            .unwrap();
        assert!(out.status.success(), "strip: {}", text(&out.stderr));
        let ldd = Command::new("ldd").arg(GANTRY).output().unwrap();
        for line in text(&ldd.stdout).lines() {
            // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)", or the loader.
            let Some(path) = line.split_whitespace().find(|w| w.starts_with('/')) else {
                continue;
            };
            let to = root.join(path.trim_start_matches('/'));
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(path, &to).unwrap_or_else(|e| panic!("copy {path}: {e}"));
        }
        let tar = d.join("image.tar");
        let out = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .output()
            .unwrap();
        assert!(out.status.success(), "tar: {}", text(&out.stderr));
        let tar = tar.display().to_string();
        for (tag, extra) in [
            ("good", vec![]),
            (
                "crash",
                vec!["--change", "ENV SIM_FAULT=crash SIM_FAULT_AFTER_S=1"],
            ),
        ] {
            let reference = format!("{}:{tag}", self.repo);
            let mut args = vec![
                "import",
                "--change",
                "ENTRYPOINT [\"/gantry\", \"sim\"]",
                "--change",
                "ENV SIM_STATE_DIR=/data",
                "--change",
                "WORKDIR /data",
            ];
            args.extend(extra);
            args.extend([tar.as_str(), reference.as_str()]);
            self.docker_ok(&args);
            self.docker_ok(&["push", "-q", &reference]);
        }
    }

    fn docker_ok(&self, args: &[&str]) -> String {
        let out = run_with("docker", &self.docker_env, args);
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Runs the engine's CLI as the agent would.
    pub fn cli(&self, args: &[&str]) -> Output {
        run_with(self.kind.program(), &self.env, args)
    }

    /// `inspect` of one container, parsed; None if there is none.
    pub fn inspect(&self, name: &str) -> Option<serde_json::Value> {
        let out = self.cli(&["container", "inspect", name]);
        if !out.status.success() {
            return None;
        }
        let all: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(all[0].clone())
    }

    /// Removes every container of this engine.
    fn remove_all(&self) {
        let out = self.cli(&["ps", "-aq"]);
        for id in text(&out.stdout).split_whitespace() {
            let _ = self.cli(&["rm", "-f", id]);
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let d = self.dir.path().to_path_buf();
        self.remove_all();
        let docker_env = self.docker_env.clone();
        let out = run_with("docker", &docker_env, &["ps", "-aq"]);
        for id in text(&out.stdout).split_whitespace() {
            let _ = run_with("docker", &docker_env, &["rm", "-f", id]);
        }
        for child in [self.dockerd.take(), self.registry.take()]
            .into_iter()
            .flatten()
        {
            stop(child);
        }
        // containerd, its shims and conmon name this dir on their command
        // line: whatever of them outlived the daemon is killed by pid.
        kill_leftovers(&d);
        unmount_under(&d);
    }
}

/// SIGTERM, up to 15 s, then SIGKILL; reaped.
fn stop(mut child: Child) {
    // SAFETY: kill(2) on a child this harness started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn kill_leftovers(dir: &Path) {
    let needle = dir.display().to_string();
    let me = std::process::id() as i32;
    for p in super::procs::all() {
        if p.pid != me && p.cmdline.contains(&needle) {
            // SAFETY: kill(2) on a process whose command line names this
            // harness's private temp dir: one it started.
            unsafe {
                libc::kill(p.pid, libc::SIGKILL);
            }
        }
    }
}

/// Lazily unmounts every mount at or under `dir`, deepest first.
fn unmount_under(dir: &Path) {
    let needle = dir.display().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<String> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
        .filter(|p| p.starts_with(&needle))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = Command::new("umount").arg("-l").arg(&p).status();
    }
}

fn run_with(program: &str, env: &[(String, String)], args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

fn log(dir: &Path, name: &str) -> std::fs::File {
    std::fs::File::create(dir.join(name)).unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// A lab whose service is the container `name` of `engine`'s test image,
/// with the state dir mounted at /data. Returns the lab and the sim's
/// port (each release must carry SIM_LISTEN=127.0.0.1:PORT).
pub fn container_lab(engine: &Engine, lab_name: &str, container: &str) -> (super::Lab, u16) {
    let mut lab = super::Lab::new(lab_name, 1);
    let state: PathBuf = lab.dir.path().to_path_buf();
    let listen = lab.swap_service(&format!(
        "\"container\"\nengine = \"{}\"\nname = \"{container}\"\nimage = \"{}\"\nvolumes = [\"{}:/data\"]",
        engine.kind.program(),
        engine.repo,
        state.display()
    ));
    let port: u16 = listen.rsplit(':').next().unwrap().parse().unwrap();
    lab.agent_env = engine.env.clone();
    (lab, port)
}
