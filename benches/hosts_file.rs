//! Load time of the hosts file as the fleet grows: `cargo bench --bench
//! hosts_file` (figures in docs/benchmarks.md). The figure that matters is
//! the ratio of 10 000 hosts to 1 000 in one run: linear is about 10.

use std::fmt::Write as _;
use std::time::Instant;

const KEY: &str =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n";
const RUNS: usize = 5;

/// A fleet of `n` hosts sharing one key and one known_hosts, with waves
/// and a jump host, as a large real fleet is written.
fn fleet(n: usize) -> String {
    let mut text = String::from("waves = [\"canary\", \"primary\", \"full\"]\n");
    for i in 0..n {
        let wave = ["canary", "primary", "full"][i % 3];
        let jump = if i == 0 {
            String::new()
        } else {
            "jump = \"h-0\"\n".into()
        };
        write!(
            text,
            "\n[[host]]\nname = \"h-{i}\"\naddress = \"10.{}.{}.{}\"\nuser = \"deploy\"\nidentity = \"id\"\nknown_hosts = \"known_hosts\"\nwave = \"{wave}\"\n{jump}",
            i / 65536 % 256,
            i / 256 % 256,
            i % 256
        )
        .unwrap();
    }
    text
}

fn median_ms(n: usize) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("id"), KEY).unwrap();
    std::fs::write(dir.path().join("known_hosts"), "h ssh-ed25519 AAAAC3Nza\n").unwrap();
    let path = dir.path().join("hosts.toml");
    std::fs::write(&path, fleet(n)).unwrap();
    let mut runs: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let file = gantry::ssh::hosts::load(&path).expect("fleet loads");
            assert_eq!(file.hosts.len(), n);
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[RUNS / 2]
}

fn main() {
    let small = median_ms(1_000);
    let large = median_ms(10_000);
    println!(
        "hosts file: 1 000 hosts {small:.1} ms, 10 000 hosts {large:.1} ms (median of {RUNS}); ratio {:.1} (linear ≈ 10)",
        large / small
    );
}
