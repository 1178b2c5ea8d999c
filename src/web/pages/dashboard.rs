//! Tablero: counts, the three times (mean, median, p90), queue waits, returns and passes,
//! the open backlog, per-technician figures and two server-drawn charts.

use super::{Chrome, ok};
use crate::domain::metrics::{Csat, Period, Summary};
use crate::domain::time::{age_in_words, duration_words, format_lima};
use crate::service::reports::Dashboard;
use crate::web::AppState;
use crate::web::charts::{
    Chart, horizontal, horizontal_narrow, opened_closed, opened_closed_narrow,
};
use crate::web::error::{AppError, PageError};
use crate::web::extract::CurrentUser;
use crate::web::query::date_range;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct PeriodQuery {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
}

impl PeriodQuery {
    /// The period asked for (default: the last 30 Lima days).
    pub fn period(&self, now: i64) -> Result<Period, AppError> {
        let (from, to) = date_range(&self.from, &self.to)?;
        Ok(Period::lima_days(from, to, now)?)
    }
}

/// A figure ready to show: the three statistics in words.
pub struct Figure {
    pub title: &'static str,
    pub formula: &'static str,
    pub count: usize,
    pub mean: String,
    pub median: String,
    pub p90: String,
}

fn words(v: Option<f64>) -> String {
    v.map(|s| duration_words(s.round() as i64))
        .unwrap_or_else(|| "—".to_string())
}

fn figure(title: &'static str, formula: &'static str, s: &Summary) -> Figure {
    Figure {
        title,
        formula,
        count: s.count,
        mean: words(s.mean),
        median: words(s.median),
        p90: words(s.p90),
    }
}

pub struct TechRow {
    pub name: String,
    pub active: bool,
    pub open: i64,
    pub closed: usize,
    pub assign: String,
    pub response: String,
    pub close_mean: String,
    pub close_median: String,
    pub csat: CsatView,
}

/// One bar of the 1–5 distribution.
pub struct ScoreBar {
    pub score: usize,
    pub n: i64,
    /// Share of the responses, 0–100, for the bar's width.
    pub percent: i64,
}

/// The requesters' ratings, ready to show.
pub struct CsatView {
    pub responses: i64,
    pub closes: i64,
    /// "75 %", or "—" without closes.
    pub rate: String,
    /// "4,3 de 5", or "—" without responses.
    pub mean: String,
    pub by_score: Vec<ScoreBar>,
}

/// A decimal with a comma, as Peru writes it.
fn decimal(v: f64) -> String {
    format!("{v:.1}").replace('.', ",")
}

fn csat_view(c: &Csat) -> CsatView {
    CsatView {
        responses: c.responses,
        closes: c.closes,
        rate: c
            .response_rate()
            .map(|r| format!("{} %", (r * 100.0).round() as i64))
            .unwrap_or_else(|| "—".to_string()),
        mean: c
            .mean()
            .map(|m| format!("{} de 5", decimal(m)))
            .unwrap_or_else(|| "—".to_string()),
        by_score: c
            .by_score
            .iter()
            .enumerate()
            .map(|(i, n)| ScoreBar {
                score: i + 1,
                n: *n,
                percent: if c.responses > 0 {
                    (n * 100 + c.responses / 2) / c.responses
                } else {
                    0
                },
            })
            .collect(),
    }
}

pub struct OpenRow {
    pub id: i64,
    pub number: String,
    pub subject: String,
    pub status: &'static str,
    pub status_label: &'static str,
    pub assignee: String,
    pub age: String,
    pub last_event: String,
}

pub struct HandoffView {
    pub ticket_id: i64,
    pub number: String,
    pub label: &'static str,
    pub actor: String,
    pub at: String,
    pub reason: String,
}

pub struct DayView {
    pub day: String,
    pub opened: i64,
    pub closed: i64,
}

pub struct StatusView {
    pub label: &'static str,
    pub status: &'static str,
    pub n: i64,
}

