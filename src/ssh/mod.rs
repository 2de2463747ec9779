//! SSH, the transport: who to reach (`target`, from the hosts file and
//! `~/.ssh/config`), whether a host key is the one we know (`known_hosts`,
//! with OpenSSH's patterns in `pattern`), the russh client and the embedded
//! server, a long-lived link per host for the control room (`link`), and
//! the audit heads a client remembers (`heads`).
//!
//! It knows nothing of commands: `ctl` and the control room (`console`)
//! choose targets here and speak the wire protocol over the sessions.

pub mod client;
pub mod heads;
pub mod hosts;
pub mod known_hosts;
pub mod link;
pub mod pattern;
pub mod server;
pub mod ssh_config;
pub mod target;

use std::future::Future;
use std::sync::Arc;

/// How many SSH connections one command opens at once across a hosts file
/// (`ctl --hosts FILE status`, a rollout's waves and surveys, the control
/// room's connects). Opening all of a 10 000-host file at once ran out of
/// file descriptors on 8 987 of them; 32 keeps a fleet status quick while
/// staying far under the default limit of 1024.
pub const MAX_PARALLEL_SSH: usize = 32;

/// Runs `futures` on tasks, at most [`MAX_PARALLEL_SSH`] at a time, and
/// returns their results in order (a task that panicked is its JoinError).
pub async fn bounded<F, T>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<Result<T, tokio::task::JoinError>>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_PARALLEL_SSH));
    let handles: Vec<_> = futures
        .into_iter()
        .map(|future| {
            let permits = permits.clone();
            tokio::spawn(async move {
                // The semaphore is never closed, so acquire cannot fail.
                let _permit = permits.acquire_owned().await;
                future.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn bounded_never_runs_more_than_the_limit_and_keeps_order() {
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let results = bounded((0..200).map(|i| {
            let (running, peak) = (running.clone(), peak.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                i
            }
        }))
        .await;
        let results: Vec<usize> = results.into_iter().map(Result::unwrap).collect();
        assert_eq!(results, (0..200).collect::<Vec<_>>());
        assert_eq!(
            peak.load(Ordering::SeqCst),
            MAX_PARALLEL_SSH,
            "saturated, never over"
        );
    }
}
