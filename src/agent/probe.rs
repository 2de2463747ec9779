//! Sampling the service: scrape its Prometheus text over HTTP, keep what
//! the checks read (`prom::query::History`), and evaluate one value per
//! check: a series, a rate or increase over the agent's own recent
//! scrapes, a ratio of two, or a histogram quantile. Anything short of a
//! clean page (refused connection, timeout, non-200, malformed text) is no
//! data for every metric check, never a zero; a check without a value
//! says why.

use std::time::{Duration, Instant};

use super::config::{Check, PROCESS_ALIVE};
use crate::pipeline::BaselineSource;
use crate::prom::{self, query::History};

pub struct Prober {
    client: reqwest::Client,
    url: String,
    /// The soak's evidence counter (`[pipeline.evidence]`), read with the
    /// checks.
    evidence: Option<prom::query::Query>,
    /// The series the checks read, over their longest window.
    history: History,
    /// Scrape times count from here: monotonic, so a clock step never
    /// reorders the history.
    epoch: Instant,
    last_ms: i64,
}

/// One scrape's outcome: a value per check, why each missing one is
/// missing, and, if the page was unusable, why.
pub struct Scrape {
    pub values: Vec<Option<f64>>,
    /// The evidence counter's value, if one is configured and read.
    pub evidence: Option<f64>,
    pub reasons: Vec<Option<String>>,
    pub error: Option<String>,
}

impl Prober {
    pub fn new(
        url: &str,
        timeout_ms: u64,
        checks: &[Check],
        evidence: Option<prom::query::Query>,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(timeout_ms))
            .connect_timeout(Duration::from_millis(timeout_ms))
            .no_proxy()
            .build()?;
        let mut queries: Vec<_> = checks.iter().filter_map(|c| c.query.clone()).collect();
        queries.extend(evidence.clone());
        Ok(Self {
            client,
            url: url.to_string(),
            evidence,
            history: History::new(&queries),
            epoch: Instant::now(),
            last_ms: -1,
        })
    }

    /// The service restarted: its windows start afresh
    /// ([`History::forget`]).
    pub fn forget(&mut self) {
        self.history.forget();
    }

    /// Scrapes once and evaluates every check; `alive` is the process check.
    pub async fn sample(&mut self, checks: &[Check], alive: bool) -> Scrape {
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
        // Strictly increasing, even for two scrapes in one millisecond.
        let now_ms = i64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(i64::MAX)
            .max(self.last_ms + 1);
        self.last_ms = now_ms;
        let _ = self.history.record(now_ms, exposition.as_ref());
        let (values, reasons) = checks
            .iter()
            .map(|check| {
                if check.spec.name == PROCESS_ALIVE {
                    return (Some(if alive { 1.0 } else { 0.0 }), None);
                }
                let Some(query) = &check.query else {
                    return (None, Some("no query".to_string()));
                };
                if exposition.is_none() {
                    return (None, Some("the scrape failed".to_string()));
                }
                match query.eval(&self.history, now_ms) {
                    prom::query::Evaluation::Value(value) => (Some(value), None),
                    prom::query::Evaluation::NoData(reason) => (None, Some(reason)),
                }
            })
            .unzip();
        let evidence = (self.evidence.as_ref())
            .filter(|_| exposition.is_some())
            .and_then(|q| q.eval(&self.history, now_ms).value());
        Scrape {
            values,
            evidence,
            reasons,
            error,
        }
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

/// The baseline hosts checks compare with (`baseline = { url = … }`), one
/// prober per URL, scraped at the same moment as the service.
pub struct BaselineProbers {
    hosts: Vec<BaselineHost>,
}

/// One baseline host and the checks judged against it.
struct BaselineHost {
    prober: Prober,
    /// The judged checks, and where each stands in the config's order.
    checks: Vec<Check>,
    indices: Vec<usize>,
}

impl BaselineProbers {
    pub fn new(checks: &[Check], timeout_ms: u64) -> anyhow::Result<Self> {
        // Checks grouped by their baseline URL, in config order.
        let mut groups: Vec<(&str, Vec<Check>, Vec<usize>)> = Vec::new();
        for (index, check) in checks.iter().enumerate() {
            let Some(url) = baseline_url(check) else {
                continue;
            };
            match groups.iter_mut().find(|(u, ..)| *u == url) {
                Some((_, judged, indices)) => {
                    judged.push(check.clone());
                    indices.push(index);
                }
                None => groups.push((url, vec![check.clone()], vec![index])),
            }
        }
        let hosts = groups
            .into_iter()
            .map(|(url, checks, indices)| {
                Ok(BaselineHost {
                    prober: Prober::new(url, timeout_ms, &checks, None)?,
                    checks,
                    indices,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { hosts })
    }

    /// Per check (in config order), what its baseline host gave now; empty
    /// when no check has a URL baseline.
    pub async fn sample(&mut self, checks: &[Check]) -> Vec<Option<f64>> {
        if self.hosts.is_empty() {
            return Vec::new();
        }
        let mut values = vec![None; checks.len()];
        for host in &mut self.hosts {
            let scrape = host.prober.sample(&host.checks, false).await;
            for (value, index) in scrape.values.into_iter().zip(&host.indices) {
                values[*index] = value;
            }
        }
        values
    }
}

fn baseline_url(check: &Check) -> Option<&str> {
    match &check.spec.baseline.as_ref()?.source {
        BaselineSource::Url(url) => Some(url),
        BaselineSource::KnownGood => None,
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
