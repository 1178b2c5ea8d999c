//! Service levels on a business calendar — pure, so every figure can be replayed and proven
//! by hand-worked cases.
//!
//! - **The calendar**: working hours per weekday in America/Lima and the holidays (Peru's
//!   national holidays for 2026 and 2027 ship with the binary). Business time is the time
//!   inside working hours; `Calendar::add` and `Calendar::between` do its arithmetic.
//! - **The policy**: per priority, three targets in business minutes: assignment, first
//!   response, resolution.
//! - **The clocks**: each target's clock starts when the ticket arrives and stops at its
//!   milestone (first assignment; the first response as `Milestones::first_response_at` has
//!   it; the close). The resolution clock pauses while the ticket is in a status of `PAUSED`
//!   (and while it is closed, until a reopening), read from the timeline's status changes.
//!   `project` turns those facts into what the ticket row keeps (`SlaRow`): per target the
//!   due instant and the business seconds, and the instants the lists, the warnings and the
//!   dashboard look up by index.
//!
//! Lima has kept UTC−5 with no daylight saving since 1994 (a test checks the bundled tz
//! database agrees up to 2040), so the calendar works in whole days of 86,400 seconds at that
//! offset, without a time-zone lookup per instant.

use super::classification::Priority;
use super::error::DomainError;
use super::ids::UserId;
use jiff::civil::Date;

pub const TIME_ZONE: &str = "America/Lima";
const OFFSET: i64 = -5 * 3600;
const DAY: i64 = 86_400;
/// How far ahead a due instant is looked for (a calendar with almost no working time).
const HORIZON_DAYS: i64 = 3_700;

/// The statuses during which the resolution clock stands still (the requester has the ball).
/// `en_espera` ("Esperando al usuario") comes with the conversation work; the clock reads
/// status names from the timeline, so it applies as soon as tickets enter that status.
pub const PAUSED: [&str; 1] = ["en_espera"];
/// The closed status: no clock runs while a ticket is closed.
const CLOSED: &str = "cerrado";

/// The share of a target at which the assignee (or the dispatchers) are warned.
pub const WARN_PERCENT: i64 = 80;
/// The largest target an administrator may set: a year of business minutes is beyond any
/// help-desk's promise.
pub const MAX_TARGET_MINUTES: i64 = 525_600;

/// What a clock measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    Assignment,
    FirstResponse,
    Resolution,
}

impl Target {
    pub const ALL: [Target; 3] = [
        Target::Assignment,
        Target::FirstResponse,
        Target::Resolution,
    ];

    pub fn index(self) -> usize {
        match self {
            Target::Assignment => 0,
            Target::FirstResponse => 1,
            Target::Resolution => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Target::Assignment => "assignment",
            Target::FirstResponse => "first_response",
            Target::Resolution => "resolution",
        }
    }

    pub fn parse(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Target::Assignment => "Asignación",
            Target::FirstResponse => "Primera respuesta",
            Target::Resolution => "Resolución",
        }
    }

    /// The stored code in `sla_figures` (never reuse one).
    pub fn code(self) -> i64 {
        self.index() as i64
    }

    pub fn from_code(code: i64) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.code() == code)
    }
}

// ---------------------------------------------------------------------------------------
// The calendar.

/// A Lima calendar day as a number: days since 1970-01-01.
pub fn day_of(at: i64) -> i64 {
    (at + OFFSET).div_euclid(DAY)
}

