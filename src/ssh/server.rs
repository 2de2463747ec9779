//! An embedded SSH server (russh) on loopback, for the demo fleet and for
//! `cargo test` on a bare machine. It does what sshd does for gantry: checks
//! the client's key against an authorized list, runs the requested command
//! (or the key's forced command) with `sh -c`, and pipes the channel to it.
//!
//! Every server gets a fresh Ed25519 host key; clients check it against a
//! known_hosts file like any other host. Nothing here accepts any key.
//!
//! For the thousand-host benchmark a server may instead answer its sessions
//! in process ([`InProcess`]): the SSH side (keys, handshakes, channels,
//! keepalives) stays real, and no process is spawned per session.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// Serves one session's channel in process; returns its exit status.
pub type InProcess = Arc<
    dyn Fn(russh::ChannelStream<Msg>) -> Pin<Box<dyn Future<Output = u32> + Send>> + Send + Sync,
>;

/// What a session's `exec` runs.
#[derive(Clone)]
enum Serve {
    /// The requested (or forced) command, with `sh -c`, as sshd does.
    Command,
    InProcess(InProcess),
}

/// SSH handshakes under way on a group of servers (from the TCP accept to
/// the key accepted, or the connection gone), and the most seen at once:
/// what a client opening a thousand hosts puts on them.
#[derive(Default)]
pub struct Handshakes {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Handshakes {
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    fn begin(&self) {
        let now = self.now.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    fn end(&self) {
        self.now.fetch_sub(1, Ordering::Relaxed);
    }
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
        Self::serve(bind, authorized, host, Serve::Command, Arc::default()).await
    }

    /// As [`start`](Self::start), every session answered by `serve` in
    /// process whatever command it asks for, its handshakes counted in
    /// `handshakes` (shared by a fleet's servers).
    pub async fn start_in_process(
        bind: SocketAddr,
        authorized: Vec<Authorized>,
        serve: InProcess,
        handshakes: Arc<Handshakes>,
    ) -> anyhow::Result<Self> {
        let host = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)?;
        Self::serve(bind, authorized, host, Serve::InProcess(serve), handshakes).await
    }

    /// As [`start`](Self::start) with a given host key: a host that comes
    /// back keeps its identity.
    pub async fn start_with_key(
        bind: SocketAddr,
        authorized: Vec<Authorized>,
        host: PrivateKey,
    ) -> anyhow::Result<Self> {
        Self::serve(bind, authorized, host, Serve::Command, Arc::default()).await
    }

    async fn serve(
        bind: SocketAddr,
        authorized: Vec<Authorized>,
        host: PrivateKey,
        serve: Serve,
        handshakes: Arc<Handshakes>,
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
            serve,
            handshakes,
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
    serve: Serve,
    handshakes: Arc<Handshakes>,
}

impl russh::server::Server for Server {
    type Handler = Connection;

    fn new_client(&mut self, peer: Option<SocketAddr>) -> Connection {
        self.handshakes.begin();
        Connection {
            handshakes: Some(self.handshakes.clone()),
            authorized: self.authorized.clone(),
            serve: self.serve.clone(),
            peer,
            accepted: None,
            channels: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

struct Connection {
    /// Where it is counted until its key is accepted.
    handshakes: Option<Arc<Handshakes>>,
    authorized: Arc<Vec<Authorized>>,
    serve: Serve,
    peer: Option<SocketAddr>,
    accepted: Option<Authorized>,
    channels: Arc<Mutex<HashMap<ChannelId, Channel<Msg>>>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.handshake_done();
    }
}

impl Connection {
    fn handshake_done(&mut self) {
        if let Some(handshakes) = self.handshakes.take() {
            handshakes.end();
        }
    }

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
                self.handshake_done();
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
        let serve = self.serve.clone();
        tokio::spawn(async move {
            let code = match serve {
                Serve::Command => run(channel, &command, &requested, &fingerprint, &peer).await,
                Serve::InProcess(serve) => serve(channel.into_stream()).await,
            };
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
