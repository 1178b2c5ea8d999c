//! Chat notices, derived from the append-only timeline rather than from the ticket write
//! path: the feed (one instance at a time, by lease) reads `ticket_events` after its cursor,
//! turns the kinds it knows (created → new, assigned/reassigned → assigned, sla_warning,
//! sla_breach) into deliveries for every channel that wants them, and writes the deliveries
//! and the advanced cursor in one transaction. The sender delivers them with retries,
//! backoff and a daily limit per channel (the mail outbox's rules, `domain::mail`).
//! Channels are managed by administrators (`/admin/notificaciones`, the JSON API).

use super::connect::{CResult, ConnectError, ProblemKind, describe_http};
use super::{Error, Services};
use crate::domain::ids::UserId;
use crate::domain::mail::{retry_delay, within_daily_limit};
use crate::domain::notify::{
    ChannelKind, MIN_SECRET_CHARS, NoticeEvent, Subscription, TicketNotice, check_telegram,
    check_url, events_from_text, events_to_text, parse_events, signature, slack_body, teams_body,
    telegram_body, wants, webhook_body,
};
use crate::domain::timeline::EventData;
use crate::domain::user::{Role, User};
use crate::storage::notify::{self as store_n, DeliveryRow, FEED, NewChannel};

const TARGET_CONTEXT: &str = "notify_channels.target";
const SECRET_CONTEXT: &str = "notify_channels.secret";
/// Events read per feed step.
const FEED_BATCH: i64 = 500;
const SEND_BATCH: i64 = 50;
const RETRY_BASE_SECS: i64 = 30;

/// A channel as typed in the form or the API.
#[derive(Debug, Clone, Default)]
pub struct ChannelInput {
    pub kind: String,
    pub name: String,
    /// Teams, Slack and generic webhooks.
    pub url: String,
    /// Telegram.
    pub bot_token: String,
    pub chat_id: String,
    /// Generic webhooks' signing secret.
    pub secret: String,
    pub events: Vec<String>,
    /// A technician's own channel.
    pub owner: Option<UserId>,
}

/// A channel as pages and the API show it: no URL of a chat service (they are capability
/// URLs), no token, no secret — only whether one is configured.
#[derive(Debug, Clone)]
pub struct ChannelView {
    pub id: i64,
    pub kind: ChannelKind,
    pub name: String,
    pub target_hint: String,
    pub chat_id: Option<String>,
    pub events: Vec<NoticeEvent>,
    pub owner_id: Option<i64>,
    pub owner_name: Option<String>,
    pub active: bool,
    pub secret_configured: bool,
    pub sent_last_day: i64,
    pub failed: i64,
    pub pending: i64,
    pub created_at: i64,
    /// The generic webhook's URL (its receiver authenticates by the signature).
    pub webhook_url: Option<String>,
}

/// What one sender round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotifyRound {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
    pub suppressed: usize,
}

enum Delivery {
    Sent,
    Temporary(String),
    Permanent(String),
}

fn require_admin(user: &User) -> CResult<()> {
    if user.role == Role::Admin {
        Ok(())
    } else {
        Err(crate::domain::DomainError::NotFound.into())
    }
}

fn invalid(field_code: &'static str, message: impl Into<String>) -> ConnectError {
    ConnectError::invalid(field_code, message)
}

impl Services {
    fn channel_view(&self, r: store_n::ChannelRow) -> Option<ChannelView> {
        let kind = ChannelKind::parse(&r.kind)?;
        let webhook_url = if kind == ChannelKind::Webhook {
            self.unseal(&r.target, TARGET_CONTEXT).ok()
        } else {
            None
        };
        Some(ChannelView {
            id: r.id,
            kind,
            name: r.name,
            target_hint: r.target_hint,
            chat_id: r.chat_id,
            events: events_from_text(&r.events),
            owner_id: r.owner_id,
            owner_name: r.owner_name,
            active: r.active,
            secret_configured: r.secret.is_some(),
            sent_last_day: r.sent_last_day,
            failed: r.failed,
            pending: r.pending,
            created_at: r.created_at,
            webhook_url,
        })
    }

