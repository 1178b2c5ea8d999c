//! `POST /api/v1/admin/webhooks` `{"url", "secret", "events"}` (an administrator's token or
//! session): a generic webhook whose deliveries are signed `X-Soporte-Signature:
//! t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` (docs/API.md). The secret is never
//! sent back: the answer says `"secret_configured": true`. Also `GET` (the list) and
//! `DELETE /api/v1/admin/webhooks/{id}`.

use crate::domain::time::format_rfc3339;
use crate::service::notify::{ChannelInput, ChannelView};
use crate::web::AppState;
use crate::web::error::ApiError;
use crate::web::extract::{Admin, ApiJson};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
pub struct NewWebhook {
    url: String,
    secret: String,
    events: Vec<String>,
    #[serde(default)]
    name: Option<String>,
}

fn view(c: &ChannelView) -> Value {
    json!({
        "id": c.id,
        "kind": c.kind.as_str(),
        "name": c.name,
        "url": c.webhook_url,
        "events": c.events.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        "active": c.active,
        "secret_configured": c.secret_configured,
        "created_at": format_rfc3339(c.created_at),
    })
}

pub async fn create(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiJson(body): ApiJson<NewWebhook>,
) -> Result<Response, ApiError> {
    let input = ChannelInput {
        kind: "webhook".to_string(),
        name: body.name.unwrap_or_default(),
        url: body.url,
        secret: body.secret,
        events: body.events,
        ..ChannelInput::default()
    };
    let c = state.services.channel_create(&admin.user, &input).await?;
    Ok((StatusCode::CREATED, axum::Json(view(&c))).into_response())
}

pub async fn list(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> Result<Response, ApiError> {
    let items: Vec<Value> = state
        .services
        .channels(&admin.user)
        .await?
        .iter()
        .filter(|c| c.kind == crate::domain::notify::ChannelKind::Webhook)
        .map(view)
        .collect();
    Ok(axum::Json(json!({"items": items, "next_cursor": null})).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let c = state.services.channel(&admin.user, id).await?;
    if c.kind != crate::domain::notify::ChannelKind::Webhook {
        return Err(crate::domain::DomainError::NotFound.into());
    }
    state.services.channel_delete(&admin.user, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The webhook endpoints in the OpenAPI document.
pub fn describe(spec: &mut Value) {
    let webhook = json!({"type": "object", "required": ["id", "kind", "url", "events", "active", "secret_configured"],
        "properties": {"id": {"type": "integer"}, "kind": {"type": "string", "enum": ["webhook"]}, "name": {"type": "string"},
            "url": {"type": "string", "format": "uri"}, "events": {"type": "array", "items": {"type": "string", "enum": ["new", "assigned", "sla_warning", "sla_breach"]}},
            "active": {"type": "boolean"}, "secret_configured": {"type": "boolean", "description": "el secreto nunca se devuelve"},
            "created_at": {"type": "string", "format": "date-time"}}});
    let error = json!({"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    if let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) {
        paths.insert("/api/v1/admin/webhooks".into(), json!({
            "post": {"summary": "Crear un webhook firmado (administrador). Cada envío es un POST JSON con X-Soporte-Signature: t=<unix>,v1=<hex HMAC-SHA256(secreto, \"<t>.<cuerpo>\")>.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["url", "secret", "events"], "properties": {
                    "url": {"type": "string", "format": "uri", "description": "https:// (http:// solo hacia 127.0.0.1)"},
                    "secret": {"type": "string", "minLength": 16, "writeOnly": true},
                    "events": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": ["new", "assigned", "sla_warning", "sla_breach"]}},
                    "name": {"type": "string", "maxLength": 80}}}}}},
                "responses": {"201": {"description": "Creado", "content": {"application/json": {"schema": webhook.clone()}}}, "401": error.clone(), "403": error.clone(), "409": error.clone(), "422": error.clone()}},
            "get": {"summary": "Webhooks (administrador)", "responses": {"200": {"description": "Lista", "content": {"application/json": {"schema": {"type": "object", "properties": {"items": {"type": "array", "items": webhook}, "next_cursor": {"type": "null"}}}}}}, "401": error.clone(), "403": error.clone()}}
        }));
        paths.insert("/api/v1/admin/webhooks/{id}".into(), json!({
            "delete": {"summary": "Eliminar un webhook (administrador)", "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "responses": {"204": {"description": "Eliminado"}, "401": error.clone(), "403": error.clone(), "404": error}}
        }));
    }
}
