//! Freeze windows: times when a deploy is refused unless an admin overrides
//! it with a reason (`[[freeze]]` in gantry.toml, docs/freeze-and-alerts.md).
//!
//! A window is read on the wall clock of its own named zone (the exchange's,
//! not the host's), so "Friday after 14:00 America/New_York" stays 14:00 in
//! New York across daylight-saving changes. Evaluation is pure: the agent
//! passes `now` in, and hands the pipeline only the fact "this window is
//! active", so the state machine never reads a clock or a zone database.

use chrono::{Datelike, NaiveDate, Timelike, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;

use crate::pipeline::Time;

/// One `[[freeze]]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeSection {
    pub name: String,
    /// An IANA zone name, e.g. "America/New_York" or "UTC".
    pub zone: String,
    #[serde(default)]
    pub weekly: Option<WeeklySection>,
    #[serde(default)]
    pub dates: Option<DatesSection>,
}

/// Every listed weekday, from `from` until `to` (local "HH:MM"; `to` may be
/// "24:00", the end of the day).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklySection {
    pub days: Vec<String>,
    pub from: String,
    pub to: String,
}

/// Every year, from the whole day `from` through the whole day `to`
/// (local "MM-DD", both included); may wrap the year end.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatesSection {
    pub from: String,
    pub to: String,
}

/// A validated freeze window.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub name: String,
    pub zone: Tz,
    pub rule: Rule,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// Minutes since local midnight: `from` in 0..1440, `to` in 1..=1440,
    /// `from < to`.
    Weekly {
        days: Vec<Weekday>,
        from: u32,
        to: u32,
    },
    /// (month, day) pairs, both included. `from > to` wraps the year end.
    Dates { from: (u32, u32), to: (u32, u32) },
}

impl Window {
    /// Whether `now` falls inside the window, on the zone's wall clock.
    pub fn contains(&self, now: Time) -> bool {
        let local = now.with_timezone(&self.zone);
        match &self.rule {
            Rule::Weekly { days, from, to } => {
                let minute = local.hour() * 60 + local.minute();
                days.contains(&local.weekday()) && (*from..*to).contains(&minute)
            }
            Rule::Dates { from, to } => {
                let day = (local.month(), local.day());
                if from <= to {
                    *from <= day && day <= *to
                } else {
                    day >= *from || day <= *to
                }
            }
        }
    }

    /// "friday-afternoon (fri 14:00–24:00 America/New_York)": what a refusal,
    /// the status and the screen show.
    pub fn describe(&self) -> String {
        let when = match &self.rule {
            Rule::Weekly { days, from, to } => {
                let days: Vec<&str> = days.iter().map(|d| day_name(*d)).collect();
                format!("{} {}–{}", days.join(","), clock(*from), clock(*to))
            }
            Rule::Dates { from, to } => format!(
                "{:02}-{:02} through {:02}-{:02}",
                from.0, from.1, to.0, to.1
            ),
        };
        format!("{} ({when} {})", self.name, self.zone.name())
    }
}

/// The first configured window active at `now`, if any.
pub fn active(windows: &[Window], now: Time) -> Option<&Window> {
    windows.iter().find(|w| w.contains(now))
}

/// Validates every `[[freeze]]` table; names must be unique, since a
/// refusal and the audit log name the window.
pub fn parse_all(sections: &[FreezeSection]) -> Result<Vec<Window>, String> {
    let mut windows: Vec<Window> = Vec::new();
    for (index, section) in sections.iter().enumerate() {
        let window = parse(index, section)?;
        if windows.iter().any(|w| w.name == window.name) {
            return Err(format!(
                "freeze[{index}] ({}).name: {:?} is used twice",
                window.name, window.name
            ));
        }
        windows.push(window);
    }
    Ok(windows)
}

/// Validates the `index`th `[[freeze]]` table. The error names the field the
/// way the rest of the config does: `freeze[1] (holidays).zone: …`.
pub fn parse(index: usize, section: &FreezeSection) -> Result<Window, String> {
    if section.name.trim().is_empty() {
        return Err(format!("freeze[{index}].name: must not be empty"));
    }
    let at = format!("freeze[{index}] ({})", section.name);
    let zone = parse_zone(&at, &section.zone)?;
    let rule = match (&section.weekly, &section.dates) {
        (Some(weekly), None) => parse_weekly(&at, weekly)?,
        (None, Some(dates)) => parse_dates(&at, dates)?,
        (None, None) => {
            return Err(format!(
                "{at}: needs `weekly = {{ days, from, to }}` or `dates = {{ from, to }}`"
            ));
        }
        (Some(_), Some(_)) => {
            return Err(format!(
                "{at}: has both `weekly` and `dates`; write two [[freeze]] tables"
            ));
        }
    };
    Ok(Window {
        name: section.name.clone(),
        zone,
        rule,
    })
}

