//! service.log of the command kind stays bounded under a chatty release:
//! a real agent, a real `gantry sim` writing about 200 KB/s.

mod common;

use std::time::{Duration, Instant};

use common::{Lab, stderr};

#[test]
fn a_chatty_release_does_not_grow_service_log_past_its_limit() {
    let mut lab = Lab::new("lab-chatty", 1);
    let config = std::fs::read_to_string(&lab.config).unwrap();
    let limited = config
        .replace("log_max_size = \"100MB\"", "log_max_size = \"100KB\"")
        .replace("log_keep = 5", "log_keep = 2");
    assert_ne!(config, limited, "the template names both settings");
    std::fs::write(&lab.config, limited).unwrap();
    lab.start_agent();
    let line = format!("chatter {}", "x".repeat(192));
    let release = lab.write_release(
        "chatty.env",
        format!("STRATEGY=momentum\nSIM_LOG_LINE={line}\nSIM_LOG_EVERY_MS=1\n").as_bytes(),
    );
    let out = lab.ctl_path(&["submit", "--reason", "chatty"], &release);
    assert!(out.status.success(), "submit: {}", stderr(&out));

    let log = lab.path("service.log");
    let numbered = |n: u32| lab.path(&format!("service.log.{n}"));
    let mut largest = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        largest = largest.max(std::fs::metadata(&log).map_or(0, |m| m.len()));
        std::thread::sleep(Duration::from_millis(10));
    }
    // Cut back at each sample (50 ms): what one interval writes may go
    // over, never a whole second's chatter.
    assert!(largest <= 150_000, "service.log reached {largest} bytes");
    assert!(
        numbered(1).exists() && numbered(2).exists(),
        "cut-off files kept"
    );
    assert!(!numbered(3).exists(), "no more than log_keep");
    let newest = std::fs::read_to_string(numbered(1)).unwrap();
    assert!(newest.contains(&line), "the chatter moved to service.log.1");
    // The service never noticed: it still runs the release.
    let status = lab.status();
    assert_eq!(status["service"]["running"], true, "{status:#}");
}
