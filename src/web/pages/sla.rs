//! Categorías, Calendario and SLA: the administrator's service-level sections. Every handler
//! takes `Admin`; every form carries the CSRF token. A bad value re-renders the form with what
//! was typed and a Spanish message (422) and changes nothing; a saved calendar or policy
//! recomputes the open tickets' clocks before the answer.

use super::{Chrome, ok, redirect_with_flash, render};
use crate::domain::classification::{Category, Priority};
use crate::domain::sla::{self, Hours, Target, WEEKDAYS, format_clock, parse_clock};
use crate::web::AppState;
use crate::web::error::{AppError, PageError};
use crate::web::extract::{Admin, CategoryPath, CsrfForm, CurrentUser};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use std::collections::HashMap;

fn moved(n: usize) -> String {
    match n {
        0 => "ninguna incidencia abierta cambió de vencimiento".to_string(),
        1 => "1 incidencia abierta cambió de vencimiento".to_string(),
        n => format!("{n} incidencias abiertas cambiaron de vencimiento"),
    }
}

// Categorías.

#[derive(Template)]
#[template(path = "admin/categories.html")]
pub struct CategoriesPage {
    pub chrome: Chrome,
    pub rows: Vec<Category>,
    pub name: String,
    pub error: Option<String>,
}

async fn categories_page(
    state: &AppState,
    admin: &CurrentUser,
    name: String,
    error: Option<String>,
) -> Result<CategoriesPage, PageError> {
    Ok(CategoriesPage {
        chrome: Chrome::for_user(admin, "categories"),
        rows: state.services.categories().await?,
        name,
        error,
    })
}

