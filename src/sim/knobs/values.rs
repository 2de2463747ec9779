//! Reading one knob's value. Each reader returns the value or what was
//! expected (`is not one of …`, `is not a number of seconds from 0 to
//! 1e9`); [`super::Knobs`] puts the key and value in front, so every
//! refusal names the knob.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::modes::Fault;

/// Upper bound for fractional knobs (seconds, USD/s): far enough to mean "never", small
/// enough that adding it to a monotonic instant cannot overflow.
const MAX_NUMBER: f64 = 1e9;
/// Upper bound for millisecond-valued knobs (one day).
const MAX_MS: u64 = 86_400_000;

pub(super) fn one_of<T: Copy>(
    value: &str,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, String> {
    all.iter()
        .copied()
        .find(|v| name(*v) == value)
        .ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|v| name(*v)).collect();
            format!("is not one of {}", names.join(", "))
        })
}

/// `SIM_FAULT`: `none` (the default, handy to blank a fault a parent
/// environment set) or one of [`Fault::ALL`].
pub(super) fn fault(value: &str) -> Result<Option<Fault>, String> {
    if value == "none" {
        return Ok(None);
    }
    one_of(value, &Fault::ALL, Fault::as_str)
        .map(Some)
        .map_err(|why| why.replacen("one of ", "one of none, ", 1))
}

pub(super) fn flag(value: &str) -> Result<bool, String> {
    match value {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err("is not one of 0, 1".into()),
    }
}

pub(super) fn non_negative(value: &str, unit: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=MAX_NUMBER).contains(&v) => Ok(v),
        _ => Err(format!("is not a number of {unit} from 0 to 1e9")),
    }
}

/// `SIM_FAULT_FACTOR`: how much worse a subtle fault makes its series;
/// `1` is no change at all, so less is refused rather than read as better.
pub(super) fn factor(value: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (1.0..=MAX_NUMBER).contains(&v) => Ok(v),
        _ => Err("is not a factor (a number from 1 to 1e9)".into()),
    }
}

pub(super) fn seconds(value: &str) -> Result<Duration, String> {
    let secs = non_negative(value, "seconds")?;
    // In range by the check above, so this cannot fail; map anyway rather
    // than unwrap, the message is the same.
    Duration::try_from_secs_f64(secs).map_err(|_| "is not a number of seconds from 0 to 1e9".into())
}

pub(super) fn millis(value: &str, min: u64) -> Result<Duration, String> {
    match value.trim().parse::<u64>() {
        Ok(ms) if (min..=MAX_MS).contains(&ms) => Ok(Duration::from_millis(ms)),
        _ => Err(format!(
            "is not a whole number of milliseconds from {min} to {MAX_MS}"
        )),
    }
}

pub(super) fn millis_up_to(value: &str, max: u64) -> Result<Duration, String> {
    match value.trim().parse::<u64>() {
        Ok(ms) if ms <= max => Ok(Duration::from_millis(ms)),
        _ => Err(format!(
            "is not a whole number of milliseconds from 0 to {max}"
        )),
    }
}

/// `IP:PORT`, or `localhost:PORT` (resolved here rather than through DNS,
/// which the sim must not wait on at start-up).
pub fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    if let Some(port) = value.strip_prefix("localhost:")
        && let Ok(port) = port.parse::<u16>()
    {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    value
        .parse()
        .map_err(|_| "is not an address to listen on (IP:PORT, e.g. 127.0.0.1:9187)".into())
}

#[cfg(test)]
mod tests {
    use super::super::{KnobError, Knobs};

