//! An embedded SSH server (russh) on loopback, for the demo fleet and for
//! `cargo test` on a bare machine. It does what sshd does for gantry: checks
//! the client's key against an authorized list, runs the requested command
//! (or the key's forced command) with `sh -c`, and pipes the channel to it.
//!
//! Every server gets a fresh Ed25519 host key; clients check it against a
//! known_hosts file like any other host. Nothing here accepts any key.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;

use russh::keys::{Algorithm, PrivateKey, PublicKey};
use russh::server::{Auth, ChannelOpenHandle, Msg, Server as _, Session};
use russh::{Channel, ChannelId};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::Mutex;

/// A client key the server accepts, with an optional forced command (as
/// `command="…"` in authorized_keys).
#[derive(Clone)]
pub struct Authorized {
    pub key: PublicKey,
    pub forced_command: Option<String>,
}

pub struct EmbeddedServer {
    pub addr: SocketAddr,
    pub host_key: PublicKey,
    task: tokio::task::JoinHandle<()>,
}

impl EmbeddedServer {
    /// Binds `bind` (use port 0 for a free one) with a fresh host key and
    /// serves until dropped.
    pub async fn start(bind: SocketAddr, authorized: Vec<Authorized>) -> anyhow::Result<Self> {
        let host = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)?;
        Self::start_with_key(bind, authorized, host).await
    }

    /// As [`start`](Self::start) with a given host key: a host that comes
    /// back keeps its identity.
    pub async fn start_with_key(
        bind: SocketAddr,
        authorized: Vec<Authorized>,
        host: PrivateKey,
    ) -> anyhow::Result<Self> {
        let host_key = host.public_key().clone();
        let config = Arc::new(russh::server::Config {
            keys: vec![host],
            auth_rejection_time: std::time::Duration::from_millis(50),
            auth_rejection_time_initial: Some(std::time::Duration::from_millis(0)),
            inactivity_timeout: None,
            keepalive_interval: Some(std::time::Duration::from_secs(15)),
            ..Default::default()
        });
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let mut server = Server {
            authorized: Arc::new(authorized),
        };
        let task = tokio::spawn(async move {
            let _ = server.run_on_socket(config, &listener).await;
        });
        Ok(Self {
            addr,
            host_key,
            task,
        })
    }

    /// The known_hosts line for this server.
    pub fn known_hosts_line(&self) -> String {
        let key = self.host_key.to_openssh().unwrap_or_default();
        format!("[{}]:{} {key}", self.addr.ip(), self.addr.port())
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Server {
    authorized: Arc<Vec<Authorized>>,
}

impl russh::server::Server for Server {
    type Handler = Connection;

    fn new_client(&mut self, peer: Option<SocketAddr>) -> Connection {
        Connection {
            authorized: self.authorized.clone(),
            peer,
            accepted: None,
            channels: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

struct Connection {
    authorized: Arc<Vec<Authorized>>,
    peer: Option<SocketAddr>,
    accepted: Option<Authorized>,
    channels: Arc<Mutex<HashMap<ChannelId, Channel<Msg>>>>,
}

impl Connection {
    fn find(&self, key: &PublicKey) -> Option<&Authorized> {
        self.authorized
            .iter()
            .find(|a| a.key.key_data() == key.key_data())
    }
}

impl russh::server::Handler for Connection {
    type Error = russh::Error;

    async fn auth_publickey_offered(
        &mut self,
        _user: &str,
        offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(match self.find(offer.public_key) {
            Some(_) => Auth::Accept,
            None => Auth::reject(),
        })
    }

    async fn auth_publickey(
        &mut self,
        _user: &str,
        key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        match self.find(key.public_key).cloned() {
            Some(authorized) => {
                self.accepted = Some(authorized);
                Ok(Auth::Accept)
            }
            None => Ok(Auth::reject()),
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.lock().await.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        id: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(channel) = self.channels.lock().await.remove(&id) else {
            session.channel_failure(id)?;
            return Ok(());
        };
        let Some(accepted) = self.accepted.clone() else {
            session.channel_failure(id)?;
            return Ok(());
        };
        let requested = String::from_utf8_lossy(data).into_owned();
        let command = accepted
            .forced_command
            .clone()
            .unwrap_or_else(|| requested.clone());
        let fingerprint = accepted
            .key
            .fingerprint(russh::keys::HashAlg::Sha256)
            .to_string();
        let peer = self.peer.map_or_else(
            || "127.0.0.1 0".into(),
            |p| format!("{} {}", p.ip(), p.port()),
        );
        session.channel_success(id)?;
        let handle = session.handle();
        tokio::spawn(async move {
            let code = run(channel, &command, &requested, &fingerprint, &peer).await;
            let _ = handle.exit_status_request(id, code).await;
            let _ = handle.eof(id).await;
            let _ = handle.close(id).await;
        });
        Ok(())
    }
}

/// Runs `command` with the channel as its stdin and stdout; returns its
/// exit status.
async fn run(
    channel: Channel<Msg>,
    command: &str,
    requested: &str,
    fingerprint: &str,
    peer: &str,
) -> u32 {
    let mut child = match Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("GANTRY_SSH_KEY", fingerprint)
        .env("SSH_CONNECTION", format!("{peer} 127.0.0.1 22"))
        .env("SSH_ORIGINAL_COMMAND", requested)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(_) => return 127,
    };
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return 127;
    };
    let (mut read_half, write_half) = channel.split();
    let mut to_client = write_half.make_writer();
    let mut to_client_err = write_half.make_writer_ext(Some(1));
    // Client → command runs on its own: the client closing its side must
    // not cut the command's remaining output (replies still in flight).
    let upstream = tokio::spawn(async move {
        let mut from_client = read_half.make_reader();
        let _ = tokio::io::copy(&mut from_client, &mut stdin).await;
        let _ = stdin.shutdown().await;
    });
    let errors = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut stderr, &mut to_client_err).await;
        let _ = to_client_err.flush().await;
    });
    let _ = tokio::io::copy(&mut stdout, &mut to_client).await;
    let _ = to_client.flush().await;
    let _ = errors.await;
    upstream.abort();
    match child.wait().await {
        Ok(status) => status.code().map_or(255, |c| c as u32),
        Err(_) => 255,
    }
}