/// The number of a civil date (Howard Hinnant's `days_from_civil`).
pub fn day_number(date: Date) -> i64 {
    let (y, m, d) = (
        i64::from(date.year()),
        i64::from(date.month()),
        i64::from(date.day()),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// ISO weekday of a day number: 1 = Monday … 7 = Sunday (1970-01-01 was a Thursday).
pub fn weekday(day: i64) -> u8 {
    ((day + 3).rem_euclid(7) + 1) as u8
}

/// The first instant of a Lima day.
fn day_start(day: i64) -> i64 {
    day * DAY - OFFSET
}

pub const WEEKDAYS: [&str; 7] = [
    "Lunes",
    "Martes",
    "Miércoles",
    "Jueves",
    "Viernes",
    "Sábado",
    "Domingo",
];

/// Working hours of one weekday, in minutes after midnight: `from` < `to` ≤ 1440.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hours {
    /// 1 = Monday … 7 = Sunday.
    pub weekday: u8,
    pub from: i64,
    pub to: i64,
}

/// `HH:MM` from 00:00 to 24:00 (the end of a day), in minutes; anything else is a Spanish
/// message naming the text.
pub fn parse_clock(raw: &str) -> Result<i64, DomainError> {
    let s = raw.trim();
    let bad = || {
        DomainError::validation(
            "hours",
            format!(
                "La hora «{}» no es válida: escriba HH:MM entre 00:00 y 24:00.",
                s.chars().take(20).collect::<String>()
            ),
        )
    };
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let digits = |t: &str| (1..=2).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || m.len() != 2 || !digits(m) {
        return Err(bad());
    }
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 24 || m > 59 || (h == 24 && m > 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// Minutes after midnight as `HH:MM`.
pub fn format_clock(minutes: i64) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// A day off: a national holiday, a "día no laborable" by decree, a company day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    pub date: Date,
    pub name: String,
}

pub const MAX_HOLIDAY_NAME_CHARS: usize = 80;

/// A holiday's name as typed: trimmed, not empty, at most 80 characters.
pub fn holiday_name(raw: &str) -> Result<String, DomainError> {
    let name: String = raw
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if name.is_empty() {
        return Err(DomainError::validation(
            "name",
            "Escriba el nombre del feriado.",
        ));
    }
    if name.chars().count() > MAX_HOLIDAY_NAME_CHARS {
        return Err(DomainError::validation(
            "name",
            format!("El nombre no puede tener más de {MAX_HOLIDAY_NAME_CHARS} caracteres."),
        ));
    }
    Ok(name)
}

/// Peru's national holidays for 2026 and 2027 (Ley 31822 and earlier), as they ship with the
/// binary (the migration that creates the calendar writes the same list).
pub const PERU_HOLIDAYS: [(i16, i8, i8, &str); 32] = [
    (2026, 1, 1, "Año Nuevo"),
    (2026, 4, 2, "Jueves Santo"),
    (2026, 4, 3, "Viernes Santo"),
    (2026, 5, 1, "Día del Trabajo"),
    (2026, 6, 7, "Batalla de Arica y Día de la Bandera"),
    (2026, 6, 29, "San Pedro y San Pablo"),
    (2026, 7, 23, "Día de la Fuerza Aérea del Perú"),
    (2026, 7, 28, "Fiestas Patrias"),
    (2026, 7, 29, "Fiestas Patrias"),
    (2026, 8, 6, "Batalla de Junín"),
    (2026, 8, 30, "Santa Rosa de Lima"),
    (2026, 10, 8, "Combate de Angamos"),
    (2026, 11, 1, "Día de Todos los Santos"),
    (2026, 12, 8, "Inmaculada Concepción"),
    (2026, 12, 9, "Batalla de Ayacucho"),
    (2026, 12, 25, "Navidad"),
    (2027, 1, 1, "Año Nuevo"),
    (2027, 3, 25, "Jueves Santo"),
    (2027, 3, 26, "Viernes Santo"),
    (2027, 5, 1, "Día del Trabajo"),
    (2027, 6, 7, "Batalla de Arica y Día de la Bandera"),
    (2027, 6, 29, "San Pedro y San Pablo"),
    (2027, 7, 23, "Día de la Fuerza Aérea del Perú"),
    (2027, 7, 28, "Fiestas Patrias"),
    (2027, 7, 29, "Fiestas Patrias"),
    (2027, 8, 6, "Batalla de Junín"),
    (2027, 8, 30, "Santa Rosa de Lima"),
    (2027, 10, 8, "Combate de Angamos"),
    (2027, 11, 1, "Día de Todos los Santos"),
    (2027, 12, 8, "Inmaculada Concepción"),
    (2027, 12, 9, "Batalla de Ayacucho"),
    (2027, 12, 25, "Navidad"),
];

pub fn peru_holidays() -> Vec<Holiday> {
    PERU_HOLIDAYS
        .iter()
        .filter_map(|(y, m, d, name)| {
            Some(Holiday {
                date: Date::new(*y, *m, *d).ok()?,
                name: (*name).to_string(),
            })
        })
        .collect()
}

/// The default working week: Monday to Friday, 08:00 to 18:00.
pub fn default_hours() -> Vec<Hours> {
    (1..=5)
        .map(|weekday| Hours {
            weekday,
            from: 8 * 60,
            to: 18 * 60,
        })
        .collect()
}

/// Working hours and holidays. Built only through `Calendar::new`, which checks them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// Per weekday (index 0 = Monday): the working span in seconds after midnight.
    spans: [Option<(i64, i64)>; 7],
    /// Sorted by date, one per date.
    holidays: Vec<Holiday>,
    /// The holidays' day numbers, sorted.
    days_off: Vec<i64>,
}

impl Calendar {
    /// A calendar from its parts, or the Spanish message saying what is wrong: an hour
    /// outside the day, a span that ends before it starts, a weekday twice, a date twice, a
    /// week without working time.
    pub fn new(hours: &[Hours], holidays: Vec<Holiday>) -> Result<Calendar, DomainError> {
        let mut spans = [None; 7];
        for h in hours {
            let Some(slot) = (1..=7)
                .contains(&h.weekday)
                .then(|| usize::from(h.weekday) - 1)
            else {
                return Err(DomainError::validation(
                    "hours",
                    "El día de la semana no es válido.",
                ));
            };
            let name = WEEKDAYS[slot].to_lowercase();
            if !(0..=1440).contains(&h.from) || !(0..=1440).contains(&h.to) {
                return Err(DomainError::validation(
                    "hours",
                    format!("Las horas del {name} deben estar entre 00:00 y 24:00."),
                ));
            }
            if h.from >= h.to {
                return Err(DomainError::validation(
                    "hours",
                    format!(
                        "El {name}, la hora de inicio ({}) debe ser anterior a la de fin ({}).",
                        format_clock(h.from),
                        format_clock(h.to)
                    ),
                ));
            }
            if spans[slot].is_some() {
                return Err(DomainError::validation(
                    "hours",
                    format!("El {name} aparece dos veces."),
                ));
            }
            spans[slot] = Some((h.from * 60, h.to * 60));
        }
        if spans.iter().all(Option::is_none) {
            return Err(DomainError::validation(
                "hours",
                "Debe haber al menos un día laborable.",
            ));
        }
        let mut holidays = holidays;
        holidays.sort_by_key(|h| h.date);
        for pair in holidays.windows(2) {
            if pair[0].date == pair[1].date {
                return Err(already_a_holiday(&pair[0]));
            }
        }
        let days_off = holidays.iter().map(|h| day_number(h.date)).collect();
        Ok(Calendar {
            spans,
            holidays,
            days_off,
        })
    }

    /// Monday to Friday 08:00–18:00 with Peru's national holidays: what a new installation
    /// starts with.
    pub fn peru_default() -> Calendar {
        let spans = {
            let mut s = [None; 7];
            for h in default_hours() {
                s[usize::from(h.weekday) - 1] = Some((h.from * 60, h.to * 60));
            }
            s
        };
        let holidays = peru_holidays();
        let days_off = holidays.iter().map(|h| day_number(h.date)).collect();
        Calendar {
            spans,
            holidays,
            days_off,
        }
    }

    /// The working hours, Monday first.
    pub fn hours(&self) -> Vec<Hours> {
        self.spans
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.map(|(from, to)| Hours {
                    weekday: i as u8 + 1,
                    from: from / 60,
                    to: to / 60,
                })
            })
            .collect()
    }

    pub fn holidays(&self) -> &[Holiday] {
        &self.holidays
    }

    /// The holiday on this date, if any.
    pub fn holiday(&self, date: Date) -> Option<&Holiday> {
        self.holidays
            .binary_search_by_key(&date, |h| h.date)
            .ok()
            .and_then(|i| self.holidays.get(i))
    }

    /// The working span of a day, in seconds after its midnight; `None` on a day off.
    fn span(&self, day: i64) -> Option<(i64, i64)> {
        if self.days_off.binary_search(&day).is_ok() {
            return None;
        }
        self.spans[usize::from(weekday(day)) - 1]
    }

    /// Whether `at` falls inside working hours.
    pub fn is_working(&self, at: i64) -> bool {
        let day = day_of(at);
        let second = at - day_start(day);
        self.span(day)
            .is_some_and(|(open, close)| open <= second && second < close)
    }

    /// The instant at which `secs` seconds of business time have gone by since `start`: the
    /// earliest one, so a target that runs out exactly at closing time is due at closing
    /// time, not the next morning. `None` if the calendar has no working time for years.
    pub fn add(&self, start: i64, secs: i64) -> Option<i64> {
        if secs <= 0 {
            return Some(start);
        }
        let first = day_of(start);
        let mut second = start - day_start(first);
        let mut remaining = secs;
        for day in first..first + HORIZON_DAYS {
            if let Some((open, close)) = self.span(day) {
                let from = second.max(open);
                if from < close {
                    let available = close - from;
                    if remaining <= available {
                        return Some(day_start(day) + from + remaining);
                    }
                    remaining -= available;
                }
            }
            second = 0;
        }
        None
    }

    /// Business seconds in `[from, to)`.
    pub fn between(&self, from: i64, to: i64) -> i64 {
        if to <= from {
            return 0;
        }
        let (first, last) = (day_of(from), day_of(to));
        let mut total = 0;
        for day in first..=last {
            if let Some((open, close)) = self.span(day) {
                let start = day_start(day);
                let a = (start + open).max(from);
                let b = (start + close).min(to);
                if b > a {
                    total += b - a;
                }
            }
        }
        total
    }
}

