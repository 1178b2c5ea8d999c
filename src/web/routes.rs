//! The whole route table, grouped by the guard that protects each route. The guard itself is
//! the extractor in the handler's signature (`CurrentUser`, `Staff`, `Admin`, `CsrfForm`).

use super::middleware::{authenticate, noindex, request_log, same_origin, security_headers};
use super::upload::UploadLimits;
use super::{AppState, api, events, intake, metrics, pages};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};

pub fn router(state: AppState) -> Router {
    // Public: sign-in pages, health, static files, intake and metrics (own credential or
    // loopback), API description.
    let public = Router::new()
        .route(
            "/login",
            get(pages::auth::login_page).post(pages::auth::login_submit),
        )
        .route(
            "/login/{role}",
            get(pages::auth::login_role_page).post(pages::auth::login_role_submit),
        )
        .route(
            "/logout",
            get(pages::auth::logout).post(pages::auth::logout_submit),
        )
        .route("/login/oidc", get(pages::sso::start))
        .route("/login/oidc/callback", get(pages::sso::callback))
        .route(
            "/login/2fa",
            get(pages::twofactor::challenge_page).post(pages::twofactor::challenge_submit),
        )
        .route("/healthz", get(pages::health))
        .route("/metrics", get(metrics::metrics))
        .route("/static/app.css", get(pages::stylesheet))
        .route("/static/app.js", get(pages::script))
        .route("/intake/email", post(intake::email))
        .route("/api/openapi.json", get(api::openapi::document));

    // Forms that carry files (the reply, the note, the requester's message) take bodies
    // above --max-body-bytes: the files' own limits are checked as the body streams in.
    let uploads = DefaultBodyLimit::max(UploadLimits::of(&state.config).body_limit());

    // The requester's status page: no session, its link is the credential. Every request is
    // counted per client address (429), every response says noindex, forms carry a
    // double-submit CSRF cookie scoped to /s/.
    let requester = Router::new()
        .route(
            "/s/{token}",
            get(pages::status::show).post(pages::status::write.layer(uploads)),
        )
        .route(
            "/s/{token}/valorar",
            get(pages::status::rate_page).post(pages::status::rate),
        )
        .route("/s/{token}/adjuntos/{id}", get(pages::status::file))
        .route_layer(from_fn_with_state(state.clone(), pages::status::guard))
        .layer(from_fn(noindex));

    // Any session, even one that must still choose its password.
    let session = Router::new()
        .route(
            "/account/password",
            get(pages::auth::password_page).post(pages::auth::password_submit),
        )
        .route("/account/2fa", get(pages::twofactor::show))
        .route("/account/2fa/setup", post(pages::twofactor::setup))
        .route("/account/2fa/enable", post(pages::twofactor::enable))
        .route("/account/2fa/disable", post(pages::twofactor::disable))
        .route("/account/2fa/recovery", post(pages::twofactor::recovery));

    // Signed in (CurrentUser): every role; tickets are filtered by the actor's scope.
    // Creating by hand (POST /) and assign/reopen take `Staff`.
    let signed_in = Router::new()
        .route("/", get(pages::queue::list).post(pages::queue::create))
        .route(
            "/tickets/bulk",
            get(pages::queue::bulk_get).post(pages::queue::bulk),
        )
        .route("/tickets/{id}", get(pages::tickets::show))
        .route("/dashboard", get(pages::dashboard::show))
        .route("/events", get(events::stream))
        .route("/export/closed.csv", get(pages::export::csv))
        .route("/export/closed.xlsx", get(pages::export::xlsx))
        .route("/tickets/{id}/{action}", post(pages::tickets::act))
        .route(
            "/tickets/{id}/reply",
            post(pages::tickets::reply.layer(uploads)),
        )
        .route(
            "/tickets/{id}/comment",
            post(pages::tickets::comment.layer(uploads)),
        )
        .route("/attachments/{id}", get(pages::attachments::attachment))
        .route(
            "/tickets/{id}/attachments/{attachment}",
            get(pages::attachments::ticket_attachment),
        );

    // Administrator only (Admin).
    let admin = Router::new()
        .route(
            "/admin/technicians",
            get(pages::admin::technicians).post(pages::admin::technician_create),
        )
        .route(
            "/admin/technicians/{id}",
            get(pages::admin::technician_edit).post(pages::admin::technician_update),
        )
        .route(
            "/admin/technicians/{id}/active",
            get(pages::admin::technician_active_page).post(pages::admin::technician_active),
        )
        .route(
            "/admin/technicians/{id}/unlock",
            post(pages::admin::technician_unlock),
        )
        .route(
            "/admin/credentials",
            get(pages::admin::credentials).post(pages::admin::credential_create),
        )
        .route(
            "/admin/credentials/{id}/reset",
            post(pages::admin::credential_reset),
        )
        .route(
            "/admin/credentials/{id}/active",
            get(pages::admin::credential_active_page).post(pages::admin::credential_active),
        )
        .route(
            "/admin/credentials/{id}/unlock",
            post(pages::admin::credential_unlock),
        )
        .route(
            "/admin/credentials/{id}/role",
            post(pages::admin::credential_role),
        )
        .route(
            "/admin/categories",
            get(pages::sla::categories).post(pages::sla::category_create),
        )
        .route("/admin/categories/{id}", post(pages::sla::category_rename))
        .route(
            "/admin/categories/{id}/active",
            post(pages::sla::category_active),
        )
        .route("/admin/calendar", get(pages::sla::calendar))
        .route("/admin/calendar/hours", post(pages::sla::calendar_hours))
        .route("/admin/calendar/holidays", post(pages::sla::holiday_add))
        .route(
            "/admin/calendar/holidays/delete",
            post(pages::sla::holiday_remove),
        )
        .route(
            "/admin/sla",
            get(pages::sla::policies).post(pages::sla::policies_save),
        )
        .route("/admin/quarantine", get(pages::quarantine::quarantine_list))
        .route(
            "/admin/quarantine/{id}",
            get(pages::quarantine::quarantine_show),
        )
        .route(
            "/admin/quarantine/{id}/release",
            post(pages::quarantine::quarantine_release),
        )
        .route("/admin/mail", get(pages::mailbox::show))
        .route("/admin/mail/connect", get(pages::mailbox::connect))
        .route("/admin/mail/callback", get(pages::mailbox::callback))
        .route("/admin/mail/disconnect", post(pages::mailbox::disconnect))
        .route("/admin/mail/test", post(pages::mailbox::test))
        .route(
            "/admin/notificaciones",
            get(pages::notifications::list).post(pages::notifications::create),
        )
        .route(
            "/admin/notificaciones/{id}/test",
            post(pages::notifications::test),
        )
        .route(
            "/admin/notificaciones/{id}/active",
            post(pages::notifications::set_active),
        )
        .route(
            "/admin/notificaciones/{id}/delete",
            post(pages::notifications::delete),
        );

    // JSON API (CurrentUser by bearer token or session; Staff where the action needs it).
    let api = Router::new()
        .route(
            "/api/v1/tickets",
            get(api::tickets::list).post(api::tickets::create),
        )
        .route("/api/v1/tickets/bulk", post(api::tickets::bulk))
        .route("/api/v1/views", get(api::tickets::views))
        .route(
            "/api/v1/tickets/{id}",
            get(api::tickets::show).patch(api::tickets::patch),
        )
        .route("/api/v1/tickets/{id}/assign", post(api::tickets::assign))
        .route("/api/v1/tickets/{id}/comments", post(api::tickets::comment))
        .route("/api/v1/tickets/{id}/replies", post(api::tickets::reply))
        .route("/api/v1/tickets/{id}/close", post(api::tickets::close))
        .route(
            "/api/v1/tickets/{id}/return",
            post(api::tickets::return_to_queue),
        )
        .route(
            "/api/v1/tickets/{id}/reassign",
            post(api::tickets::reassign),
        )
        .route("/api/v1/tickets/{id}/reopen", post(api::tickets::reopen))
        .route("/api/v1/technicians", get(api::tickets::technicians))
        .route("/api/v1/dashboard", get(api::dashboard::show))
        .route("/api/v1/categories", get(api::sla::categories))
        .route("/api/v1/calendar", get(api::sla::calendar))
        .route("/api/v1/sla/policies", get(api::sla::policies))
        .route(
            "/api/v1/admin/webhooks",
            get(api::webhooks::list).post(api::webhooks::create),
        )
        .route(
            "/api/v1/admin/webhooks/{id}",
            axum::routing::delete(api::webhooks::delete),
        );

    let max_body = state.config.max_body_bytes;
    Router::new()
        .merge(public)
        .merge(requester)
        .merge(session)
        .merge(signed_in)
        .merge(admin)
        .merge(api)
        .fallback(pages::not_found)
        // A GET of a form's address (a bookmark, a reload after the browser dropped the
        // POST): back to the page the form lives on, never a bare 405.
        .method_not_allowed_fallback(pages::method_not_allowed)
        .layer(from_fn_with_state(state.clone(), authenticate))
        .layer(from_fn(same_origin))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(from_fn(security_headers))
        .layer(from_fn_with_state(state.clone(), request_log))
        .with_state(state)
}
