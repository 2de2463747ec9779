//! Sampling the service: scrape its Prometheus text over HTTP and read one
//! value per check. Anything short of a clean page (refused connection,
//! timeout, non-200, malformed text) is no data for every metric check,
//! never a zero.

use std::time::Duration;

use super::config::{Check, PROCESS_ALIVE};
use crate::prom::{self, Lookup};

pub struct Prober {
    client: reqwest::Client,
    url: String,
}

/// One scrape's outcome: a value per check and, if the page was unusable,
/// why.
pub struct Scrape {
    pub values: Vec<Option<f64>>,
    pub error: Option<String>,
}

impl Prober {
    pub fn new(url: &str, timeout_ms: u64) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(timeout_ms))
            .connect_timeout(Duration::from_millis(timeout_ms))
            .no_proxy()
            .build()?;
        Ok(Self {
            client,
            url: url.to_string(),
        })
    }

    /// Scrapes once and reads every check; `alive` is the process check.
    pub async fn sample(&self, checks: &[Check], alive: bool) -> Scrape {
        let page = self.fetch().await;
        let mut error = None;
        let exposition = match page {
            Ok(bytes) => match prom::parse(&bytes) {
                Ok(exposition) => Some(exposition),
                Err(e) => {
                    error = Some(format!("malformed metrics from {}: {e}", self.url));
                    None
                }
            },
            Err(e) => {
                error = Some(e);
                None
            }
        };
        let values = checks
            .iter()
            .map(|check| {
                if check.spec.name == PROCESS_ALIVE {
                    return Some(if alive { 1.0 } else { 0.0 });
                }
                let exposition = exposition.as_ref()?;
                match exposition.lookup(&check.metric, &check.labels) {
                    Lookup::Found(value) => Some(value),
                    Lookup::Missing => None,
                    Lookup::Ambiguous(n) => {
                        error.get_or_insert_with(|| {
                            format!(
                                "{} matches {n} series; a check needs exactly one",
                                check.selector
                            )
                        });
                        None
                    }
                }
            })
            .collect();
        Scrape { values, error }
    }

    async fn fetch(&self) -> Result<Vec<u8>, String> {
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| format!("scrape {}: {}", self.url, describe(&e)))?;
        if !response.status().is_success() {
            return Err(format!("scrape {}: HTTP {}", self.url, response.status()));
        }
        response
            .bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| format!("scrape {}: {}", self.url, describe(&e)))
    }
}

fn describe(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection refused or unreachable"
    } else {
        "request failed"
    }
}