/// A weekly window outside `[[freeze]]` (the market's sessions), its
/// errors naming `at`.
pub fn weekly_window(
    at: &str,
    name: &str,
    zone: &str,
    weekly: &WeeklySection,
) -> Result<Window, String> {
    Ok(Window {
        name: name.to_string(),
        zone: parse_zone(at, zone)?,
        rule: parse_weekly(at, weekly)?,
    })
}

fn parse_zone(at: &str, zone: &str) -> Result<Tz, String> {
    zone.parse().map_err(|_| {
        format!(
            "{at}.zone: {zone:?} is not an IANA time zone (e.g. \"America/New_York\", \"Europe/London\", \"UTC\")"
        )
    })
}

fn parse_weekly(at: &str, weekly: &WeeklySection) -> Result<Rule, String> {
    if weekly.days.is_empty() {
        return Err(format!("{at}.weekly.days: must name at least one day"));
    }
    let mut days = Vec::new();
    for name in &weekly.days {
        let day = parse_day(name).ok_or_else(|| {
            format!("{at}.weekly.days: {name:?} is not a day (mon, tue, wed, thu, fri, sat, sun)")
        })?;
        if !days.contains(&day) {
            days.push(day);
        }
    }
    let from = parse_clock(&weekly.from, false)
        .ok_or_else(|| format!("{at}.weekly.from: {:?} is not a time HH:MM", weekly.from))?;
    let to = parse_clock(&weekly.to, true).ok_or_else(|| {
        format!(
            "{at}.weekly.to: {:?} is not a time HH:MM (24:00 is the end of the day)",
            weekly.to
        )
    })?;
    if to <= from {
        // A window over midnight is two days: list both, 22:00–24:00 and
        // 00:00–02:00, rather than guess which day an end belongs to.
        return Err(format!(
            "{at}.weekly.to: {} is not after from {}; a window ends on the day it starts (use 24:00 for midnight)",
            weekly.to, weekly.from
        ));
    }
    Ok(Rule::Weekly { days, from, to })
}

fn parse_dates(at: &str, dates: &DatesSection) -> Result<Rule, String> {
    let from = parse_month_day(&dates.from)
        .ok_or_else(|| format!("{at}.dates.from: {:?} is not a date MM-DD", dates.from))?;
    let to = parse_month_day(&dates.to)
        .ok_or_else(|| format!("{at}.dates.to: {:?} is not a date MM-DD", dates.to))?;
    // A range wraps only across the year end: it starts in the second half
    // of the year and ends in the first ("12-20" through "01-02"). Any other
    // end before its start ("03-10" through "03-01") is a swapped pair, not
    // an eleven-month freeze.
    let wraps_year_end = from.0 >= 7 && to.0 <= 6;
    if to < from && !wraps_year_end {
        return Err(format!(
            "{at}.dates.to: {} is before from {}; only a range from July–December into January–June wraps the year end",
            dates.to, dates.from
        ));
    }
    Ok(Rule::Dates { from, to })
}

fn parse_day(name: &str) -> Option<Weekday> {
    let lower = name.trim().to_ascii_lowercase();
    let day = match lower.as_str() {
        "mon" | "monday" => Weekday::Mon,
        "tue" | "tuesday" => Weekday::Tue,
        "wed" | "wednesday" => Weekday::Wed,
        "thu" | "thursday" => Weekday::Thu,
        "fri" | "friday" => Weekday::Fri,
        "sat" | "saturday" => Weekday::Sat,
        "sun" | "sunday" => Weekday::Sun,
        _ => return None,
    };
    Some(day)
}

fn day_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "mon",
        Weekday::Tue => "tue",
        Weekday::Wed => "wed",
        Weekday::Thu => "thu",
        Weekday::Fri => "fri",
        Weekday::Sat => "sat",
        Weekday::Sun => "sun",
    }
}

