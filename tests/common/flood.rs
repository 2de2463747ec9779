//! Clients that are not polite, for the flood tests and the flood bench.

#![allow(dead_code)]

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::Lab;

pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

pub fn raise_own_open_files(wanted: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max.min(wanted);
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
}

/// Clients that are not polite: `idle` connections that never send, and
/// `never_reading` ones that send `audit_tail` as fast as they can and
/// never read a reply. They last until the flood is dropped.
/// One flood at a time in a test binary: two at once on two cores measure
/// the machine, not the agent.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub struct Flood {
    _idle: Vec<UnixStream>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    // Last: released once the flood's connections are gone.
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl Flood {
    pub fn start(lab: &Lab, idle: usize, never_reading: usize) -> Self {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        raise_own_open_files(8192);
        let socket = lab.path("agent.sock");
        let idle = (0..idle)
            .map(|_| UnixStream::connect(&socket).unwrap())
            .collect();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = (0..never_reading)
            .map(|_| {
                let mut stream = UnixStream::connect(&socket).unwrap();
                stream
                    .set_write_timeout(Some(Duration::from_millis(200)))
                    .unwrap();
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let line =
                        b"{\"type\":\"command\",\"id\":\"\",\"op\":\"audit_tail\",\"n\":200}\n";
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        if stream.write_all(line).is_err() {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                })
            })
            .collect();
        Self {
            _idle: idle,
            stop,
            threads,
            _turn: turn,
        }
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