#[derive(Template)]
#[template(path = "dashboard/show.html")]
pub struct DashboardPage {
    pub chrome: Chrome,
    pub own: bool,
    pub from: String,
    pub to: String,
    pub period_label: String,
    pub error: Option<String>,
    /// The open statuses (the chart's bars).
    pub counts: Vec<StatusView>,
    /// Every ticket closed so far, shown apart from the open ones.
    pub closed_total: i64,
    pub open_total: i64,
    pub figures: Vec<Figure>,
    pub queue: Option<Figure>,
    pub waiting_now: usize,
    pub longest_wait_now: String,
    pub returned: i64,
    pub passed: i64,
    pub handoffs: Vec<HandoffView>,
    pub backlog: Figure,
    pub buckets: Vec<(&'static str, usize)>,
    pub open_rows: Vec<OpenRow>,
    pub open_more: i64,
    pub techs: Vec<TechRow>,
    /// The requesters' ratings of the period's closes.
    pub csat: CsatView,
    pub csat_note: &'static str,
    pub days: Vec<DayView>,
    pub daily_chart: Chart,
    /// The same charts drawn for a phone's width (shown instead below 600 px).
    pub daily_chart_narrow: Chart,
    pub status_chart_narrow: Chart,
    /// "Abiertas" (arrivals) for staff; "Recibidas" (handed to them) for a technician.
    pub opened_word: &'static str,
    pub opened_legend: &'static str,
    pub status_chart: Chart,
    pub sla: super::sla::DashboardSla,
    pub generated: String,
}

pub const ASSIGN_NOTE: &str = "Desde que llega hasta su primera derivación; cuenta las incidencias derivadas por primera vez en el periodo.";
pub const RESPONSE_NOTE: &str = "Desde que llega hasta la primera respuesta pública al solicitante (no cuentan las notas internas); cuenta las primeras respuestas del periodo, para quien respondió. Las incidencias anteriores a las respuestas públicas conservan su primer comentario del técnico.";
pub const CLOSE_NOTE: &str = "Desde que llega hasta su cierre (el último, si se reabrió); cuenta las incidencias cerradas en el periodo.";
pub const WAITING_NOTE: &str = "Tiempo que cada incidencia estuvo Esperando al usuario hasta su respuesta o el cierre; cuenta las esperas que terminaron en el periodo.";
pub const CSAT_NOTE: &str = "Valoraciones de 1 a 5 que los solicitantes dieron desde el enlace del correo de cierre, sobre las incidencias cerradas en el periodo; cada técnico cuenta las de las incidencias que tenía al cerrarse. Tasa de respuesta = valoraciones ÷ cierres.";
pub const QUEUE_NOTE: &str = "Tiempo que cada incidencia esperó sin técnico (Nuevo o Devuelto) hasta ser derivada; cuenta las esperas que terminaron en el periodo.";
pub const BACKLOG_NOTE: &str =
    "Edad de cada incidencia abierta ahora: desde que llegó hasta este momento.";

fn build(d: &Dashboard, chrome: Chrome, q: &PeriodQuery) -> DashboardPage {
    let now = d.generated_at;
    // The open statuses are what the team works on now; the closed ones are every ticket ever
    // closed, which would dwarf them on one scale: they are shown apart.
    let (closed, counts): (Vec<StatusView>, Vec<StatusView>) = d
        .counts
        .iter()
        .map(|(s, n)| StatusView {
            label: s.label(),
            status: s.as_str(),
            n: *n,
        })
        .partition(|c| c.status == "cerrado");
    let closed_total = closed.iter().map(|c| c.n).sum();
    let days: Vec<DayView> = d
        .daily
        .iter()
        .map(|r| DayView {
            day: r.day.strftime("%d/%m/%Y").to_string(),
            opened: r.opened,
            closed: r.closed,
        })
        .collect();
    let (opened_word, opened_legend) = if d.technician.is_some() {
        ("Recibidas", "Recibidas (derivadas a usted)")
    } else {
        ("Abiertas", "Abiertas (llegadas)")
    };
    let per_day = days
        .iter()
        .map(|v| (v.day.clone(), v.opened, v.closed))
        .collect::<Vec<_>>();
    let daily_chart = opened_closed(&per_day, &opened_word.to_lowercase());
    let daily_chart_narrow = opened_closed_narrow(&per_day, &opened_word.to_lowercase());
    let by_status = counts
        .iter()
        .map(|c| {
            (
                c.label.to_string(),
                match c.status {
                    "nuevo" => "bar-nuevo",
                    "asignado" => "bar-asignado",
                    "en_atencion" => "bar-en_atencion",
                    "en_espera" => "bar-en_espera",
                    "devuelto" => "bar-devuelto",
                    _ => "bar-cerrado",
                },
                c.n,
            )
        })
        .collect::<Vec<_>>();
    let status_chart = horizontal(&by_status);
    let status_chart_narrow = horizontal_narrow(&by_status);
    DashboardPage {
        own: d.technician.is_some(),
        from: d.period.from_day.to_string(),
        to: d.period.to_day.to_string(),
        period_label: format!(
            "del {} al {}",
            d.period.from_day.strftime("%d/%m/%Y"),
            d.period.to_day.strftime("%d/%m/%Y")
        ),
        error: None,
        open_total: d.open_total,
        figures: vec![
            figure("Tiempo hasta la derivación", ASSIGN_NOTE, &d.assign),
            figure(
                "Tiempo hasta la primera respuesta",
                RESPONSE_NOTE,
                &d.response,
            ),
            figure("Tiempo hasta el cierre", CLOSE_NOTE, &d.close),
            figure("Tiempo esperando al usuario", WAITING_NOTE, &d.waiting),
        ],
        queue: d
            .queue_wait
            .as_ref()
            .map(|s| figure("Espera en la cola de derivación", QUEUE_NOTE, s)),
        waiting_now: d.waiting_now,
        longest_wait_now: d.longest_wait_now.map(duration_words).unwrap_or_default(),
        returned: d.returned,
        passed: d.passed,
        handoffs: d
            .handoffs
            .iter()
            .map(|h| HandoffView {
                ticket_id: h.ticket.0,
                number: crate::domain::ids::TicketNumber(h.ticket).to_string(),
                label: h.kind.label(),
                actor: h.actor.clone(),
                at: format_lima(h.at),
                reason: match &h.to {
                    Some(to) if !h.reason.is_empty() => format!("{} (a {to})", h.reason),
                    Some(to) => format!("a {to}"),
                    None => h.reason.clone(),
                },
            })
            .collect(),
        backlog: figure(
            "Antigüedad de las incidencias abiertas",
            BACKLOG_NOTE,
            &d.backlog,
        ),
        buckets: d.backlog_buckets.to_vec(),
        open_more: (d.open_total - d.open_tickets.len() as i64).max(0),
        open_rows: d
            .open_tickets
            .iter()
            .map(|t| OpenRow {
                id: t.id.0,
                number: t.number().to_string(),
                subject: t.subject.clone(),
                status: t.status.as_str(),
                status_label: t.status.label(),
                assignee: t
                    .assignee_name
                    .clone()
                    .unwrap_or_else(|| "Sin asignar".to_string()),
                age: age_in_words(now - t.created_at),
                last_event: format!(
                    "{} · {}",
                    crate::domain::timeline::EventKind::parse(&t.last_event_kind)
                        .map(|k| k.label())
                        .unwrap_or("—"),
                    format_lima(t.last_event_at)
                ),
            })
            .collect(),
        techs: d
            .technicians
            .iter()
            .map(|t| TechRow {
                name: t.name.clone(),
                active: t.active,
                open: t.open,
                closed: t.closed,
                assign: words(t.assign.mean),
                response: words(t.response.mean),
                close_mean: words(t.close.mean),
                close_median: words(t.close.median),
                csat: csat_view(&t.csat),
            })
            .collect(),
        csat: csat_view(&d.csat),
        csat_note: CSAT_NOTE,
        counts,
        closed_total,
        days,
        daily_chart,
        daily_chart_narrow,
        status_chart_narrow,
        opened_word,
        opened_legend,
        status_chart,
        sla: super::sla::dashboard_section(&d.sla),
        generated: format_lima(now),
        chrome,
    }
    .with_query(q)
}

impl DashboardPage {
    fn with_query(mut self, q: &PeriodQuery) -> DashboardPage {
        if !q.from.is_empty() {
            self.from = q.from.clone();
        }
        if !q.to.is_empty() {
            self.to = q.to.clone();
        }
        self
    }
}

pub async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<PeriodQuery>,
) -> Result<Response, PageError> {
    let chrome = Chrome::for_user(&user, "dashboard");
    let (period, error) = match q.period(state.services.now()) {
        Ok(p) => (p, None),
        Err(e) => (
            PeriodQuery::default().period(state.services.now())?,
            Some(e.message),
        ),
    };
    let d = state.services.dashboard(&user.actor(), period).await?;
    let mut page = build(&d, chrome, &q);
    page.error = error;
    ok(&page)
}
