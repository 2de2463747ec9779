//! A long-lived link to a host over the embedded SSH server: it comes up,
//! answers commands, reports the drop, refuses commands while down, and
//! comes back by itself when the host does.

mod common;

use std::time::Duration;

use gantry::ssh::link::{self, LinkEvent};
use gantry::ssh::server::{Authorized, EmbeddedServer};
use gantry::ssh::target::Target;
use gantry::wire::{AgentMsg, Request};
use tokio::sync::mpsc;

async fn next(
    events: &mut mpsc::Receiver<(usize, LinkEvent)>,
    what: &str,
    matches: impl Fn(&LinkEvent) -> bool,
) -> LinkEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (_, event) = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("no {what} within 15 s"))
            .expect("link alive");
        if matches(&event) {
            return event;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_reports_drops_refuses_while_down_and_reconnects() {
    let mut lab = common::Lab::new("lab-link", 1);
    lab.start_agent();
    let client_key =
        russh::keys::PrivateKey::random(&mut rand::rng(), russh::keys::Algorithm::Ed25519).unwrap();
    let identity = lab.path("id_ed25519");
    client_key
        .write_openssh_file(&identity, russh::keys::ssh_key::LineEnding::LF)
        .unwrap();
    let host_key =
        russh::keys::PrivateKey::random(&mut rand::rng(), russh::keys::Algorithm::Ed25519).unwrap();
    let authorized = vec![Authorized {
        key: client_key.public_key().clone(),
        forced_command: None,
    }];
    let server = EmbeddedServer::start_with_key(
        "127.0.0.1:0".parse().unwrap(),
        authorized.clone(),
        host_key.clone(),
    )
    .await
    .unwrap();
    let addr = server.addr;
    let known_hosts = lab.path("known_hosts");
    std::fs::write(&known_hosts, server.known_hosts_line() + "\n").unwrap();
    let target = Target {
        name: "lab-link".into(),
        address: "127.0.0.1".into(),
        port: addr.port(),
        user: "tester".into(),
        identities: vec![identity],
        certificates: Vec::new(),
        known_hosts: vec![known_hosts],
        host_key_alias: None,
        accept_new: false,
        jump: None,
        command: format!(
            "{} attach --config {}",
            common::GANTRY,
            lab.config.display()
        ),
        connect_timeout: Duration::from_secs(5),
    };
    let (tx, mut events) = mpsc::channel(64);
    let handle = link::spawn(target, 7, tx);
    next(&mut events, "up", |e| matches!(e, LinkEvent::Up { .. })).await;
    next(&mut events, "snapshot", |e| {
        matches!(e, LinkEvent::Message(AgentMsg::Snapshot { .. }))
    })
    .await;
    let reply = handle
        .ask(Request::Status, None, Some("tester".into()))
        .await
        .unwrap();
    assert!(reply.ok);

    drop(server);
    let down = next(&mut events, "down", |e| matches!(e, LinkEvent::Down { .. })).await;
    let LinkEvent::Down { retry_in, .. } = down else {
        unreachable!()
    };
    assert!(
        retry_in >= Duration::from_millis(400) && retry_in <= Duration::from_secs(1),
        "{retry_in:?}"
    );
    let refused = handle.ask(Request::Status, None, None).await;
    assert!(
        refused.is_err(),
        "a command while down is refused, not queued"
    );

    // The host comes back with the same identity on the same port.
    let _server = EmbeddedServer::start_with_key(addr, authorized, host_key)
        .await
        .unwrap();
    next(&mut events, "up again", |e| {
        matches!(e, LinkEvent::Up { .. })
    })
    .await;
    let reply = handle.ask(Request::Status, None, None).await.unwrap();
    assert!(reply.ok);
}

/// The control room opens one link per host, but holds at most
/// `MAX_PARALLEL_SSH` handshakes at once: a thousand-host fleet (or a
/// fleet-wide reconnect) is a queue on its hosts, not a burst. Light demo
/// hosts count the handshakes under way on their side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_hundred_hosts_holds_at_most_the_bound_of_handshakes_at_once() {
    const HOSTS: usize = 100;
    let fleet = gantry::demo::fleet::Fleet::start_light(HOSTS)
        .await
        .unwrap();
    let targets = gantry::ssh::target::Fleet::load(&fleet.hosts_file, false)
        .unwrap()
        .targets;
    assert_eq!(targets.len(), HOSTS);
    let (tx, mut events) = mpsc::channel(4 * HOSTS);
    let _links: Vec<_> = (targets.into_iter().enumerate())
        .map(|(i, target)| link::spawn(target, i, tx.clone()))
        .collect();
    let mut up = std::collections::HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while up.len() < HOSTS {
        let (index, event) = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("{} of {HOSTS} links up within 120 s", up.len()))
            .expect("links alive");
        if let LinkEvent::Message(AgentMsg::Snapshot { status, .. }) = event {
            assert_eq!(status.host, format!("demo-{}", index + 1));
            up.insert(index);
        }
    }
    let peak = fleet.handshakes.peak();
    eprintln!("{HOSTS} links up; at most {peak} handshakes at once");
    assert!(
        peak <= gantry::ssh::MAX_PARALLEL_SSH,
        "{peak} handshakes at once (bound {})",
        gantry::ssh::MAX_PARALLEL_SSH
    );
    assert!(peak > 1, "the links opened one by one, not in parallel");
}