pub async fn categories(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> Result<Response, PageError> {
    ok(&categories_page(&state, &admin, String::new(), None).await?)
}

#[derive(Default, Deserialize)]
pub struct NameForm {
    #[serde(default)]
    name: String,
}

pub async fn category_create(
    State(state): State<AppState>,
    Admin(admin): Admin,
    CsrfForm { session, form }: CsrfForm<NameForm>,
) -> Result<Response, PageError> {
    match state
        .services
        .create_category(&admin.actor(), &form.name)
        .await
        .map_err(AppError::from)
    {
        Ok(c) => {
            redirect_with_flash(
                &state,
                &session,
                "/admin/categories",
                &format!("Categoría «{}» creada.", c.name),
            )
            .await
        }
        Err(e) if e.status.is_client_error() => {
            let page = categories_page(&state, &admin, form.name, Some(e.message.clone())).await?;
            render(e.status, &page)
        }
        Err(e) => Err(PageError(e)),
    }
}

pub async fn category_rename(
    State(state): State<AppState>,
    Admin(admin): Admin,
    CategoryPath(id): CategoryPath,
    CsrfForm { session, form }: CsrfForm<NameForm>,
) -> Result<Response, PageError> {
    match state
        .services
        .rename_category(&admin.actor(), id, &form.name)
        .await
        .map_err(AppError::from)
    {
        Ok(c) => {
            redirect_with_flash(
                &state,
                &session,
                "/admin/categories",
                &format!("Categoría renombrada: «{}».", c.name),
            )
            .await
        }
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(PageError(e)),
        Err(e) if e.status.is_client_error() => {
            let page =
                categories_page(&state, &admin, String::new(), Some(e.message.clone())).await?;
            render(e.status, &page)
        }
        Err(e) => Err(PageError(e)),
    }
}

#[derive(Deserialize)]
pub struct ActiveForm {
    #[serde(default)]
    active: String,
}

pub async fn category_active(
    State(state): State<AppState>,
    Admin(admin): Admin,
    CategoryPath(id): CategoryPath,
    CsrfForm { session, form }: CsrfForm<ActiveForm>,
) -> Result<Response, PageError> {
    let active = form.active == "1" || form.active == "true";
    let c = state
        .services
        .set_category_active(&admin.actor(), id, active)
        .await?;
    let message = if active {
        format!("Categoría «{}» habilitada.", c.name)
    } else {
        format!(
            "Categoría «{}» deshabilitada: ya no se ofrece al clasificar; las incidencias que la tienen la conservan.",
            c.name
        )
    };
    redirect_with_flash(&state, &session, "/admin/categories", &message).await
}

// Calendario.

/// One weekday of the hours form, as shown or as typed.
pub struct DayRow {
    pub weekday: u8,
    pub name: &'static str,
    pub on: bool,
    pub from: String,
    pub to: String,
}

pub struct HolidayRow {
    pub date: String,
    pub shown: String,
    pub weekday: &'static str,
    pub name: String,
}

#[derive(Template)]
#[template(path = "admin/calendar.html")]
pub struct CalendarPage {
    pub chrome: Chrome,
    pub days: Vec<DayRow>,
    pub holidays: Vec<HolidayRow>,
    pub new_date: String,
    pub new_name: String,
    pub hours_error: Option<String>,
    pub holiday_error: Option<String>,
}

async fn calendar_page(
    state: &AppState,
    admin: &CurrentUser,
    typed: Option<Vec<DayRow>>,
) -> Result<CalendarPage, PageError> {
    let settings = state.services.sla_settings().await?;
    let cal = &settings.calendar;
    let hours = cal.hours();
    let days = typed.unwrap_or_else(|| {
        (1..=7u8)
            .map(|weekday| {
                let h = hours.iter().find(|h| h.weekday == weekday);
                DayRow {
                    weekday,
                    name: WEEKDAYS[usize::from(weekday) - 1],
                    on: h.is_some(),
                    from: format_clock(h.map_or(8 * 60, |h| h.from)),
                    to: format_clock(h.map_or(18 * 60, |h| h.to)),
                }
            })
            .collect()
    });
    let holidays = cal
        .holidays()
        .iter()
        .map(|h| HolidayRow {
            date: h.date.to_string(),
            shown: h.date.strftime("%d/%m/%Y").to_string(),
            weekday: WEEKDAYS[usize::from(sla::weekday(sla::day_number(h.date))) - 1],
            name: h.name.clone(),
        })
        .collect();
    Ok(CalendarPage {
        chrome: Chrome::for_user(admin, "calendar"),
        days,
        holidays,
        new_date: String::new(),
        new_name: String::new(),
        hours_error: None,
        holiday_error: None,
    })
}

pub async fn calendar(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> Result<Response, PageError> {
    ok(&calendar_page(&state, &admin, None).await?)
}

/// The hours form: `on_N` (a checked box), `from_N` and `to_N` for N = 1 (Monday) … 7.
fn typed_days(form: &HashMap<String, String>) -> Vec<DayRow> {
    (1..=7u8)
        .map(|weekday| {
            let field = |name: &str| {
                form.get(&format!("{name}_{weekday}"))
                    .map(|v| v.trim().to_string())
                    .unwrap_or_default()
            };
            DayRow {
                weekday,
                name: WEEKDAYS[usize::from(weekday) - 1],
                on: !field("on").is_empty(),
                from: field("from"),
                to: field("to"),
            }
        })
        .collect()
}

fn parse_days(days: &[DayRow]) -> Result<Vec<Hours>, AppError> {
    let mut out = Vec::new();
    for d in days.iter().filter(|d| d.on) {
        let with_day = |e: crate::domain::DomainError| {
            AppError::from(crate::domain::DomainError::validation(
                "hours",
                format!(
                    "{} ({}).",
                    e.message().trim_end_matches('.'),
                    d.name.to_lowercase()
                ),
            ))
        };
        out.push(Hours {
            weekday: d.weekday,
            from: parse_clock(&d.from).map_err(with_day)?,
            to: parse_clock(&d.to).map_err(with_day)?,
        });
    }
    Ok(out)
}

pub async fn calendar_hours(
    State(state): State<AppState>,
    Admin(admin): Admin,
    CsrfForm { session, form }: CsrfForm<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let days = typed_days(&form);
    let saved = match parse_days(&days) {
        Ok(hours) => state
            .services
            .save_hours(&admin.actor(), hours)
            .await
            .map_err(AppError::from),
        Err(e) => Err(e),
    };
    match saved {
        Ok(n) => {
            redirect_with_flash(
                &state,
                &session,
                "/admin/calendar",
                &format!("Horario guardado; {}.", moved(n)),
            )
            .await
        }
        Err(e) if e.status.is_client_error() => {
            let mut page = calendar_page(&state, &admin, Some(days)).await?;
            page.hours_error = Some(e.message.clone());
            render(e.status, &page)
        }
        Err(e) => Err(PageError(e)),
    }
}

#[derive(Default, Deserialize)]
pub struct HolidayForm {
    #[serde(default)]
    date: String,
    #[serde(default)]
    name: String,
}

pub async fn holiday_add(
    State(state): State<AppState>,
    Admin(admin): Admin,
    CsrfForm { session, form }: CsrfForm<HolidayForm>,
) -> Result<Response, PageError> {
    match state
        .services
        .add_holiday(&admin.actor(), &form.date, &form.name)
        .await
        .map_err(AppError::from)
    {
        Ok(n) => {
            redirect_with_flash(
                &state,
                &session,
                "/admin/calendar",
                &format!("Feriado agregado; {}.", moved(n)),
            )
            .await
        }
        Err(e) if e.status.is_client_error() => {
            let mut page = calendar_page(&state, &admin, None).await?;
            page.new_date = form.date;
            page.new_name = form.name;
            page.holiday_error = Some(e.message.clone());
            render(e.status, &page)
        }
        Err(e) => Err(PageError(e)),
    }
}

pub async fn holiday_remove(
    State(state): State<AppState>,
    Admin(admin): Admin,
    CsrfForm { session, form }: CsrfForm<HolidayForm>,
) -> Result<Response, PageError> {
    match state
        .services
        .remove_holiday(&admin.actor(), &form.date)
        .await
        .map_err(AppError::from)
    {
        Ok(n) => {
            redirect_with_flash(
                &state,
                &session,
                "/admin/calendar",
                &format!("Feriado quitado; {}.", moved(n)),
            )
            .await
        }
        Err(e) if e.status.is_client_error() => {
            let mut page = calendar_page(&state, &admin, None).await?;
            page.holiday_error = Some(e.message.clone());
            render(e.status, &page)
        }
        Err(e) => Err(PageError(e)),
    }
}

// SLA.

pub struct PolicyRow {
    pub priority: &'static str,
    pub label: &'static str,
    /// By `Target::index`: the field name and its value.
    pub cells: Vec<(String, String, &'static str)>,
}

#[derive(Template)]
#[template(path = "admin/sla.html")]
pub struct PoliciesPage {
    pub chrome: Chrome,
    pub rows: Vec<PolicyRow>,
    pub error: Option<String>,
}

fn field(p: Priority, t: Target) -> String {
    format!("{}_{}", p.as_str(), t.as_str())
}

async fn policies_page(
    state: &AppState,
    admin: &CurrentUser,
    typed: Option<&HashMap<String, String>>,
    error: Option<String>,
) -> Result<PoliciesPage, PageError> {
    let settings = state.services.sla_settings().await?;
    let rows = Priority::ALL
        .iter()
        .map(|p| {
            let targets = settings.targets(*p);
            PolicyRow {
                priority: p.as_str(),
                label: p.label(),
                cells: Target::ALL
                    .iter()
                    .map(|t| {
                        let name = field(*p, *t);
                        let value = typed
                            .and_then(|f| f.get(&name).cloned())
                            .unwrap_or_else(|| targets[t.index()].to_string());
                        (name, value, t.label())
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(PoliciesPage {
        chrome: Chrome::for_user(admin, "sla"),
        rows,
        error,
    })
}

pub async fn policies(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> Result<Response, PageError> {
    ok(&policies_page(&state, &admin, None, None).await?)
}

pub async fn policies_save(
    State(state): State<AppState>,
    Admin(admin): Admin,
    CsrfForm { session, form }: CsrfForm<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let parsed: Result<Vec<(Priority, sla::Targets)>, AppError> = Priority::ALL
        .iter()
        .map(|p| {
            let mut t = [0; 3];
            for target in Target::ALL {
                let raw = form
                    .get(&field(*p, target))
                    .map(String::as_str)
                    .unwrap_or("");
                let what = format!("{}, {}", p.label(), target.label().to_lowercase());
                t[target.index()] = sla::parse_target(raw, &what)?;
            }
            Ok((*p, t))
        })
        .collect();
    let saved = match parsed {
        Ok(policies) => state
            .services
            .save_policies(&admin.actor(), policies)
            .await
            .map_err(AppError::from),
        Err(e) => Err(e),
    };
    match saved {
        Ok(n) => {
            redirect_with_flash(
                &state,
                &session,
                "/admin/sla",
                &format!("Objetivos guardados; {}.", moved(n)),
            )
            .await
        }
        Err(e) if e.status.is_client_error() => {
            let page = policies_page(&state, &admin, Some(&form), Some(e.message.clone())).await?;
            render(e.status, &page)
        }
        Err(e) => Err(PageError(e)),
    }
}

// The dashboard's section.

/// One row of a met/missed table: a name and, per target, "N de M (X %)".
pub struct ShareRow {
    pub name: String,
    pub cells: Vec<ShareCell>,
}

pub struct ShareCell {
    pub label: &'static str,
    pub text: String,
    /// `sla-ok` (≥ 90 %), `sla-warn` (≥ 70 %), `sla-late` below; `sla-paused` with nothing.
    pub class: &'static str,
}

pub struct BreachedView {
    pub id: i64,
    pub number: String,
    pub subject: String,
    pub priority: &'static str,
    pub priority_label: &'static str,
    pub assignee: String,
    pub at: String,
}

/// What the dashboard shows about service levels.
pub struct DashboardSla {
    pub overall: Vec<ShareRow>,
    /// By priority, category and technician: a title, the first column's name, the rows.
    pub groups: Vec<(&'static str, &'static str, Vec<ShareRow>)>,
    pub breached: Vec<BreachedView>,
    pub breached_more: bool,
}

fn cell(label: &'static str, t: &sla::Tally) -> ShareCell {
    match t.pct_met() {
        None => ShareCell {
            label,
            text: "—".to_string(),
            class: "sla-paused",
        },
        Some(pct) => ShareCell {
            label,
            text: format!(
                "{} de {} ({} %)",
                t.met,
                t.met + t.breached,
                format!("{pct:.1}").replace('.', ",")
            ),
            class: if pct >= 90.0 {
                "sla-ok"
            } else if pct >= 70.0 {
                "sla-warn"
            } else {
                "sla-late"
            },
        },
    }
}

fn share_row(name: String, t: &[sla::Tally; 3]) -> ShareRow {
    ShareRow {
        name,
        cells: Target::ALL
            .iter()
            .map(|x| cell(x.label(), &t[x.index()]))
            .collect(),
    }
}

pub fn dashboard_section(r: &crate::service::sla::SlaReport) -> DashboardSla {
    DashboardSla {
        overall: Target::ALL
            .iter()
            .map(|x| {
                let t = &r.overall[x.index()];
                ShareRow {
                    name: x.label().to_string(),
                    cells: vec![
                        ShareCell {
                            label: "Cumplidos",
                            text: t.met.to_string(),
                            class: "",
                        },
                        ShareCell {
                            label: "Incumplidos",
                            text: t.breached.to_string(),
                            class: "",
                        },
                        cell("Cumplimiento", t),
                    ],
                }
            })
            .collect(),
        groups: vec![
            (
                "Por prioridad",
                "Prioridad",
                r.by_priority
                    .iter()
                    .map(|(p, t)| share_row(p.label().to_string(), t))
                    .collect(),
            ),
            (
                "Por categoría",
                "Categoría",
                r.by_category
                    .iter()
                    .map(|(n, t)| share_row(n.clone(), t))
                    .collect(),
            ),
            (
                "Por técnico",
                "Técnico",
                r.by_technician
                    .iter()
                    .map(|(_, n, t)| share_row(n.clone(), t))
                    .collect(),
            ),
        ],
        breached: r
            .breached
            .iter()
            .map(|t| BreachedView {
                id: t.id.0,
                number: crate::domain::ids::TicketNumber(t.id).to_string(),
                subject: t.subject.clone(),
                priority: t.priority.as_str(),
                priority_label: t.priority.label(),
                assignee: t
                    .assignee_name
                    .clone()
                    .unwrap_or_else(|| "Sin asignar".to_string()),
                at: crate::domain::time::format_lima(t.at),
            })
            .collect(),
        breached_more: r.breached_more,
    }
}
