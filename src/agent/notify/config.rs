//! The `[alerts]` section: webhooks, their format and the least priority
//! each takes, checked at load; priorities as words; URLs redacted for logs.

use serde::Deserialize;

use super::MAX_RETRIES;
use crate::pipeline::Priority;

pub(super) fn default_timeout_ms() -> u64 {
    2000
}

pub(super) fn default_retries() -> u32 {
    2
}

pub(super) fn default_min_priority() -> String {
    "P3".into()
}

/// `[alerts]` as written in gantry.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSection {
    #[serde(default)]
    pub webhooks: Vec<WebhookSection>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "default_retries")]
    pub retries: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    pub url: String,
    /// "slack" or "discord".
    pub format: String,
    /// The least urgent priority this webhook gets ("P0" … "P3").
    #[serde(default = "default_min_priority")]
    pub min_priority: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Slack,
    Discord,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub url: String,
    pub format: Format,
    pub min_priority: Priority,
}

impl Webhook {
    /// P0 is the most urgent; a webhook with min_priority P1 gets P0 and P1.
    pub fn wants(&self, priority: Priority) -> bool {
        priority <= self.min_priority
    }
}

/// The validated `[alerts]` section; the default sends nowhere.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertsConfig {
    pub webhooks: Vec<Webhook>,
    pub timeout_ms: u64,
    pub retries: u32,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            webhooks: Vec::new(),
            timeout_ms: default_timeout_ms(),
            retries: default_retries(),
        }
    }
}

impl AlertsConfig {
    /// Validates `[alerts]`; the error names the field
    /// (`alerts.webhooks[0].url: …`).
    pub fn parse(section: &AlertsSection) -> Result<Self, String> {
        if section.timeout_ms == 0 {
            return Err("alerts.timeout_ms: must be above 0".into());
        }
        if section.retries > MAX_RETRIES {
            return Err(format!(
                "alerts.retries: {} is more than {MAX_RETRIES}",
                section.retries
            ));
        }
        let mut webhooks = Vec::new();
        for (index, w) in section.webhooks.iter().enumerate() {
            let at = format!("alerts.webhooks[{index}]");
            let url = reqwest::Url::parse(&w.url)
                .map_err(|e| format!("{at}.url: {:?} is not a URL ({e})", redact(&w.url)))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(format!(
                    "{at}.url: {:?} is not an http(s) URL",
                    redact(&w.url)
                ));
            }
            let format = match w.format.to_ascii_lowercase().as_str() {
                "slack" => Format::Slack,
                "discord" => Format::Discord,
                other => {
                    return Err(format!(
                        "{at}.format: {other:?} is not \"slack\" or \"discord\""
                    ));
                }
            };
            let min_priority = parse_priority(&w.min_priority).ok_or_else(|| {
                format!(
                    "{at}.min_priority: {:?} is not P0, P1, P2 or P3",
                    w.min_priority
                )
            })?;
            webhooks.push(Webhook {
                url: w.url.clone(),
                format,
                min_priority,
            });
        }
        Ok(Self {
            webhooks,
            timeout_ms: section.timeout_ms,
            retries: section.retries,
        })
    }
}

pub fn parse_priority(text: &str) -> Option<Priority> {
    Some(match text.to_ascii_uppercase().as_str() {
        "P0" => Priority::P0,
        "P1" => Priority::P1,
        "P2" => Priority::P2,
        "P3" => Priority::P3,
        _ => return None,
    })
}

pub fn priority_str(priority: Priority) -> &'static str {
    match priority {
        Priority::P0 => "P0",
        Priority::P1 => "P1",
        Priority::P2 => "P2",
        Priority::P3 => "P3",
    }
}

/// A webhook URL carries its secret in the path (Slack, Discord): messages
/// and logs show only the scheme and host.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            // Credentials in the authority are secret as well.
            let host = authority.rsplit('@').next().unwrap_or(authority);
            if rest.len() > authority.len() {
                format!("{scheme}://{host}/…")
            } else {
                format!("{scheme}://{host}")
            }
        }
        None => url.chars().take(24).collect(),
    }
}