/// "HH:MM" as minutes since midnight; "24:00" only where it may end a day.
fn parse_clock(text: &str, end: bool) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: u32 = h.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    match (h, m) {
        (24, 0) if end => Some(1440),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

fn clock(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// "MM-DD" as (month, day); 02-29 is allowed (it matches in leap years).
fn parse_month_day(text: &str) -> Option<(u32, u32)> {
    let (m, d) = text.split_once('-')?;
    if m.len() != 2 || d.len() != 2 {
        return None;
    }
    let m: u32 = m.parse().ok()?;
    let d: u32 = d.parse().ok()?;
    // 2024 is a leap year, so every real month-day exists in it.
    NaiveDate::from_ymd_opt(2024, m, d).map(|_| (m, d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn weekly(zone: &str, days: &[&str], from: &str, to: &str) -> Result<Window, String> {
        parse(
            0,
            &FreezeSection {
                name: "w".into(),
                zone: zone.into(),
                weekly: Some(WeeklySection {
                    days: days.iter().map(|d| d.to_string()).collect(),
                    from: from.into(),
                    to: to.into(),
                }),
                dates: None,
            },
        )
    }

    fn dates(from: &str, to: &str) -> Result<Window, String> {
        parse(
            1,
            &FreezeSection {
                name: "holidays".into(),
                zone: "America/New_York".into(),
                weekly: None,
                dates: Some(DatesSection {
                    from: from.into(),
                    to: to.into(),
                }),
            },
        )
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Time {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn friday_afternoon_new_york_follows_dst() {
        let w = weekly("America/New_York", &["fri"], "14:00", "24:00").unwrap();
        // Winter (EST, UTC-5): Fri 2025-01-10 14:00 local = 19:00 UTC.
        assert!(!w.contains(utc(2025, 1, 10, 18, 59)));
        assert!(w.contains(utc(2025, 1, 10, 19, 0)));
        assert!(w.contains(utc(2025, 1, 11, 4, 59)), "23:59 local Friday");
        assert!(
            !w.contains(utc(2025, 1, 11, 5, 0)),
            "midnight local ends it"
        );
        // Summer (EDT, UTC-4): Fri 2025-07-11 14:00 local = 18:00 UTC.
        assert!(!w.contains(utc(2025, 7, 11, 17, 59)));
        assert!(w.contains(utc(2025, 7, 11, 18, 0)));
        // The Friday after the spring change (2025-03-09): 18:00 UTC is 14:00 EDT.
        assert!(w.contains(utc(2025, 3, 14, 18, 0)));
        assert!(!w.contains(utc(2025, 3, 14, 17, 30)));
        // And the one after the autumn change (2025-11-02): 19:00 UTC is 14:00 EST.
        assert!(!w.contains(utc(2025, 11, 7, 18, 30)));
        assert!(w.contains(utc(2025, 11, 7, 19, 0)));
        // Friday in UTC but Saturday in New York? No: Friday 23:00 UTC in
        // winter is 18:00 Friday local; Saturday 03:00 UTC is Friday 22:00.
        assert!(w.contains(utc(2025, 1, 11, 3, 0)));
    }

    #[test]
    fn a_window_in_the_night_of_a_dst_change_is_wall_clock() {
        // Sunday 2025-03-30 Europe/London jumps 01:00 → 02:00 GMT→BST.
        let w = weekly("Europe/London", &["sun"], "00:30", "03:00").unwrap();
        assert!(w.contains(utc(2025, 3, 30, 0, 30)), "00:30 GMT");
        assert!(w.contains(utc(2025, 3, 30, 1, 30)), "02:30 BST");
        assert!(!w.contains(utc(2025, 3, 30, 2, 0)), "03:00 BST");
        // Sunday 2025-10-26 repeats 01:00–02:00: both passes are inside.
        assert!(w.contains(utc(2025, 10, 26, 0, 30)), "01:30 BST");
        assert!(w.contains(utc(2025, 10, 26, 1, 30)), "01:30 GMT");
        assert!(w.contains(utc(2025, 10, 26, 2, 59)), "02:59 GMT");
        assert!(!w.contains(utc(2025, 10, 26, 3, 0)), "03:00 GMT");
    }

    #[test]
    fn holidays_wrap_the_year_end_in_the_zone() {
        let w = dates("12-20", "01-02").unwrap();
        assert!(
            !w.contains(utc(2025, 12, 20, 4, 59)),
            "still Dec 19 in New York"
        );
        assert!(w.contains(utc(2025, 12, 20, 5, 0)));
        assert!(w.contains(utc(2025, 12, 31, 23, 0)));
        assert!(w.contains(utc(2026, 1, 1, 12, 0)));
        assert!(w.contains(utc(2026, 1, 3, 4, 59)), "Jan 2, 23:59 local");
        assert!(!w.contains(utc(2026, 1, 3, 5, 0)));
        assert!(!w.contains(utc(2026, 6, 1, 12, 0)));
        assert_eq!(
            w.describe(),
            "holidays (12-20 through 01-02 America/New_York)"
        );
        let plain = dates("03-01", "03-10").unwrap();
        assert!(plain.contains(utc(2026, 3, 5, 12, 0)));
        assert!(!plain.contains(utc(2026, 3, 11, 12, 0)));
        let one_day = dates("07-04", "07-04").unwrap();
        assert!(one_day.contains(utc(2026, 7, 4, 12, 0)));
    }

    #[test]
    fn active_picks_the_first_covering_window() {
        let windows = vec![
            weekly("UTC", &["mon"], "00:00", "24:00").unwrap(),
            dates("12-20", "01-02").unwrap(),
        ];
        // 2025-12-22 is a Monday inside the holidays too: the first wins.
        assert_eq!(
            active(&windows, utc(2025, 12, 22, 12, 0)).map(|w| w.name.as_str()),
            Some("w")
        );
        assert_eq!(
            active(&windows, utc(2025, 12, 23, 12, 0)).map(|w| w.name.as_str()),
            Some("holidays")
        );
        assert!(active(&windows, utc(2025, 6, 3, 12, 0)).is_none());
        assert!(active(&[], utc(2025, 6, 3, 12, 0)).is_none());
    }

    #[test]
    fn bad_windows_name_the_field() {
        let e = weekly("America/NewYork", &["fri"], "14:00", "24:00").unwrap_err();
        assert!(
            e.starts_with("freeze[0] (w).zone:") && e.contains("America/NewYork"),
            "{e}"
        );
        let e = weekly("UTC", &["fry"], "14:00", "24:00").unwrap_err();
        assert!(e.starts_with("freeze[0] (w).weekly.days:"), "{e}");
        let e = weekly("UTC", &[], "14:00", "24:00").unwrap_err();
        assert!(e.contains("weekly.days"), "{e}");
        let e = weekly("UTC", &["fri"], "14:00", "14:00").unwrap_err();
        assert!(e.starts_with("freeze[0] (w).weekly.to:"), "{e}");
        let e = weekly("UTC", &["fri"], "22:00", "02:00").unwrap_err();
        assert!(e.contains("weekly.to") && e.contains("not after"), "{e}");
        for bad in ["24:00", "14:60", "2pm", "9:00", "25:00"] {
            let e = weekly("UTC", &["fri"], bad, "24:00").unwrap_err();
            assert!(e.contains("weekly.from"), "{bad}: {e}");
        }
        let e = dates("03-10", "03-01").unwrap_err();
        assert!(
            e.starts_with("freeze[1] (holidays).dates.to:") && e.contains("before"),
            "{e}"
        );
        let e = dates("06-01", "05-01").unwrap_err();
        assert!(e.contains("dates.to"), "{e}");
        let e = dates("02-30", "03-01").unwrap_err();
        assert!(e.contains("dates.from"), "{e}");
        let e = dates("12-20", "1-2").unwrap_err();
        assert!(e.contains("dates.to"), "{e}");
        assert!(dates("02-29", "03-01").is_ok());
        let e = parse(
            2,
            &FreezeSection {
                name: "x".into(),
                zone: "UTC".into(),
                weekly: None,
                dates: None,
            },
        )
        .unwrap_err();
        assert!(e.starts_with("freeze[2] (x):"), "{e}");
    }

    #[test]
    fn describe_names_days_hours_and_zone() {
        let w = weekly("America/New_York", &["fri", "Saturday"], "14:00", "24:00").unwrap();
        assert_eq!(w.describe(), "w (fri,sat 14:00–24:00 America/New_York)");
    }
}
