//! `ctl releases` as text: one row per stint in live, newest first.

use crate::text::inert;
use crate::wire::releases::Releases;

pub fn render(list: &Releases) -> String {
    let mut out = format!(
        "{:<28} {:<14} {:<24} {:<24} {}\n",
        "RELEASE", "SHA256", "LIVE FROM", "LIVE UNTIL", "ENDED"
    );
    if list.releases.is_empty() {
        out.push_str("(no release has gone live on this host)\n");
    }
    for r in &list.releases {
        let ended = if r.serving {
            "serving".to_string()
        } else {
            match (&r.replaced_by, &r.detail) {
                (Some(by), _) => format!("replaced by {}", inert(by)),
                (None, Some(why)) => format!("{}: {}", r.ended, inert(why)),
                (None, None) => r.ended.to_string(),
            }
        };
        let marks = [
            (r.known_good, "known-good"),
            (r.eligible, "rollback --to ok"),
        ]
        .into_iter()
        .filter_map(|(on, word)| on.then_some(word))
        .collect::<Vec<_>>()
        .join(", ");
        out.push_str(&format!(
            "{:<28} {:<14} {:<24} {:<24} {ended}{}\n",
            inert(&r.release),
            inert(r.digest.get(..12).unwrap_or(&r.digest)),
            inert(&r.live_from),
            inert(r.live_until.as_deref().unwrap_or("-")),
            if marks.is_empty() {
                String::new()
            } else {
                format!(" [{marks}]")
            }
        ));
    }
    out
}