pub fn already_a_holiday(h: &Holiday) -> DomainError {
    DomainError::validation(
        "date",
        format!(
            "El {} ya es feriado ({}).",
            h.date.strftime("%d/%m/%Y"),
            h.name
        ),
    )
}

// ---------------------------------------------------------------------------------------
// Policies.

/// The targets of one priority, in business minutes, by `Target::index`.
pub type Targets = [i64; 3];

/// The defaults: crítica 15/30/240, alta 30/120/600, media 60/240/1800, baja 240/600/3000.
pub fn default_targets(p: Priority) -> Targets {
    match p {
        Priority::Critica => [15, 30, 240],
        Priority::Alta => [30, 120, 600],
        Priority::Media => [60, 240, 1800],
        Priority::Baja => [240, 600, 3000],
    }
}

/// A target as typed: a whole number of minutes from 1 to a year's worth.
pub fn parse_target(raw: &str, what: &str) -> Result<i64, DomainError> {
    let s = raw.trim();
    let minutes: i64 = s.parse().map_err(|_| {
        DomainError::validation(
            "minutes",
            format!(
                "{what}: «{}» no es un número entero de minutos.",
                s.chars().take(20).collect::<String>()
            ),
        )
    })?;
    check_target(minutes, what)
}

/// A target in minutes: from 1 to `MAX_TARGET_MINUTES`.
pub fn check_target(minutes: i64, what: &str) -> Result<i64, DomainError> {
    if minutes <= 0 {
        return Err(DomainError::validation(
            "minutes",
            format!("{what}: el objetivo debe ser mayor que cero minutos (se recibió {minutes})."),
        ));
    }
    if minutes > MAX_TARGET_MINUTES {
        return Err(DomainError::validation(
            "minutes",
            format!("{what}: el objetivo no puede pasar de {MAX_TARGET_MINUTES} minutos."),
        ));
    }
    Ok(minutes)
}

/// What the clocks are computed with: the calendar and every priority's targets, with the
/// revision they were saved at (a ticket row records the revision its clocks used).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub revision: i64,
    pub calendar: Calendar,
    /// By `Priority::code`.
    pub policies: [Targets; 4],
}

impl Settings {
    pub fn defaults() -> Settings {
        Settings {
            revision: 1,
            calendar: Calendar::peru_default(),
            policies: [
                default_targets(Priority::Baja),
                default_targets(Priority::Media),
                default_targets(Priority::Alta),
                default_targets(Priority::Critica),
            ],
        }
    }

    pub fn targets(&self, p: Priority) -> Targets {
        self.policies
            .get(p.code() as usize)
            .copied()
            .unwrap_or_else(|| default_targets(p))
    }
}

// ---------------------------------------------------------------------------------------
// Clocks.

/// A status change read from the timeline: when, and into which status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub at: i64,
    pub to: String,
}

/// The notices already sent for a ticket (timeline events `sla_warning` and `sla_breach`), by
/// `Target::index`: each goes once per ticket and target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Notified {
    pub warned: [bool; 3],
    pub breached: [bool; 3],
}

impl Notified {
    pub fn record(&mut self, level: Level, target: Target) {
        match level {
            Level::Warning => self.warned[target.index()] = true,
            Level::Breach => self.breached[target.index()] = true,
        }
    }
}

/// A notice about a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `WARN_PERCENT` of the target has gone by.
    Warning,
    /// The due instant has passed.
    Breach,
}

/// What the clocks of one ticket are computed from.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub created_at: i64,
    /// The status now (its name, as the timeline has it).
    pub status: &'a str,
    pub first_assigned_at: Option<i64>,
    /// The first response as `Milestones::first_response_at` defines it.
    pub first_response_at: Option<i64>,
    /// The last close, while the ticket is closed.
    pub closed_at: Option<i64>,
    /// The timeline's status changes, in order.
    pub transitions: &'a [Transition],
    pub notified: Notified,
}

impl Facts<'_> {
    /// Where each clock stopped, by `Target::index`: at its milestone, or at the close for a
    /// clock whose milestone never came (a ticket closed without an assignment or an answer).
    pub fn stops(&self) -> [Option<i64>; 3] {
        stops(
            self.first_assigned_at,
            self.first_response_at,
            self.closed_at,
        )
    }
}

/// Where each clock stopped (see `Facts::stops`).
pub fn stops(
    first_assigned_at: Option<i64>,
    first_response_at: Option<i64>,
    closed_at: Option<i64>,
) -> [Option<i64>; 3] {
    [
        first_assigned_at.or(closed_at),
        first_response_at.or(closed_at),
        closed_at,
    ]
}

/// One clock as the ticket row keeps it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredClock {
    /// The target it was computed with; `None` until the clocks were first computed.
    pub target_minutes: Option<i64>,
    /// When the target is (or was, or would have been) reached; `None` while paused short of
    /// it.
    pub due_at: Option<i64>,
    /// Business seconds counted, once it stopped or while it is paused; `None` while it runs
    /// (then it is worked out from `due_at` and now).
    pub business_secs: Option<i64>,
}

/// Everything about service levels the ticket row keeps: its classification, each clock, and
/// the instants looked up by index — the next due of a running clock (the list's order and
/// its «vencidas» filter), the earliest warning instant of a running clock («por vencer»),
/// the first breach (the dashboard's breached tickets: a stopped clock that missed, or a
/// running one once its due has passed), and the next notice to send (the warnings job).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlaRow {
    pub priority: Priority,
    pub category: Option<i64>,
    pub clocks: [StoredClock; 3],
    pub due_at: Option<i64>,
    pub warn_at: Option<i64>,
    pub breach_at: Option<i64>,
    pub notify_at: Option<i64>,
    /// The settings revision the clocks were computed with (0: never).
    pub revision: i64,
}