    fn parse(pairs: &[(&str, &str)]) -> Result<Knobs, KnobError> {
        Knobs::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn refuses_bad_values_naming_the_knob() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "TRADE_MODE",
                "bogus",
                "TRADE_MODE=bogus is not one of shadow, paper, live",
            ),
            ("CANARY_MODE", "yes", "CANARY_MODE=yes is not one of 0, 1"),
            (
                "EXECUTION_PLANE",
                "sim",
                "EXECUTION_PLANE=sim is not one of paper, live",
            ),
            (
                "SIM_FAULT",
                "nope",
                "SIM_FAULT=nope is not one of none, crash, drawdown",
            ),
            (
                "SIM_FAULT_AFTER_S",
                "NaN",
                "SIM_FAULT_AFTER_S=NaN is not a number",
            ),
            ("SIM_FAULT_AFTER_S", "-1", "SIM_FAULT_AFTER_S=-1 is not"),
            ("SIM_FAULT_AFTER_S", "inf", "SIM_FAULT_AFTER_S=inf is not"),
            ("SIM_PNL_DRIFT", "lots", "SIM_PNL_DRIFT=lots is not"),
            ("SIM_PNL_DRIFT", "-5", "SIM_PNL_DRIFT=-5 is not"),
            ("SIM_TICK_MS", "0", "SIM_TICK_MS=0 is not a whole number"),
            ("SIM_TICK_MS", "1.5", "SIM_TICK_MS=1.5 is not"),
            ("SIM_STARTUP_MS", "-3", "SIM_STARTUP_MS=-3 is not"),
            (
                "SIM_EXIT_CODE",
                "256",
                "SIM_EXIT_CODE=256 is not an exit status",
            ),
            (
                "SIM_NEVER_IDLE",
                "true",
                "SIM_NEVER_IDLE=true is not one of 0, 1",
            ),
            (
                "SIM_LISTEN",
                "nowhere",
                "SIM_LISTEN=nowhere is not an address",
            ),
            (
                "SIM_FAULT_HOSTS",
                " , ",
                "SIM_FAULT_HOSTS= ,  names no host",
            ),
            (
                "SIM_FLATTEN",
                "never",
                "SIM_FLATTEN=never is not one of ok, fail, partial, slow",
            ),
            (
                "SIM_FLATTEN_MS",
                "600001",
                "SIM_FLATTEN_MS=600001 is not a whole number of milliseconds from 0 to 600000",
            ),
            ("SIM_FLATTEN_MS", "-1", "SIM_FLATTEN_MS=-1 is not"),
            ("SIM_FLATTEN_MS", "0.5", "SIM_FLATTEN_MS=0.5 is not"),
            (
                "SIM_FAULT_FACTOR",
                "0.5",
                "SIM_FAULT_FACTOR=0.5 is not a factor (a number from 1 to 1e9)",
            ),
            (
                "SIM_FAULT_FACTOR",
                "0",
                "SIM_FAULT_FACTOR=0 is not a factor",
            ),
            (
                "SIM_FAULT_FACTOR",
                "-4",
                "SIM_FAULT_FACTOR=-4 is not a factor",
            ),
            (
                "SIM_FAULT_FACTOR",
                "NaN",
                "SIM_FAULT_FACTOR=NaN is not a factor",
            ),
            (
                "SIM_FAULT_FACTOR",
                "inf",
                "SIM_FAULT_FACTOR=inf is not a factor",
            ),
            (
                "SIM_FAULT_FACTOR",
                "x4",
                "SIM_FAULT_FACTOR=x4 is not a factor",
            ),
            (
                "SIM_FAULT_FACTOR",
                "2e9",
                "SIM_FAULT_FACTOR=2e9 is not a factor",
            ),
            (
                "SIM_SESSION",
                "weekend",
                "SIM_SESSION=weekend is not one of open, closed",
            ),
            ("SIM_SESSION", "Closed", "SIM_SESSION=Closed is not one of"),
            (
                "SIM_FAULT",
                "slower",
                "SIM_FAULT=slower is not one of none, crash, drawdown, kill_event, stale, recon, pnl, canary, hang, garbage, missing, slow, errors, fills",
            ),
        ];
        for (key, value, message) in cases {
            let err = parse(&[(key, value)]).unwrap_err();
            assert_eq!(err.key(), *key);
            assert!(err.to_string().starts_with(message), "{key}={value}: {err}");
        }
    }
}
