//! The health of the support mailbox, per direction (fetch: IMAP; send: SMTP): when it last
//! worked, the last error in Spanish, since when it fails, and when an alert is due — a
//! mailbox must never die silently. After `ALERT_AFTER_SECS` of failing, administrators see
//! a banner on every page and get an e-mail, once per failure.

/// How long a direction must fail before administrators are alerted.
pub const ALERT_AFTER_SECS: i64 = 15 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Fetch,
    Send,
}

impl Direction {
    pub const ALL: [Direction; 2] = [Direction::Fetch, Direction::Send];

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Fetch => "fetch",
            Direction::Send => "send",
        }
    }

    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "fetch" => Some(Direction::Fetch),
            "send" => Some(Direction::Send),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Direction::Fetch => "Lectura del buzón (IMAP)",
            Direction::Send => "Envío de correo (SMTP)",
        }
    }
}

/// What is known of one direction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    pub last_success_at: Option<i64>,
    pub last_error_at: Option<i64>,
    /// The last error, in Spanish, for the administrator.
    pub last_error: Option<String>,
    /// When the current run of failures began; `None` while it works.
    pub failing_since: Option<i64>,
    /// When administrators were alerted of the current failure.
    pub alerted_at: Option<i64>,
}

/// The state a check shows (`/healthz?detail=1`, `/metrics`, `/admin/mail`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not configured: nothing to check.
    Disabled,
    /// Configured, not tried yet.
    Unknown,
    Ok,
    Failing,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Disabled => "disabled",
            State::Unknown => "unknown",
            State::Ok => "ok",
            State::Failing => "failing",
        }
    }
}

impl Health {
    pub fn state(&self, configured: bool) -> State {
        if !configured {
            State::Disabled
        } else if self.failing_since.is_some() {
            State::Failing
        } else if self.last_success_at.is_some() {
            State::Ok
        } else {
            State::Unknown
        }
    }

    /// Failing for at least `ALERT_AFTER_SECS`.
    pub fn is_alarming(&self, now: i64) -> bool {
        self.failing_since
            .is_some_and(|since| now - since >= ALERT_AFTER_SECS)
    }

    /// An alert e-mail is due: alarming, and not yet alerted for this run of failures.
    pub fn alert_due(&self, now: i64) -> bool {
        self.is_alarming(now)
            && match (self.alerted_at, self.failing_since) {
                (Some(alerted), Some(since)) => alerted < since,
                _ => true,
            }
    }

    /// After a success: the failure run ends.
    pub fn succeeded(&mut self, at: i64) {
        self.last_success_at = Some(at);
        self.failing_since = None;
    }

    /// After a failure: the run starts (or goes on).
    pub fn failed(&mut self, at: i64, error: &str) {
        self.last_error_at = Some(at);
        self.last_error = Some(error.chars().take(500).collect());
        if self.failing_since.is_none() {
            self.failing_since = Some(at);
        }
    }
}

/// The banner administrators see on every page while a direction is alarming.
pub fn banner(fetch: &Health, send: &Health, now: i64) -> Option<String> {
    let failing: Vec<&str> = [(Direction::Fetch, fetch), (Direction::Send, send)]
        .into_iter()
        .filter(|(_, h)| h.is_alarming(now))
        .map(|(d, _)| match d {
            Direction::Fetch => "no se pueden leer los correos entrantes",
            Direction::Send => "no se pueden enviar correos",
        })
        .collect();
    if failing.is_empty() {
        return None;
    }
    Some(format!(
        "El buzón de soporte falla desde hace más de 15 minutos: {}. Revise Correo.",
        failing.join(" y ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_run_alarms_after_fifteen_minutes_and_alerts_once() {
        let mut h = Health::default();
        assert_eq!(h.state(true), State::Unknown);
        assert_eq!(h.state(false), State::Disabled);
        h.failed(1000, "No se pudo conectar");
        h.failed(1300, "No se pudo conectar otra vez");
        assert_eq!(h.failing_since, Some(1000));
        assert_eq!(h.state(true), State::Failing);
        assert!(!h.is_alarming(1000 + ALERT_AFTER_SECS - 1));
        assert!(h.alert_due(1000 + ALERT_AFTER_SECS));
        h.alerted_at = Some(1000 + ALERT_AFTER_SECS);
        assert!(!h.alert_due(5000));
        h.succeeded(6000);
        assert_eq!(h.state(true), State::Ok);
        assert!(!h.is_alarming(99_999));
        h.failed(7000, "otra vez");
        assert!(
            h.alert_due(7000 + ALERT_AFTER_SECS),
            "a new run alerts again"
        );
    }

    #[test]
    fn the_banner_names_the_failing_directions() {
        let mut fetch = Health::default();
        fetch.failed(0, "x");
        let send = Health::default();
        assert_eq!(banner(&fetch, &send, 60), None);
        let b = banner(&fetch, &send, ALERT_AFTER_SECS).unwrap();
        assert!(b.contains("leer los correos entrantes"));
        assert!(!b.contains("enviar"));
    }
}
