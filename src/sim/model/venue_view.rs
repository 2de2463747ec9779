//! The model's side of the venue: the next request it asks the shell to
//! perform (a trading step in paper and live, a read elsewhere, plus this
//! release's account settings until the venue has them), and what it makes
//! of the answer: the venue series, and a log line each time the venue
//! starts or stops being readable or writable.

use std::time::Duration;

use super::{Effect, Sim};
use crate::sim::trader::{Exchanged, Request, Trade};
use crate::sim::venue::{self, Book};

/// What the model last heard from the venue.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum VenueView {
    /// Nothing yet (or the state dir failed): no data.
    Unknown,
    /// The venue file as read; `None`: no file, nothing open.
    Seen(Option<Book>),
    /// The venue file cannot be read (the text names it): no data.
    Unreadable(String),
}

impl Sim {
    /// The outcome of the last [`Effect::Venue`]; returns lines to log.
    pub fn handle_venue(&mut self, exchanged: Exchanged) -> Vec<Effect> {
        let mut out = Vec::new();
        match exchanged {
            // A flatten holds the venue: the next step asks again.
            Exchanged::Busy => {}
            Exchanged::Done {
                book,
                fills,
                recorded,
            } => {
                self.fills += fills;
                self.venue_recorded |= recorded;
                if self.venue_write_failed.take().is_some() {
                    out.push(Effect::Log(format!(
                        "venue writable again path={}",
                        self.venue_path().display()
                    )));
                }
                self.see_venue(book, &mut out);
            }
            Exchanged::Unwritable { book, why } => {
                if self.venue_write_failed.as_ref() != Some(&why) {
                    out.push(Effect::Log(format!("venue write failed: {why}")));
                }
                self.venue_write_failed = Some(why);
                self.see_venue(book, &mut out);
            }
            Exchanged::Unreadable(why) => {
                if !matches!(&self.venue, VenueView::Unreadable(was) if *was == why) {
                    out.push(Effect::Log(format!("venue unreadable: {why}")));
                }
                self.venue = VenueView::Unreadable(why);
            }
        }
        out
    }

    fn see_venue(&mut self, book: Option<Book>, out: &mut Vec<Effect>) {
        let said = match self.venue {
            VenueView::Unknown => Some("venue opened"),
            VenueView::Unreadable(_) => Some("venue readable again"),
            VenueView::Seen(_) => None,
        };
        if let Some(said) = said {
            out.push(Effect::Log(format!(
                "{said} path={} open_orders={} positions={} notional_usd={:.2}",
                self.venue_path().display(),
                book.as_ref().map_or(0, |b| b.orders().len()),
                book.as_ref().map_or(0, |b| b.positions().len()),
                book.as_ref().map_or(0.0, Book::notional_usd),
            )));
        }
        self.venue = VenueView::Seen(book);
    }

    fn venue_path(&self) -> std::path::PathBuf {
        self.persistence.path.join(venue::FILE_NAME)
    }