/// The stretches of time a clock ran: closed ones, then possibly one still open.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    segments: Vec<(i64, i64)>,
    /// The clock runs now, since this instant.
    open: Option<i64>,
    /// It stopped here for good (until a reopening).
    stopped: Option<i64>,
}

fn single(start: i64, stop: Option<i64>) -> Run {
    match stop {
        Some(s) => Run {
            segments: vec![(start, s.max(start))],
            open: None,
            stopped: Some(s.max(start)),
        },
        None => Run {
            segments: Vec::new(),
            open: Some(start),
            stopped: None,
        },
    }
}

fn counts_for_resolution(status: &str) -> bool {
    status != CLOSED && !PAUSED.contains(&status)
}

/// The resolution clock's stretches: from arrival, standing still in `PAUSED` statuses and
/// while closed.
fn resolution_run(f: &Facts<'_>) -> Run {
    let mut segments = Vec::new();
    let mut since = Some(f.created_at);
    let mut status = "nuevo";
    for t in f.transitions {
        let (was, now) = (counts_for_resolution(status), counts_for_resolution(&t.to));
        match (was, now, since) {
            (true, false, Some(s)) => {
                segments.push((s, t.at.max(s)));
                since = None;
            }
            (false, true, None) => since = Some(t.at),
            _ => {}
        }
        status = &t.to;
    }
    let stopped = f.closed_at.filter(|_| f.status == CLOSED);
    match (since, stopped) {
        // The timeline says closed: the last stretch ended at the close.
        (Some(s), Some(at)) => {
            segments.push((s, at.max(s)));
            Run {
                segments,
                open: None,
                stopped: Some(at.max(s)),
            }
        }
        (Some(s), None) if counts_for_resolution(f.status) => Run {
            segments,
            open: Some(s),
            stopped: None,
        },
        (Some(s), None) => {
            // The status says paused though no change into it was read: stop the stretch at
            // its last instant known.
            let end = f.transitions.last().map_or(s, |t| t.at.max(s));
            segments.push((s, end));
            Run {
                segments,
                open: None,
                stopped: None,
            }
        }
        (None, stopped) => Run {
            segments,
            open: None,
            stopped,
        },
    }
}

/// One clock worked out from its stretches: what the row keeps, and the instant its warning
/// is due while it runs.
fn measure(run: &Run, target_minutes: i64, cal: &Calendar) -> (StoredClock, Option<i64>) {
    let target = target_minutes * 60;
    let warn = target * WARN_PERCENT / 100;
    let (mut acc, mut due, mut warn_at) = (0i64, None, None);
    for &(a, b) in &run.segments {
        let got = cal.between(a, b);
        if due.is_none() && acc + got >= target {
            due = cal.add(a, target - acc);
        }
        if warn_at.is_none() && acc + got >= warn {
            warn_at = cal.add(a, warn - acc);
        }
        acc += got;
    }
    if let Some(start) = run.open {
        if due.is_none() {
            due = cal.add(start, target - acc);
        }
        if warn_at.is_none() {
            warn_at = cal.add(start, warn - acc);
        }
        let stored = StoredClock {
            target_minutes: Some(target_minutes),
            due_at: due,
            business_secs: None,
        };
        return (stored, warn_at);
    }
    if let (None, Some(stop)) = (due, run.stopped) {
        // Stopped short of the target: when it would have been due, had it kept running.
        due = cal.add(stop, target - acc);
    }
    let stored = StoredClock {
        target_minutes: Some(target_minutes),
        due_at: due,
        business_secs: Some(acc),
    };
    (stored, None)
}

/// The clocks of a ticket and the instants its row is searched by (see `SlaRow`).
pub fn project(f: &Facts<'_>, targets: Targets, cal: &Calendar) -> SlaRow {
    let stops = f.stops();
    let runs = [
        single(f.created_at, stops[0]),
        single(f.created_at, stops[1]),
        resolution_run(f),
    ];
    let mut row = SlaRow::default();
    for t in Target::ALL {
        let i = t.index();
        let (clock, warn_at) = measure(&runs[i], targets[i], cal);
        row.clocks[i] = clock;
        let running = runs[i].open.is_some();
        let earliest = |slot: &mut Option<i64>, v: Option<i64>| {
            if let Some(v) = v {
                *slot = Some(slot.map_or(v, |s: i64| s.min(v)));
            }
        };
        if running {
            earliest(&mut row.due_at, clock.due_at);
            earliest(&mut row.warn_at, warn_at);
            let next = if f.notified.breached[i] {
                None
            } else if f.notified.warned[i] {
                clock.due_at
            } else {
                warn_at
            };
            earliest(&mut row.notify_at, next);
        }
        let missed = match (runs[i].stopped, clock.due_at) {
            (Some(stop), Some(due)) => stop > due,
            // Running: it breaches at its due unless it stops first. Paused past its due:
            // it breached before the pause.
            (None, Some(_)) => true,
            (_, None) => false,
        };
        if missed {
            earliest(&mut row.breach_at, clock.due_at);
        }
    }
    row
}

/// The instant a clock's count reaches `secs`, if it did (or will, running on) while it ran:
/// not at or after the moment it stopped or paused.
fn reach(run: &Run, secs: i64, cal: &Calendar) -> Option<i64> {
    let mut acc = 0;
    for &(a, b) in &run.segments {
        let got = cal.between(a, b);
        if acc + got >= secs {
            return cal.add(a, secs - acc).filter(|t| *t < b);
        }
        acc += got;
    }
    run.open.and_then(|start| cal.add(start, secs - acc))
}

/// The notices a warnings job looking at every working moment would have sent by `now`: per
/// target, the warning at its warning share and the breach at its due, each while the clock
/// ran. Demo data writes them into its timelines, as a live system would have.
pub fn history(
    f: &Facts<'_>,
    targets: Targets,
    cal: &Calendar,
    now: i64,
) -> Vec<(i64, Target, Level)> {
    let stops = f.stops();
    let runs = [
        single(f.created_at, stops[0]),
        single(f.created_at, stops[1]),
        resolution_run(f),
    ];
    let mut out = Vec::new();
    for t in Target::ALL {
        let target = targets[t.index()] * 60;
        for (level, secs) in [
            (Level::Warning, target * WARN_PERCENT / 100),
            (Level::Breach, target),
        ] {
            // A breach is the instant after the due.
            let at =
                reach(&runs[t.index()], secs, cal).map(|x| x + i64::from(level == Level::Breach));
            if let Some(at) = at.filter(|at| *at <= now) {
                let still = runs[t.index()].stopped.is_none_or(|s| at < s);
                if still {
                    out.push((at, t, level));
                }
            }
        }
    }
    out.sort_by_key(|(at, t, _)| (*at, t.index()));
    out
}

