//! `/admin/notificaciones` (Notificaciones): chat channels (Microsoft Teams, Telegram,
//! Slack-compatible, signed webhooks), what each receives, "Enviar prueba", and the latest
//! deliveries. Targets and secrets are never shown back: only "configurado".

use super::{Chrome, redirect_with_flash, render};
use crate::domain::ids::UserId;
use crate::domain::notify::{ChannelKind, NoticeEvent};
use crate::domain::time::format_lima;
use crate::service::notify::{ChannelInput, ChannelView};
use crate::web::AppState;
use crate::web::error::{AppError, PageError};
use crate::web::extract::{Admin, CsrfForm, CurrentUser};
use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;

pub struct ChannelRow {
    pub id: i64,
    pub name: String,
    pub kind: &'static str,
    pub target: String,
    pub events: String,
    pub owner: String,
    pub active: bool,
    pub secret: &'static str,
    pub sent_last_day: i64,
    pub failed: i64,
    pub pending: i64,
}

pub struct DeliveryRow {
    pub channel: String,
    pub event: String,
    pub status: &'static str,
    pub attempts: i64,
    pub error: String,
    pub created: String,
}

pub struct Option2 {
    pub value: String,
    pub label: String,
}

#[derive(Default, Deserialize, Clone)]
pub struct ChannelForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    bot_token: String,
    #[serde(default)]
    chat_id: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    event_new: Option<String>,
    #[serde(default)]
    event_assigned: Option<String>,
    #[serde(default)]
    event_sla_warning: Option<String>,
    #[serde(default)]
    event_sla_breach: Option<String>,
    #[serde(default)]
    owner: String,
}

#[derive(Template)]
#[template(path = "admin/notifications.html")]
pub struct NotificationsPage {
    pub chrome: Chrome,
    pub rows: Vec<ChannelRow>,
    pub deliveries: Vec<DeliveryRow>,
    pub kinds: Vec<Option2>,
    pub technicians: Vec<Option2>,
    pub form: ChannelForm,
    pub error: Option<String>,
    pub key_missing: bool,
}

fn row(c: ChannelView) -> ChannelRow {
    ChannelRow {
        id: c.id,
        name: c.name,
        kind: c.kind.label(),
        target: match (c.kind, c.chat_id) {
            (ChannelKind::Telegram, Some(chat)) => format!("chat {chat}"),
            _ => c.target_hint,
        },
        events: c
            .events
            .iter()
            .map(|e| e.label())
            .collect::<Vec<_>>()
            .join(", "),
        owner: c.owner_name.unwrap_or_else(|| "Todo el equipo".to_string()),
        active: c.active,
        secret: if c.secret_configured {
            "configurado"
        } else {
            "—"
        },
        sent_last_day: c.sent_last_day,
        failed: c.failed,
        pending: c.pending,
    }
}

async fn page(
    state: &AppState,
    admin: &CurrentUser,
    form: ChannelForm,
    error: Option<String>,
    status: axum::http::StatusCode,
) -> Result<Response, PageError> {
    let rows = state
        .services
        .channels(&admin.user)
        .await?
        .into_iter()
        .map(row)
        .collect();
    let deliveries = state
        .services
        .recent_deliveries(&admin.user)
        .await?
        .into_iter()
        .map(|d| DeliveryRow {
            channel: d.channel,
            event: NoticeEvent::parse(&d.event)
                .map(|e| e.label().to_string())
                .unwrap_or_else(|| "Prueba".to_string()),
            status: match d.status.as_str() {
                "sent" => "Enviado",
                "failed" => "Falló",
                "suppressed" => "Omitido (límite diario)",
                _ => "Pendiente",
            },
            attempts: d.attempts,
            error: d.last_error.unwrap_or_default(),
            created: format_lima(d.sent_at.unwrap_or(d.created_at)),
        })
        .collect();
    let technicians = state
        .services
        .active_technicians()
        .await?
        .into_iter()
        .map(|t| Option2 {
            value: t.id.0.to_string(),
            label: t.name,
        })
        .collect();
    let kinds = ChannelKind::ALL
        .into_iter()
        .map(|k| Option2 {
            value: k.as_str().to_string(),
            label: k.label().to_string(),
        })
        .collect();
    render(
        status,
        &NotificationsPage {
            chrome: Chrome::for_user(admin, "notifications"),
            rows,
            deliveries,
            kinds,
            technicians,
            form,
            error,
            key_missing: !state.services.has_secret_key(),
        },
    )
}