    pub async fn channels(&self, admin: &User) -> CResult<Vec<ChannelView>> {
        require_admin(admin)?;
        let mut conn = self.store.read().await?;
        let rows = store_n::channels(&mut conn, self.now()).await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| self.channel_view(r))
            .collect())
    }

    pub async fn channel(&self, admin: &User, id: i64) -> CResult<ChannelView> {
        require_admin(admin)?;
        let mut conn = self.store.read().await?;
        store_n::channel(&mut conn, id, self.now())
            .await?
            .and_then(|r| self.channel_view(r))
            .ok_or_else(|| crate::domain::DomainError::NotFound.into())
    }

    /// Adds a channel after checking every field; nothing is stored when one is wrong.
    pub async fn channel_create(&self, admin: &User, input: &ChannelInput) -> CResult<ChannelView> {
        require_admin(admin)?;
        let kind = ChannelKind::parse(&input.kind).ok_or_else(|| {
            invalid(
                "kind",
                "Elija el tipo de canal: teams, telegram, slack o webhook.",
            )
        })?;
        let events = parse_events(&input.events).map_err(|m| invalid("events", m))?;
        let name = input.name.trim();
        let name = if name.is_empty() {
            kind.label().to_string()
        } else {
            name.to_string()
        };
        if name.chars().count() > 80 || name.chars().any(char::is_control) {
            return Err(invalid(
                "name",
                "El nombre del canal: como máximo 80 caracteres.",
            ));
        }
        let (target, hint, chat_id, secret) = match kind {
            ChannelKind::Telegram => {
                check_telegram(&input.bot_token, &input.chat_id)
                    .map_err(|m| invalid("bot_token", m))?;
                (
                    input.bot_token.trim().to_string(),
                    "Bot de Telegram".to_string(),
                    Some(input.chat_id.trim().to_string()),
                    None,
                )
            }
            _ => {
                let url = check_url(&input.url).map_err(|m| invalid("url", m))?;
                let secret = match kind {
                    ChannelKind::Webhook => {
                        let s = input.secret.trim();
                        if s.chars().count() < MIN_SECRET_CHARS {
                            return Err(invalid(
                                "secret",
                                format!(
                                    "El secreto del webhook debe tener al menos {MIN_SECRET_CHARS} caracteres."
                                ),
                            ));
                        }
                        if s.len() > 200 {
                            return Err(invalid(
                                "secret",
                                "El secreto del webhook es demasiado largo.",
                            ));
                        }
                        Some(s.to_string())
                    }
                    _ => None,
                };
                (
                    url.to_string(),
                    url.host_str().unwrap_or("").to_string(),
                    None,
                    secret,
                )
            }
        };
        if let Some(owner) = input.owner {
            let u = self
                .user(owner)
                .await
                .map_err(|_| invalid("owner", "Ese técnico no existe."))?;
            if u.role != Role::Technician {
                return Err(invalid(
                    "owner",
                    "Solo un técnico puede tener un canal propio.",
                ));
            }
        }
        let sealed_target = self.seal(&target, TARGET_CONTEXT)?;
        let sealed_secret = secret
            .as_deref()
            .map(|s| self.seal(s, SECRET_CONTEXT))
            .transpose()?;
        let mut tx = self.store.begin_write().await?;
        let id = store_n::insert_channel(
            &mut tx,
            &NewChannel {
                kind: kind.as_str(),
                name: &name,
                target: &sealed_target,
                target_hint: &hint,
                chat_id: chat_id.as_deref(),
                secret: sealed_secret.as_deref(),
                events: &events_to_text(&events),
                owner_id: input.owner.map(|o| o.0),
                created_by: Some(admin.id.0),
                created_at: self.now(),
            },
        )
        .await?;
        tx.commit().await?;
        tracing::info!(
            by = admin.id.0,
            channel = id,
            kind = kind.as_str(),
            "chat channel added"
        );
        self.channel(admin, id).await
    }

    pub async fn channel_delete(&self, admin: &User, id: i64) -> CResult<()> {
        require_admin(admin)?;
        let mut tx = self.store.begin_write().await?;
        if !store_n::delete_channel(&mut tx, id).await? {
            return Err(crate::domain::DomainError::NotFound.into());
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn channel_set_active(&self, admin: &User, id: i64, active: bool) -> CResult<()> {
        require_admin(admin)?;
        let mut tx = self.store.begin_write().await?;
        if !store_n::set_channel_active(&mut tx, id, active).await? {
            return Err(crate::domain::DomainError::NotFound.into());
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn recent_deliveries(&self, admin: &User) -> CResult<Vec<DeliveryRow>> {
        require_admin(admin)?;
        let mut conn = self.store.read().await?;
        Ok(store_n::recent(&mut conn, 30).await?)
    }

    /// "Enviar prueba": sends a sample notice now and says what happened.
    pub async fn channel_test(&self, admin: &User, id: i64) -> CResult<String> {
        require_admin(admin)?;
        let row = {
            let mut conn = self.store.read().await?;
            store_n::channel(&mut conn, id, self.now())
                .await?
                .ok_or(crate::domain::DomainError::NotFound)?
        };
        let event = events_from_text(&row.events)
            .first()
            .copied()
            .unwrap_or(NoticeEvent::New);
        let notice = TicketNotice {
            event,
            event_id: None,
            ticket_id: 0,
            number: "INC-000000".to_string(),
            subject: "Prueba de notificación de la mesa de ayuda".to_string(),
            status: "nuevo".to_string(),
            requester: admin.email.clone(),
            assignee: Some((admin.id, admin.name.clone())),
            at: self.now(),
            url: format!("{}/", self.public_url()),
        };
        let payload = serde_json::to_string(&notice)
            .map_err(|e| Error::Internal(format!("failed to write a notice: {e}")))?;
        let outcome = self
            .deliver(
                &row.kind,
                &row.target,
                row.chat_id.as_deref(),
                row.secret.as_deref(),
                &notice,
                0,
            )
            .await?;
        let (ok, error) = match &outcome {
            Delivery::Sent => (true, None),
            Delivery::Temporary(m) | Delivery::Permanent(m) => (false, Some(m.clone())),
        };
        {
            let mut tx = self.store.begin_write().await?;
            store_n::record_test(&mut tx, id, &payload, ok, error.as_deref(), self.now()).await?;
            tx.commit().await?;
        }
        match outcome {
            Delivery::Sent => Ok(format!("Prueba enviada a «{}».", row.name)),
            Delivery::Temporary(m) | Delivery::Permanent(m) => Err(ConnectError::new(
                ProblemKind::Unavailable,
                "delivery_failed",
                format!("La prueba a «{}» no llegó: {m}", row.name),
            )),
        }
    }

    /// One feed step: turns the timeline's new events into deliveries, and moves the cursor
    /// with them, in one transaction. Returns how many events were read.
    ///
    /// Everything is read and built first, on a reading connection; the write transaction
    /// only adds the deliveries and moves the cursor (on SQLite it holds the file's one write
    /// lock, which the ticket writer waits for). With no active channel the new events are
    /// skipped in one step, unread: channels never receive history.
    pub async fn notify_feed_once(&self) -> Result<usize, Error> {
        let backend = self.store.backend();
        let (cursor, subs, events) = {
            let mut conn = self.store.read().await?;
            let Some(cursor) = store_n::cursor(&mut conn, FEED).await? else {
                drop(conn);
                let mut tx = self.store.begin_write().await?;
                if store_n::cursor(&mut tx, FEED).await?.is_none() {
                    let start = store_n::cursor_now(&mut tx, backend).await?;
                    store_n::put_cursor(&mut tx, FEED, start).await?;
                    tx.commit().await?;
                }
                return Ok(0);
            };
            let subs: Vec<Subscription> = store_n::subscriptions(&mut conn)
                .await?
                .into_iter()
                .map(|(id, events, owner, active)| Subscription {
                    channel_id: id,
                    events: events_from_text(&events),
                    owner: owner.map(UserId),
                    active,
                })
                .collect();
            if !subs.iter().any(|s| s.active) {
                let newest = store_n::cursor_now(&mut conn, backend).await?;
                drop(conn);
                if (newest.tx_id, newest.event_id) <= (cursor.tx_id, cursor.event_id) {
                    return Ok(0);
                }
                let mut tx = self.store.begin_write().await?;
                // A channel made meanwhile hears from the events after it, like any new one.
                if store_n::move_cursor(&mut tx, FEED, cursor, newest).await? {
                    tx.commit().await?;
                }
                return Ok(0);
            }
            let events = store_n::events_after(&mut conn, backend, cursor, FEED_BATCH).await?;
            (cursor, subs, events)
        };
        let Some(last) = events.last().map(|e| e.at) else {
            return Ok(0);
        };
        let now = self.now();
        // (channel, event id, kind, payload) for each delivery.
        let mut deliveries: Vec<(i64, i64, NoticeEvent, std::sync::Arc<str>)> = Vec::new();
        for e in &events {
            let Some(kind) = NoticeEvent::from_event_kind(&e.kind) else {
                continue;
            };
            let data: EventData = serde_json::from_str(&e.data).unwrap_or_default();
            let assignee = match (data.to_assignee, data.to_assignee_name) {
                (Some(id), Some(name)) => Some((id, name)),
                (Some(id), None) => Some((id, String::new())),
                _ => None,
            };
            let notice = TicketNotice {
                event: kind,
                event_id: Some(e.at.event_id),
                ticket_id: e.ticket_id,
                number: crate::domain::ids::TicketNumber(crate::domain::ids::TicketId(e.ticket_id))
                    .to_string(),
                subject: e.subject.chars().take(300).collect(),
                status: e.status.clone(),
                requester: e.requester.clone(),
                assignee,
                at: e.when,
                url: format!("{}/tickets/{}", self.public_url(), e.ticket_id),
            };
            let mut payload: Option<std::sync::Arc<str>> = None;
            for sub in subs.iter().filter(|s| wants(s, &notice)) {
                let p = match &payload {
                    Some(p) => p.clone(),
                    None => payload
                        .insert(
                            serde_json::to_string(&notice)
                                .map_err(|e| {
                                    Error::Internal(format!("failed to write a notice: {e}"))
                                })?
                                .into(),
                        )
                        .clone(),
                };
                deliveries.push((sub.channel_id, e.at.event_id, kind, p));
            }
        }
        let mut tx = self.store.begin_write().await?;
        // Another feeder went first (the lease makes that rare): this step's work is theirs.
        if !store_n::move_cursor(&mut tx, FEED, cursor, last).await? {
            return Ok(0);
        }
        // A channel switched off or removed since the read gets nothing.
        let active: std::collections::HashSet<i64> = store_n::subscriptions(&mut tx)
            .await?
            .into_iter()
            .filter(|(.., active)| *active)
            .map(|(id, ..)| id)
            .collect();
        for (channel, event_id, kind, payload) in &deliveries {
            if active.contains(channel) {
                store_n::enqueue(
                    &mut tx,
                    *channel,
                    Some(*event_id),
                    kind.as_str(),
                    payload,
                    now,
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(events.len())
    }

    /// Sends what is due, once.
    pub async fn notify_send_due(&self) -> Result<NotifyRound, Error> {
        let mut round = NotifyRound::default();
        let due = {
            let mut conn = self.store.read().await?;
            store_n::due(&mut conn, self.now(), SEND_BATCH).await?
        };
        for d in due {
            let now = self.now();
            let sent_today = {
                let mut conn = self.store.read().await?;
                store_n::sent_since(&mut conn, d.channel_id, now - 86_400).await?
            };
            if !within_daily_limit(sent_today, self.connect.notify_daily_limit) {
                let mut conn = self.store.read().await?;
                store_n::mark_final(
                    &mut conn,
                    d.id,
                    "suppressed",
                    &format!(
                        "Límite diario alcanzado: {sent_today} avisos a este canal en 24 horas."
                    ),
                )
                .await?;
                round.suppressed += 1;
                continue;
            }
            let notice: TicketNotice = match serde_json::from_str(&d.payload) {
                Ok(n) => n,
                Err(_) => {
                    let mut conn = self.store.read().await?;
                    store_n::mark_final(&mut conn, d.id, "failed", "Aviso ilegible.").await?;
                    round.failed += 1;
                    continue;
                }
            };
            let outcome = match self
                .deliver(
                    &d.kind,
                    &d.target,
                    d.chat_id.as_deref(),
                    d.secret.as_deref(),
                    &notice,
                    d.id,
                )
                .await
            {
                Ok(o) => o,
                Err(ConnectError::Problem(p)) => Delivery::Permanent(p.message),
                Err(ConnectError::Service(e)) => return Err(e),
            };
            let mut conn = self.store.read().await?;
            match outcome {
                Delivery::Sent => {
                    store_n::mark_sent(&mut conn, d.id, self.now()).await?;
                    round.sent += 1;
                }
                Delivery::Permanent(m) => {
                    tracing::warn!(delivery = d.id, channel = d.channel_id, error = %m, "chat notice refused");
                    store_n::mark_final(&mut conn, d.id, "failed", &m).await?;
                    round.failed += 1;
                }
                Delivery::Temporary(m) => {
                    let next = now + retry_delay(d.attempts + 1, RETRY_BASE_SECS);
                    tracing::warn!(delivery = d.id, channel = d.channel_id, error = %m, "chat notice will be retried");
                    store_n::mark_retry(&mut conn, d.id, next, &m).await?;
                    round.retried += 1;
                }
            }
        }
        Ok(round)
    }

    /// Posts one notice to one channel.
    async fn deliver(
        &self,
        kind: &str,
        sealed_target: &str,
        chat_id: Option<&str>,
        sealed_secret: Option<&str>,
        notice: &TicketNotice,
        delivery_id: i64,
    ) -> CResult<Delivery> {
        let kind = ChannelKind::parse(kind)
            .ok_or_else(|| invalid("kind", "Tipo de canal desconocido."))?;
        let target = self.unseal(sealed_target, TARGET_CONTEXT)?;
        let (url, body) = match kind {
            ChannelKind::Teams => (target, teams_body(notice)),
            ChannelKind::Slack => (target, slack_body(notice)),
            ChannelKind::Webhook => (target, webhook_body(notice)),
            ChannelKind::Telegram => (
                format!(
                    "{}/bot{}/sendMessage",
                    self.connect.telegram_api_url, target
                ),
                telegram_body(chat_id.unwrap_or(""), notice),
            ),
        };
        let body = serde_json::to_vec(&body)
            .map_err(|e| Error::Internal(format!("failed to write a notice: {e}")))?;
        let mut request = self
            .http()
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if kind == ChannelKind::Webhook {
            let secret = match sealed_secret {
                Some(s) => self.unseal(s, SECRET_CONTEXT)?,
                None => String::new(),
            };
            request = request
                .header("X-Soporte-Signature", signature(&secret, self.now(), &body))
                .header("X-Soporte-Event", notice.event.as_str())
                .header("X-Soporte-Delivery", delivery_id.to_string());
        }
        let response = match request.body(body).send().await {
            Ok(r) => r,
            // Never the error's own text: it names the URL, which is a secret for chat services.
            Err(e) => {
                return Ok(Delivery::Temporary(format!(
                    "el destino {}.",
                    describe_http(&e)
                )));
            }
        };
        let status = response.status();
        if status.is_success() {
            if kind == ChannelKind::Telegram {
                let answer: serde_json::Value = response.json().await.unwrap_or_default();
                if answer.get("ok").and_then(|v| v.as_bool()) != Some(true) {
                    return Ok(Delivery::Permanent(
                        "Telegram no aceptó el mensaje (revise el chat y el token).".to_string(),
                    ));
                }
            }
            return Ok(Delivery::Sent);
        }
        let code = status.as_u16();
        let message = format!(
            "el destino respondió {} {}.",
            code,
            status.canonical_reason().unwrap_or("")
        );
        Ok(if code == 408 || code == 429 || status.is_server_error() {
            Delivery::Temporary(message)
        } else {
            Delivery::Permanent(message)
        })
    }
}