/// Where a clock stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Running,
    Paused,
    Stopped,
    /// Never computed (a ticket from before service levels, not yet recomputed).
    Unknown,
}

/// One clock as people and the API see it, at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub target: Target,
    pub target_minutes: Option<i64>,
    pub due_at: Option<i64>,
    pub elapsed_secs: i64,
    /// `Some(true)` stopped in time; `Some(false)` missed (stopped late, or past its due while
    /// still running); `None` not decided yet.
    pub met: Option<bool>,
    pub breached: bool,
    pub state: State,
}

impl Clock {
    /// Business seconds from now to the due instant (negative: overdue by that much).
    pub fn remaining_secs(&self, cal: &Calendar, now: i64) -> Option<i64> {
        let due = self.due_at?;
        Some(if now <= due {
            cal.between(now, due)
        } else {
            -cal.between(due, now)
        })
    }

    /// Whether its warning share has gone by.
    pub fn warned(&self) -> bool {
        self.target_minutes
            .is_some_and(|t| self.elapsed_secs * 100 >= t * 60 * WARN_PERCENT)
    }
}

/// The three clocks of a ticket row at `now`; `stops` as `stops()` gives them.
pub fn clocks(row: &SlaRow, stops: [Option<i64>; 3], cal: &Calendar, now: i64) -> [Clock; 3] {
    Target::ALL.map(|t| {
        let i = t.index();
        let c = row.clocks[i];
        let Some(target_minutes) = c.target_minutes else {
            return Clock {
                target: t,
                target_minutes: None,
                due_at: None,
                elapsed_secs: 0,
                met: None,
                breached: false,
                state: State::Unknown,
            };
        };
        let target = target_minutes * 60;
        let (state, elapsed) = match (stops[i], c.business_secs, c.due_at) {
            (Some(_), secs, _) => (State::Stopped, secs.unwrap_or(0)),
            (None, Some(secs), _) => (State::Paused, secs),
            (None, None, Some(due)) => (
                State::Running,
                if now <= due {
                    target - cal.between(now, due)
                } else {
                    target + cal.between(due, now)
                },
            ),
            (None, None, None) => (State::Unknown, 0),
        };
        let (met, breached) = match (state, c.due_at) {
            (State::Stopped, Some(due)) => {
                let ok = stops[i].is_some_and(|s| s <= due);
                (Some(ok), !ok)
            }
            (State::Running, Some(due)) if now > due => (Some(false), true),
            (State::Paused, Some(_)) => (Some(false), true),
            _ => (None, false),
        };
        Clock {
            target: t,
            target_minutes: Some(target_minutes),
            due_at: c.due_at,
            elapsed_secs: elapsed.max(0),
            met,
            breached,
            state,
        }
    })
}

/// The notices due for a ticket at `now` (already inside working hours): a breach for each
/// running clock past its due not yet reported, else a warning for each past its warning
/// share not yet warned. A clock that passed both while nobody was working gets the breach
/// only.
pub fn notices_due(clocks: &[Clock; 3], notified: &Notified, now: i64) -> Vec<(Target, Level)> {
    let mut out = Vec::new();
    for c in clocks.iter().filter(|c| c.state == State::Running) {
        let i = c.target.index();
        if notified.breached[i] {
            continue;
        }
        if c.due_at.is_some_and(|d| now > d) {
            out.push((c.target, Level::Breach));
        } else if !notified.warned[i] && c.warned() {
            out.push((c.target, Level::Warning));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Figures: met and missed targets per Lima day.

/// Whom a decided clock counts for on the dashboard: the ticket's priority, its category (0:
/// none) and its technician (0: nobody; the one who has it now, or had it when it closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlaKey {
    pub priority: Priority,
    pub category: i64,
    pub person: i64,
}

/// A decided clock: the Lima day it stopped, which target, for whom, and whether it was met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decided {
    pub day: i64,
    pub target: Target,
    pub key: SlaKey,
    pub met: bool,
}

/// One change to a daily row: a met or missed clock added (+1) or taken back (−1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaDelta {
    pub decided: Decided,
    pub sign: i64,
}

/// The decided clocks of a ticket row: each stopped clock with a due instant.
pub fn decided(row: &SlaRow, stops: [Option<i64>; 3], assignee: Option<UserId>) -> Vec<Decided> {
    let key = SlaKey {
        priority: row.priority,
        category: row.category.unwrap_or(0),
        person: assignee.map_or(0, |u| u.0),
    };
    Target::ALL
        .into_iter()
        .filter_map(|t| {
            let i = t.index();
            let stop = stops[i]?;
            let due = row.clocks[i].due_at?;
            row.clocks[i].target_minutes?;
            Some(Decided {
                day: day_of(stop),
                target: t,
                key,
                met: stop <= due,
            })
        })
        .collect()
}

/// What a write changes in the daily rows: the decided clocks after it, less those before.
pub fn figure_deltas(before: &[Decided], after: &[Decided]) -> Vec<SlaDelta> {
    let mut out = Vec::new();
    for b in before {
        if !after.contains(b) {
            out.push(SlaDelta {
                decided: *b,
                sign: -1,
            });
        }
    }
    for a in after {
        if !before.contains(a) {
            out.push(SlaDelta {
                decided: *a,
                sign: 1,
            });
        }
    }
    out
}

/// Met and missed counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub met: i64,
    pub breached: i64,
}

impl Tally {
    pub fn add(&mut self, other: Tally) {
        self.met += other.met;
        self.breached += other.breached;
    }

    /// The share met, in percent with one decimal; `None` when nothing was decided.
    pub fn pct_met(&self) -> Option<f64> {
        let total = self.met + self.breached;
        (total > 0).then(|| (self.met as f64 * 1000.0 / total as f64).round() / 10.0)
    }
}

/// One Lima day of one target: per key, how many clocks were met and missed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaDay {
    pub day: i64,
    pub target: Target,
    pub entries: std::collections::BTreeMap<SlaKey, Tally>,
}

impl SlaDay {
    pub fn new(day: i64, target: Target) -> SlaDay {
        SlaDay {
            day,
            target,
            entries: Default::default(),
        }
    }