pub async fn list(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> Result<Response, PageError> {
    let form = ChannelForm {
        kind: "webhook".into(),
        event_new: Some("1".into()),
        event_assigned: Some("1".into()),
        ..ChannelForm::default()
    };
    page(&state, &admin, form, None, axum::http::StatusCode::OK).await
}

pub async fn create(
    State(state): State<AppState>,
    Admin(admin): Admin,
    CsrfForm { session, form }: CsrfForm<ChannelForm>,
) -> Result<Response, PageError> {
    let mut events = Vec::new();
    for (on, e) in [
        (&form.event_new, NoticeEvent::New),
        (&form.event_assigned, NoticeEvent::Assigned),
        (&form.event_sla_warning, NoticeEvent::SlaWarning),
        (&form.event_sla_breach, NoticeEvent::SlaBreach),
    ] {
        if on.is_some() {
            events.push(e.as_str().to_string());
        }
    }
    let owner = match form.owner.trim() {
        "" => None,
        id => match id.parse::<i64>() {
            Ok(n) => Some(UserId(n)),
            Err(_) => {
                return page(
                    &state,
                    &admin,
                    form.clone(),
                    Some("Elija un técnico de la lista.".into()),
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            }
        },
    };
    let input = ChannelInput {
        kind: form.kind.clone(),
        name: form.name.clone(),
        url: form.url.clone(),
        bot_token: form.bot_token.clone(),
        chat_id: form.chat_id.clone(),
        secret: form.secret.clone(),
        events,
        owner,
    };
    match state.services.channel_create(&admin.user, &input).await {
        Ok(c) => {
            redirect_with_flash(
                &state,
                &session,
                "/admin/notificaciones",
                &format!("Canal «{}» agregado.", c.name),
            )
            .await
        }
        Err(e) => {
            let e = AppError::from(e);
            if e.status.is_server_error() {
                return Err(PageError(e));
            }
            // Secrets typed into the form are not sent back to the browser.
            let form = ChannelForm {
                secret: String::new(),
                bot_token: String::new(),
                ..form
            };
            page(&state, &admin, form, Some(e.message), e.status).await
        }
    }
}

pub async fn test(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<i64>,
    CsrfForm { session, .. }: CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let message = match state.services.channel_test(&admin.user, id).await {
        Ok(m) => m,
        Err(e) => {
            let e = AppError::from(e);
            if e.status == axum::http::StatusCode::NOT_FOUND
                || e.status.is_server_error()
                    && e.status != axum::http::StatusCode::SERVICE_UNAVAILABLE
            {
                return Err(PageError(e));
            }
            e.message
        }
    };
    redirect_with_flash(&state, &session, "/admin/notificaciones", &message).await
}

#[derive(Deserialize)]
pub struct ActiveForm {
    #[serde(default)]
    active: String,
}

pub async fn set_active(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<i64>,
    CsrfForm { session, form }: CsrfForm<ActiveForm>,
) -> Result<Response, PageError> {
    let active = form.active == "1";
    state
        .services
        .channel_set_active(&admin.user, id, active)
        .await?;
    let message = if active {
        "Canal activado."
    } else {
        "Canal desactivado."
    };
    redirect_with_flash(&state, &session, "/admin/notificaciones", message).await
}

pub async fn delete(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<i64>,
    CsrfForm { session, .. }: CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    state.services.channel_delete(&admin.user, id).await?;
    redirect_with_flash(
        &state,
        &session,
        "/admin/notificaciones",
        "Canal eliminado.",
    )
    .await
}