    /// The next exchange with the venue: in paper and live, this release's
    /// account settings until recorded and, once idle and while the market
    /// is open, a trading step; elsewhere only a read (a sim that does not
    /// trade, such as a smoke deploy, leaves the venue's settings be).
    pub(super) fn venue_request(&mut self, now: Duration) -> Request {
        let trades = self.knobs.trades_at_venue();
        // A closed market trades nothing; the account is still recorded,
        // so a kill script finds this release's flatten behaviour.
        let trade = (self.knobs.sends_orders_at(now) && self.idle_at.is_some()).then(|| {
            let quiet = self.next_step_quiet(now);
            let step = self.venue_steps;
            // Instruments alternate on the steps that place an order.
            self.venue_steps += u64::from(!quiet);
            let tau = self.trading_secs(now.as_secs_f64());
            Trade {
                step,
                // Seconds of trading to whole milliseconds: far below 2^64.
                tau_ms: (tau * 1000.0) as u64,
                quiet,
            }
        });
        Request {
            dir: self.persistence.path.clone(),
            record: (trades && !self.venue_recorded).then(|| self.knobs.account()),
            trade,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::rig::{logs, ms, run, run_from, sim, venue_requests};
    use super::*;
    use crate::sim::metrics::VenueFigures;
    use std::time::Duration;

    #[test]
    fn paper_records_its_account_then_trades_every_half_second() {
        let mut s = sim(&[("TRADE_MODE", "paper"), ("SIM_FLATTEN", "partial")]);
        let effects = run(&mut s, ms(3_000));
        let requests = venue_requests(&effects);
        let account = venue::Account {
            flatten: venue::Flatten::Partial,
            flatten_ms: 3_000,
        };
        assert_eq!(
            *requests[0],
            Request {
                dir: "/var/lib/sim".into(),
                record: Some(account),
                trade: None,
            }
        );
        let steps: Vec<Trade> = requests[1..].iter().filter_map(|r| r.trade).collect();
        assert_eq!(steps.len(), 7, "{requests:?}");
        assert_eq!(
            steps[0],
            Trade {
                step: 0,
                tau_ms: 0,
                quiet: false
            }
        );
        assert_eq!(
            steps[6],
            Trade {
                step: 6,
                tau_ms: 3_000,
                quiet: false
            }
        );
        // The account is asked for until the venue says it has it.
        assert!(requests.iter().all(|r| r.record == Some(account)));
        s.handle_venue(Exchanged::Done {
            book: None,
            fills: 0,
            recorded: true,
        });
        let later = run_from(&mut s, ms(3_000), ms(3_500));
        assert_eq!(venue_requests(&later)[0].record, None);
    }

    #[test]
    fn shadow_and_idle_only_read_the_venue() {
        for mode in ["shadow", ""] {
            // Not even a flatten fault: a smoke deploy leaves the account be.
            let mut s = sim(&[("TRADE_MODE", mode), ("SIM_FLATTEN", "fail")]);
            let effects = run(&mut s, ms(2_000));
            let requests = venue_requests(&effects);
            assert_eq!(requests.len(), 6, "{mode}: at start, then 0, 0.5, … 2 s");
            assert!(requests.iter().all(|r| !r.writes()), "{requests:?}");
        }
    }

    #[test]
    fn a_loop_that_wakes_late_still_steps_every_half_second() {
        let mut s = sim(&[("TRADE_MODE", "paper")]);
        let mut effects = s.handle_timeout(Duration::ZERO);
        // A real loop wakes a little after each deadline, by more or less.
        let mut late = (1..5).cycle();
        while let Some(at) = s.poll_timeout().filter(|at| *at <= ms(5_000)) {
            effects.extend(s.handle_timeout(at + ms(late.next().unwrap_or(0))));
        }
        let steps = venue_requests(&effects)
            .iter()
            .filter(|r| r.trade.is_some())
            .count();
        assert_eq!(steps, 11, "0, 0.5, … 5 s");
    }

    #[test]
    fn a_closed_market_records_the_account_and_trades_nothing() {
        let mut s = sim(&[
            ("TRADE_MODE", "paper"),
            ("SIM_SESSION", "closed"),
            ("SIM_FLATTEN", "fail"),
        ]);
        let effects = run(&mut s, ms(3_000));
        let requests = venue_requests(&effects);
        assert_eq!(requests.len(), 8, "at start, then 0, 0.5, … 3 s");
        assert!(requests.iter().all(|r| r.trade.is_none()), "{requests:?}");
        assert!(requests.iter().all(|r| r.record.is_some()), "{requests:?}");
    }

    #[test]
    fn the_fills_fault_makes_steps_quiet_and_alternates_on_the_others() {
        let mut s = sim(&[
            ("TRADE_MODE", "paper"),
            ("SIM_FAULT", "fills"),
            ("SIM_FAULT_AFTER_S", "1"),
            ("SIM_FAULT_FACTOR", "3"),
        ]);
        let effects = run(&mut s, ms(7_000));
        let steps: Vec<Trade> = venue_requests(&effects)
            .iter()
            .filter_map(|r| r.trade)
            .collect();
        assert_eq!(steps.len(), 15);
        // 0 and 0.5 s before the fault; then one step in three places.
        let placing: Vec<(u64, u64)> = steps
            .iter()
            .filter(|t| !t.quiet)
            .map(|t| (t.step, t.tau_ms))
            .collect();
        assert_eq!(
            placing,
            [
                (0, 0),
                (1, 500),
                (2, 2_000),
                (3, 3_500),
                (4, 5_000),
                (5, 6_500)
            ]
        );
    }

    #[test]
    fn the_venue_drives_its_series_and_logs_only_changes() {
        let mut s = sim(&[("TRADE_MODE", "paper")]);
        run(&mut s, ms(100));
        assert_eq!(s.sample(ms(100)).venue, None, "no word yet: no data");
        let mut book = Book::default();
        let id = book
            .place("BTC-USD", venue::Side::Buy, 0.01, 60_000.0)
            .unwrap();
        book.fill(id);
        let said = s.handle_venue(Exchanged::Done {
            book: Some(book.clone()),
            fills: 1,
            recorded: true,
        });
        assert_eq!(
            logs(&said),
            [
                "venue opened path=/var/lib/sim/venue.json open_orders=0 positions=1 notional_usd=600.00"
            ]
        );
        let sample = s.sample(ms(100));
        assert_eq!(sample.fills_total, 1);
        assert_eq!(
            sample.venue,
            Some(VenueFigures {
                open_orders: 0,
                notional_usd: 600.0
            })
        );
        let broken = || Exchanged::Unreadable("/var/lib/sim/venue.json: not a venue file".into());
        assert_eq!(
            logs(&s.handle_venue(broken())),
            ["venue unreadable: /var/lib/sim/venue.json: not a venue file"]
        );
        assert!(s.handle_venue(broken()).is_empty(), "said once");
        assert_eq!(
            s.sample(ms(100)).venue,
            None,
            "unreadable is no data, not flat"
        );
        assert!(s.handle_venue(Exchanged::Busy).is_empty());
        let unwritable = || Exchanged::Unwritable {
            book: Some(book.clone()),
            why: "cannot write /var/lib/sim/venue.json: No space left on device".into(),
        };
        let said = s.handle_venue(unwritable());
        assert_eq!(logs(&said).len(), 2, "{said:?}");
        assert!(logs(&said)[0].starts_with("venue write failed: cannot write"));
        assert!(logs(&said)[1].starts_with("venue readable again path="));
        assert!(s.handle_venue(unwritable()).is_empty());
        let said = s.handle_venue(Exchanged::Done {
            book: None,
            fills: 0,
            recorded: true,
        });
        assert_eq!(
            logs(&said),
            ["venue writable again path=/var/lib/sim/venue.json"]
        );
        assert_eq!(s.sample(ms(100)).venue.unwrap().notional_usd, 0.0);
    }
}