    pub fn apply(&mut self, d: &SlaDelta) {
        let e = self.entries.entry(d.decided.key).or_default();
        if d.decided.met {
            e.met += d.sign;
        } else {
            e.breached += d.sign;
        }
        if e.met == 0 && e.breached == 0 {
            self.entries.remove(&d.decided.key);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Lists.

/// The list's service-level filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueFilter {
    /// `vencidas`: a running clock is past its due.
    Overdue,
    /// `por_vencer`: a running clock is past its warning share and not yet due.
    DueSoon,
}

impl DueFilter {
    pub const ALL: [DueFilter; 2] = [DueFilter::Overdue, DueFilter::DueSoon];

    pub fn as_str(self) -> &'static str {
        match self {
            DueFilter::Overdue => "vencidas",
            DueFilter::DueSoon => "por_vencer",
        }
    }

    pub fn parse(s: &str) -> Option<DueFilter> {
        DueFilter::ALL.into_iter().find(|f| f.as_str() == s.trim())
    }

    pub fn label(self) -> &'static str {
        match self {
            DueFilter::Overdue => "Vencidas",
            DueFilter::DueSoon => "Por vencer",
        }
    }
}

// ---------------------------------------------------------------------------------------
// Words.

/// Business time in words: "1 h 20 min", "45 min", "menos de 1 min".
pub fn business_words(secs: i64) -> String {
    let m = secs.max(0) / 60;
    match (m / 60, m % 60) {
        (0, 0) => "menos de 1 min".to_string(),
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// A due badge: the CSS class (`sla-ok`, `sla-warn`, `sla-late`, `sla-paused`, `sla-done`,
/// `sla-missed`) and its words ("vence en 1 h 20 min", "vencida hace 2 h").
pub fn badge(c: &Clock, cal: &Calendar, now: i64) -> (&'static str, String) {
    match c.state {
        State::Running => match c.remaining_secs(cal, now) {
            Some(left) if left > 0 || c.due_at.is_some_and(|d| now <= d) => {
                let class = if c.warned() { "sla-warn" } else { "sla-ok" };
                (class, format!("vence en {}", business_words(left)))
            }
            Some(left) if left < 0 => (
                "sla-late",
                format!("vencida hace {}", business_words(-left)),
            ),
            Some(_) => ("sla-late", "vencida".to_string()),
            None => ("sla-paused", "sin vencimiento".to_string()),
        },
        State::Paused if c.breached => ("sla-late", "vencida (en pausa)".to_string()),
        State::Paused => ("sla-paused", "en pausa".to_string()),
        State::Stopped if c.met == Some(true) => ("sla-done", "cumplido".to_string()),
        State::Stopped => ("sla-missed", "incumplido".to_string()),
        State::Unknown => ("sla-paused", "sin calcular".to_string()),
    }
}

/// The clock that speaks for a ticket in a list: the running one due first, else a paused
/// one, else the last to stop (resolution).
pub fn headline(clocks: &[Clock; 3]) -> &Clock {
    clocks
        .iter()
        .filter(|c| c.state == State::Running && c.due_at.is_some())
        .min_by_key(|c| c.due_at)
        .or_else(|| clocks.iter().find(|c| c.state == State::Paused))
        .unwrap_or(&clocks[2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    /// A Lima wall-clock instant.
    fn lima(y: i16, m: i8, d: i8, h: i8, min: i8) -> i64 {
        date(y, m, d)
            .at(h, min, 0, 0)
            .to_zoned(jiff::tz::TimeZone::get(TIME_ZONE).unwrap())
            .unwrap()
            .timestamp()
            .as_second()
    }

    fn cal() -> Calendar {
        Calendar::peru_default()
    }

    #[test]
    fn lima_stays_at_utc_minus_five_through_2040() {
        let tz = jiff::tz::TimeZone::get(TIME_ZONE).unwrap();
        let from = jiff::Timestamp::from_second(lima(2000, 1, 1, 0, 0)).unwrap();
        let until = lima(2040, 12, 31, 23, 59);
        assert!(
            tz.following(from)
                .next()
                .is_none_or(|t| t.timestamp().as_second() > until),
            "a Lima offset change before 2041"
        );
        assert_eq!(tz.to_offset(from).seconds(), OFFSET as i32);
        // The day numbers agree with jiff's own dates.
        for (y, m, d) in [(1970, 1, 1), (2026, 7, 28), (2000, 2, 29), (1969, 12, 31)] {
            let n = day_number(date(y, m, d));
            assert_eq!(day_of(lima(y, m, d, 12, 0)), n, "{y}-{m}-{d}");
        }
        assert_eq!(weekday(day_number(date(2026, 7, 27))), 1, "a Monday");
        assert_eq!(weekday(day_number(date(2026, 11, 29))), 7, "a Sunday");
    }

    // The hand-worked cases of issue 14.

    #[test]
    fn friday_1730_plus_240_minutes_is_monday_1130() {
        // Fri 6 Nov 2026: 30 min before closing, then 210 min from Monday 08:00.
        let start = lima(2026, 11, 6, 17, 30);
        assert_eq!(cal().add(start, 240 * 60), Some(lima(2026, 11, 9, 11, 30)));
        assert_eq!(cal().between(start, lima(2026, 11, 9, 11, 30)), 240 * 60);
    }

    #[test]
    fn monday_27_july_1600_plus_240_minutes_is_thursday_30_july_1000() {
        // 120 min on Monday, Fiestas Patrias on Tuesday and Wednesday, 120 min on Thursday.
        let start = lima(2026, 7, 27, 16, 0);
        assert_eq!(cal().add(start, 240 * 60), Some(lima(2026, 7, 30, 10, 0)));
    }

    #[test]
    fn waiting_from_friday_1700_to_monday_1000_loses_three_hours_not_the_weekend() {
        // Arrives Thu 5 Nov 2026 09:00, waits for the requester Fri 17:00 → Mon 10:00, then
        // is worked on again until Mon 12:00.
        let created = lima(2026, 11, 5, 9, 0);
        let transitions = [
            Transition {
                at: lima(2026, 11, 6, 17, 0),
                to: "en_espera".into(),
            },
            Transition {
                at: lima(2026, 11, 9, 10, 0),
                to: "en_atencion".into(),
            },
        ];
        let facts = Facts {
            created_at: created,
            status: "en_atencion",
            first_assigned_at: Some(created + 600),
            first_response_at: Some(created + 1200),
            closed_at: None,
            transitions: &transitions,
            notified: Notified::default(),
        };
        let row = project(&facts, [60, 240, 1800], &cal());
        let now = lima(2026, 11, 9, 12, 0);
        let [_, _, resolution] = clocks(&row, facts.stops(), &cal(), now);
        // Thu 09–18 (9 h) + Fri 08–17 (9 h) + Mon 10–12 (2 h) = 20 h counted. Without the
        // pause it would be 23 h: the wait lost Fri 17–18 and Mon 08–10, three hours.
        assert_eq!(resolution.state, State::Running);
        assert_eq!(resolution.elapsed_secs, 20 * 3600);
        let unpaused = cal().between(created, now);
        assert_eq!(unpaused - resolution.elapsed_secs, 3 * 3600);
        // 1800 min = 30 h: 10 h left from Mon 12:00 → Mon 18:00 (6 h) + Tue 08:00 + 4 h.
        assert_eq!(resolution.due_at, Some(lima(2026, 11, 10, 12, 0)));
    }

    #[test]
    fn a_ticket_arriving_on_a_holiday_starts_at_the_next_working_morning() {
        // Tue 28 Jul 2026 (Fiestas Patrias) 10:00: the clocks start Thu 30 Jul at 08:00.
        let start = lima(2026, 7, 28, 10, 0);
        assert_eq!(cal().add(start, 60 * 60), Some(lima(2026, 7, 30, 9, 0)));
        assert_eq!(cal().between(start, lima(2026, 7, 30, 8, 0)), 0);
        assert!(!cal().is_working(start));
        assert!(cal().is_working(lima(2026, 7, 30, 8, 0)));
    }

    #[test]
    fn a_target_that_runs_out_at_closing_time_is_due_then() {
        let start = lima(2026, 11, 6, 17, 30);
        assert_eq!(cal().add(start, 30 * 60), Some(lima(2026, 11, 6, 18, 0)));
        assert_eq!(cal().add(start, 0), Some(start));
        // Saturday counts nothing; a week counts five days of ten hours.
        assert_eq!(
            cal().between(lima(2026, 11, 7, 0, 0), lima(2026, 11, 8, 23, 0)),
            0
        );
        assert_eq!(
            cal().between(lima(2026, 11, 9, 0, 0), lima(2026, 11, 16, 0, 0)),
            50 * 3600
        );
    }

    #[test]
    fn every_shipped_holiday_is_a_day_off() {
        let c = cal();
        assert_eq!(c.holidays().len(), 32);
        for h in peru_holidays() {
            let noon = lima(h.date.year(), h.date.month(), h.date.day(), 12, 0);
            assert!(!c.is_working(noon), "{:?}", h);
            assert_eq!(
                c.holiday(h.date).map(|x| x.name.as_str()),
                Some(h.name.as_str())
            );
        }
        assert_eq!(
            c.holiday(date(2026, 7, 28)).map(|h| h.name.as_str()),
            Some("Fiestas Patrias")
        );
    }

    #[test]
    fn bad_calendars_are_refused_in_spanish() {
        assert_eq!(parse_clock("08:00").unwrap(), 480);
        assert_eq!(parse_clock("24:00").unwrap(), 1440);
        assert_eq!(parse_clock("7:30").unwrap(), 450);
        for bad in ["25:00", "24:01", "8", "08:60", "ocho", "-1:00", "08:5"] {
            let e = parse_clock(bad).unwrap_err();
            assert!(
                e.message()
                    .starts_with(&format!("La hora «{bad}» no es válida")),
                "{bad}: {}",
                e.message()
            );
        }
        let h = |weekday, from, to| Hours { weekday, from, to };
        let e = Calendar::new(&[h(1, 600, 480)], vec![]).unwrap_err();
        assert_eq!(
            e.message(),
            "El lunes, la hora de inicio (10:00) debe ser anterior a la de fin (08:00)."
        );
        assert!(Calendar::new(&[], vec![]).is_err());
        let twice = vec![
            Holiday {
                date: date(2026, 7, 28),
                name: "Fiestas Patrias".into(),
            },
            Holiday {
                date: date(2026, 7, 28),
                name: "Otra vez".into(),
            },
        ];
        let e = Calendar::new(&default_hours(), twice).unwrap_err();
        assert_eq!(
            e.message(),
            "El 28/07/2026 ya es feriado (Fiestas Patrias)."
        );
        for (raw, ok) in [
            ("60", true),
            ("0", false),
            ("-5", false),
            ("1.5", false),
            ("x", false),
        ] {
            assert_eq!(parse_target(raw, "Media, asignación").is_ok(), ok, "{raw}");
        }
        assert_eq!(
            parse_target("-5", "Media, asignación")
                .unwrap_err()
                .message(),
            "Media, asignación: el objetivo debe ser mayor que cero minutos (se recibió -5)."
        );
    }

    fn facts<'a>(created: i64, status: &'a str, transitions: &'a [Transition]) -> Facts<'a> {
        Facts {
            created_at: created,
            status,
            first_assigned_at: None,
            first_response_at: None,
            closed_at: None,
            transitions,
            notified: Notified::default(),
        }
    }

    #[test]
    fn a_new_ticket_has_three_running_clocks_and_the_row_knows_what_is_next() {
        let created = lima(2026, 11, 6, 17, 30); // Friday
        let f = facts(created, "nuevo", &[]);
        let row = project(&f, [60, 240, 1800], &cal());
        // Assignment: 30 min Friday + 30 min Monday.
        assert_eq!(row.clocks[0].due_at, Some(lima(2026, 11, 9, 8, 30)));
        assert_eq!(row.clocks[0].business_secs, None);
        assert_eq!(row.due_at, Some(lima(2026, 11, 9, 8, 30)));
        // 80 % of 60 min = 48 min: 30 on Friday, 18 on Monday.
        assert_eq!(row.warn_at, Some(lima(2026, 11, 9, 8, 18)));
        assert_eq!(row.notify_at, row.warn_at);
        assert_eq!(row.breach_at, row.due_at);
        let now = lima(2026, 11, 7, 12, 0); // Saturday: nothing has moved since Friday 18:00
        let c = clocks(&row, f.stops(), &cal(), now);
        assert_eq!(c[0].elapsed_secs, 30 * 60);
        assert_eq!((c[0].met, c[0].breached), (None, false));
        assert_eq!(
            badge(&c[0], &cal(), now),
            ("sla-ok", "vence en 30 min".to_string())
        );
        let late = lima(2026, 11, 9, 10, 30);
        let c = clocks(&row, f.stops(), &cal(), late);
        assert_eq!((c[0].met, c[0].breached), (Some(false), true));
        assert_eq!(c[0].elapsed_secs, 3 * 3600);
        assert_eq!(
            badge(&c[0], &cal(), late),
            ("sla-late", "vencida hace 2 h".to_string())
        );
        assert_eq!(
            notices_due(&c, &Notified::default(), late),
            vec![(Target::Assignment, Level::Breach)]
        );
    }

    #[test]
    fn stopped_clocks_are_met_or_missed_and_count_once_on_their_day() {
        let created = lima(2026, 11, 9, 9, 0); // Monday
        let mut f = facts(created, "cerrado", &[]);
        f.first_assigned_at = Some(lima(2026, 11, 9, 9, 45)); // in time (60)
        f.first_response_at = Some(lima(2026, 11, 9, 14, 0)); // late (240 → 13:00)
        f.closed_at = Some(lima(2026, 11, 10, 10, 0));
        let transitions = [Transition {
            at: lima(2026, 11, 10, 10, 0),
            to: "cerrado".into(),
        }];
        f.transitions = &transitions;
        let row = project(&f, [60, 240, 1800], &cal());
        let c = clocks(&row, f.stops(), &cal(), lima(2026, 12, 1, 9, 0));
        assert_eq!(c[0].met, Some(true));
        assert_eq!(c[0].elapsed_secs, 45 * 60);
        assert_eq!((c[1].met, c[1].breached), (Some(false), true));
        assert_eq!(c[1].due_at, Some(lima(2026, 11, 9, 13, 0)));
        assert_eq!(c[2].met, Some(true));
        assert_eq!(c[2].elapsed_secs, 11 * 3600);
        assert_eq!(row.due_at, None, "nothing runs");
        assert_eq!(row.notify_at, None);
        assert_eq!(row.breach_at, Some(lima(2026, 11, 9, 13, 0)));
        let person = Some(UserId(7));
        let d = decided(&row, f.stops(), person);
        assert_eq!(d.len(), 3);
        assert_eq!(d.iter().filter(|x| x.met).count(), 2);
        // A change of technician moves each decided clock to the new one.
        let moved = decided(&row, f.stops(), Some(UserId(8)));
        let deltas = figure_deltas(&d, &moved);
        assert_eq!(deltas.len(), 6);
        assert_eq!(deltas.iter().map(|x| x.sign).sum::<i64>(), 0);
        assert!(figure_deltas(&d, &d).is_empty());
    }

    #[test]
    fn a_closed_ticket_reopened_resumes_its_resolution_clock_where_it_stopped() {
        let created = lima(2026, 11, 9, 8, 0);
        let t = |at, to: &str| Transition {
            at,
            to: to.to_string(),
        };
        let transitions = [
            t(lima(2026, 11, 9, 9, 0), "asignado"),
            t(lima(2026, 11, 9, 10, 0), "cerrado"),
            t(lima(2026, 11, 16, 8, 0), "asignado"), // reopened a week later
        ];
        let mut f = facts(created, "asignado", &transitions);
        f.first_assigned_at = Some(lima(2026, 11, 9, 9, 0));
        let row = project(&f, [60, 240, 240], &cal());
        // Two hours ran before the close; two are left from the reopening.
        assert_eq!(row.clocks[2].due_at, Some(lima(2026, 11, 16, 10, 0)));
        assert_eq!(row.clocks[2].business_secs, None);
    }

    #[test]
    fn a_paused_clock_has_no_due_and_keeps_its_count() {
        let created = lima(2026, 11, 9, 8, 0);
        let transitions = [Transition {
            at: lima(2026, 11, 9, 11, 0),
            to: "en_espera".into(),
        }];
        let mut f = facts(created, "en_espera", &transitions);
        f.first_assigned_at = Some(created + 60);
        f.first_response_at = Some(created + 120);
        let row = project(&f, [60, 240, 1800], &cal());
        assert_eq!(row.clocks[2].due_at, None);
        assert_eq!(row.clocks[2].business_secs, Some(3 * 3600));
        assert_eq!(row.due_at, None);
        assert_eq!(row.breach_at, None);
        let c = clocks(&row, f.stops(), &cal(), lima(2026, 11, 20, 9, 0));
        assert_eq!(c[2].state, State::Paused);
        assert_eq!(c[2].elapsed_secs, 3 * 3600);
        assert_eq!(badge(&c[2], &cal(), 0).1, "en pausa");
    }

    #[test]
    fn warnings_and_breaches_go_once_each() {
        let created = lima(2026, 11, 9, 8, 0);
        let f = facts(created, "nuevo", &[]);
        let row = project(&f, [60, 240, 1800], &cal());
        let at = |h, m| lima(2026, 11, 9, h, m);
        let c = clocks(&row, f.stops(), &cal(), at(8, 50));
        let mut sent = Notified::default();
        assert_eq!(
            notices_due(&c, &sent, at(8, 50)),
            vec![(Target::Assignment, Level::Warning)]
        );
        sent.record(Level::Warning, Target::Assignment);
        assert!(notices_due(&c, &sent, at(8, 50)).is_empty());
        let f2 = Facts {
            notified: sent,
            ..f
        };
        let row2 = project(&f2, [60, 240, 1800], &cal());
        assert_eq!(row2.notify_at, Some(at(9, 0)), "next: the breach");
        let c = clocks(&row2, f2.stops(), &cal(), at(9, 5));
        assert_eq!(
            notices_due(&c, &sent, at(9, 5)),
            vec![(Target::Assignment, Level::Breach)]
        );
        sent.record(Level::Breach, Target::Assignment);
        let f3 = Facts {
            notified: sent,
            ..f
        };
        // The first response's warning comes next (80 % of 240 min = 11:12).
        assert_eq!(
            project(&f3, [60, 240, 1800], &cal()).notify_at,
            Some(at(11, 12))
        );
    }

    #[test]
    fn the_history_has_each_notice_once_while_its_clock_ran() {
        let created = lima(2026, 11, 9, 9, 0);
        let mut f = facts(created, "asignado", &[]);
        f.first_assigned_at = Some(lima(2026, 11, 9, 9, 55)); // warned at 09:48, in time
        let h = history(&f, [60, 240, 1800], &cal(), lima(2026, 11, 9, 13, 30));
        assert_eq!(
            h,
            vec![
                (lima(2026, 11, 9, 9, 48), Target::Assignment, Level::Warning),
                (
                    lima(2026, 11, 9, 12, 12),
                    Target::FirstResponse,
                    Level::Warning
                ),
                (
                    lima(2026, 11, 9, 13, 0) + 1,
                    Target::FirstResponse,
                    Level::Breach
                ),
            ]
        );
    }

    #[test]
    fn business_words_read_like_people_talk() {
        assert_eq!(business_words(80 * 60), "1 h 20 min");
        assert_eq!(business_words(2 * 3600), "2 h");
        assert_eq!(business_words(59), "menos de 1 min");
        assert_eq!(business_words(45 * 60 + 30), "45 min");
        let t = Tally {
            met: 2,
            breached: 1,
        };
        assert_eq!(t.pct_met(), Some(66.7));
        assert_eq!(Tally::default().pct_met(), None);
    }
}
