//! Técnicos and Credenciales: the administrator's sections. Every handler takes `Admin`.

use super::{Chrome, ok, redirect_with_flash, render};
use crate::domain::ids::UserId;
use crate::domain::time::{format_lima, format_lima_time};
use crate::domain::user::{Role, User};
use crate::service::accounts::{InitialPassword, ProfileInput};
use crate::web::AppState;
use crate::web::error::{AppError, PageError};
use crate::web::extract::{Admin, CsrfForm, CurrentUser, UserPath};
use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::collections::HashMap;

/// The locked accounts, by lower-case e-mail: until when, in Lima time.
type Locks = HashMap<String, i64>;

pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub area: String,
    pub role: &'static str,
    pub role_label: &'static str,
    pub active: bool,
    pub must_change: bool,
    pub last_login: String,
    pub is_self: bool,
    /// "10:42" (Lima) while sign-in is locked after too many failures.
    pub locked_until: Option<String>,
    /// The latest entries of the account's history (Credenciales shows them).
    pub history: Vec<HistoryView>,
}

impl UserRow {
    fn new(u: &User, me: UserId, locks: &Locks) -> UserRow {
        UserRow {
            history: Vec::new(),
            locked_until: locks
                .get(&u.email.to_lowercase())
                .map(|until| format_lima_time(*until)),
            id: u.id.0,
            name: u.name.clone(),
            email: u.email.clone(),
            phone: u.phone.clone().unwrap_or_default(),
            area: u.area.clone().unwrap_or_default(),
            role: u.role.as_str(),
            role_label: u.role.label(),
            active: u.active,
            must_change: u.must_change_password,
            last_login: u
                .last_login_at
                .map(format_lima)
                .unwrap_or_else(|| "Nunca".to_string()),
            is_self: u.id == me,
        }
    }
}

#[derive(Default, Deserialize)]
pub struct UserForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub area: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub password: String,
}

impl UserForm {
    fn profile(&self) -> ProfileInput {
        ProfileInput {
            name: self.name.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            area: self.area.clone(),
        }
    }

    fn initial_password(&self) -> InitialPassword {
        if self.password.is_empty() {
            InitialPassword::Generated
        } else {
            InitialPassword::Typed(self.password.clone())
        }
    }
}

/// Shown once after an account is created or a password reset.
pub struct Issued {
    pub email: String,
    pub password: String,
}

#[derive(Template)]
#[template(path = "admin/technicians.html")]
pub struct TechniciansPage {
    pub chrome: Chrome,
    pub rows: Vec<UserRow>,
    pub form: UserForm,
    pub error: Option<String>,
    pub issued: Option<Issued>,
}

/// The one-time password the last create or reset left on the session (then gone).
async fn take_issued(state: &AppState, admin: &CurrentUser) -> Result<Option<Issued>, PageError> {
    let Some(session) = admin.session.as_ref() else {
        return Ok(None);
    };
    Ok(state
        .services
        .take_issued(session)
        .await?
        .map(|(email, password)| Issued { email, password }))
}

/// After a create or a reset: the password kept for the next page, then the redirect (a
/// refresh shows the list, not the form again nor the password).
async fn issued_then_redirect(
    state: &AppState,
    session: &crate::service::auth::Session,
    shown: Option<String>,
    email: &str,
    to: &str,
    message: &str,
) -> Result<Response, PageError> {
    if let Some(password) = shown {
        state
            .services
            .keep_issued(session, email, &password)
            .await?;
    }
    redirect_with_flash(state, session, to, message).await
}

async fn technicians_page(
    state: &AppState,
    admin: &CurrentUser,
    form: UserForm,
    error: Option<String>,
    issued: Option<Issued>,
) -> Result<TechniciansPage, PageError> {
    let users = state.services.users(Some(Role::Technician)).await?;
    let locks = state.services.account_locks().await?;
    Ok(TechniciansPage {
        chrome: Chrome::for_user(admin, "technicians"),
        rows: users
            .iter()
            .map(|u| UserRow::new(u, admin.user.id, &locks))
            .collect(),
        form,
        error,
        issued,
    })
}

pub async fn technicians(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> Result<Response, PageError> {
    let issued = take_issued(&state, &admin).await?;
    ok(&technicians_page(&state, &admin, UserForm::default(), None, issued).await?)
}

pub async fn technician_create(
    State(state): State<AppState>,
    Admin(admin): Admin,
    CsrfForm { session, form }: CsrfForm<UserForm>,
) -> Result<Response, PageError> {
    match state
        .services
        .create_user(&form.profile(), Role::Technician, form.initial_password())
        .await
        .map_err(AppError::from)
    {
        Ok((user, shown)) => {
            issued_then_redirect(
                &state,
                &session,
                shown,
                &user.email,
                "/admin/technicians",
                &format!("Se creó la cuenta de técnico de {}.", user.name),
            )
            .await
        }
        Err(e) if e.status.is_client_error() => {
            let page =
                technicians_page(&state, &admin, form, Some(e.message.clone()), None).await?;
            render(e.status, &page)
        }
        Err(e) => Err(PageError(e)),
    }
}

#[derive(Template)]
#[template(path = "admin/technician_edit.html")]
pub struct TechnicianEditPage {
    pub chrome: Chrome,
    pub id: i64,
    pub form: UserForm,
    pub error: Option<String>,
    /// What was done to the account ("Desbloqueada por Ana Túpac · 30/11/2026 10:30").
    pub history: Vec<HistoryView>,
}

/// One entry of an account's history, ready to show.
pub struct HistoryView {
    pub what: String,
    pub who: String,
    pub at: String,
}

impl HistoryView {
    fn new(e: crate::service::accounts::AccountEvent) -> HistoryView {
        HistoryView {
            what: match e.kind.as_str() {
                "unlocked" => "Se levantó el bloqueo de ingreso".to_string(),
                "password_reset" => "Se restableció la contraseña".to_string(),
                "disabled" => "Se deshabilitó la cuenta".to_string(),
                "enabled" => "Se habilitó la cuenta".to_string(),
                other => other.to_string(),
            },
            who: e.actor_name,
            at: format_lima(e.at),
        }
    }
}

async fn history(state: &AppState, id: UserId) -> Result<Vec<HistoryView>, PageError> {
    Ok(state
        .services
        .account_history(id)
        .await?
        .into_iter()
        .map(HistoryView::new)
        .collect())
}

async fn technician(state: &AppState, id: UserId) -> Result<User, PageError> {
    let user = state.services.user(id).await?;
    if user.role != Role::Technician {
        return Err(AppError::not_found().into());
    }
    Ok(user)
}

pub async fn technician_edit(
    State(state): State<AppState>,
    Admin(admin): Admin,
    UserPath(id): UserPath,
) -> Result<Response, PageError> {
    let user = technician(&state, id).await?;
    ok(&TechnicianEditPage {
        chrome: Chrome::for_user(&admin, "technicians"),
        id: user.id.0,
        form: UserForm {
            name: user.name,
            email: user.email,
            phone: user.phone.unwrap_or_default(),
            area: user.area.unwrap_or_default(),
            ..UserForm::default()
        },
        error: None,
        history: history(&state, id).await?,
    })
}

pub async fn technician_update(
    State(state): State<AppState>,
    Admin(admin): Admin,
    UserPath(id): UserPath,
    CsrfForm { session, form }: CsrfForm<UserForm>,
) -> Result<Response, PageError> {
    let user = technician(&state, id).await?;
    match state
        .services
        .update_profile(user.id, &form.profile())
        .await
        .map_err(AppError::from)
    {
        Ok(u) => {
            redirect_with_flash(
                &state,
                &session,
                "/admin/technicians",
                &format!("Datos de {} guardados.", u.name),
            )
            .await
        }
        Err(e) if e.status.is_client_error() => render(
            e.status,
            &TechnicianEditPage {
                chrome: Chrome::for_user(&admin, "technicians"),
                id: user.id.0,
                form,
                error: Some(e.message),
                history: history(&state, user.id).await?,
            },
        ),
        Err(e) => Err(PageError(e)),
    }
}

#[derive(Deserialize)]
pub struct ActiveForm {
    #[serde(default)]
    active: String,
    /// Disabling's second step: "1" once the confirmation page was read.
    #[serde(default)]
    confirm: String,
}

/// "Sus 4 incidencias abiertas volverán a la cola." (or the singular, or none).
fn requeue_words(open: i64, done: bool) -> String {
    match (open, done) {
        (0, false) => "No tiene incidencias abiertas.".to_string(),
        (1, false) => "Su incidencia abierta volverá a la cola.".to_string(),
        (n, false) => format!("Sus {n} incidencias abiertas volverán a la cola."),
        (0, true) => "No tenía incidencias abiertas.".to_string(),
        (1, true) => "Su incidencia abierta volvió a la cola.".to_string(),
        (n, true) => format!("Sus {n} incidencias abiertas volvieron a la cola."),
    }
}

/// The confirmation page before an account is disabled.
#[derive(Template)]
#[template(path = "admin/confirm_disable.html")]
pub struct ConfirmDisablePage {
    pub chrome: Chrome,
    pub name: String,
    pub email: String,
    /// Where the confirmed form posts, and where "Cancelar" goes back to.
    pub action: String,
    pub back: String,
    pub consequence: String,
}

async fn confirm_disable(
    state: &AppState,
    admin: &CurrentUser,
    user: &User,
    section: &'static str,
    list: &str,
) -> Result<Response, PageError> {
    let open = state.services.open_ticket_count(user.id).await?;
    ok(&ConfirmDisablePage {
        chrome: Chrome::for_user(admin, section),
        name: user.name.clone(),
        email: user.email.clone(),
        action: format!("{list}/{}/active", user.id),
        back: list.to_string(),
        consequence: requeue_words(open, false),
    })
}

/// Enables, or — once confirmed — disables an account; an unconfirmed disable shows the
/// confirmation page instead (nothing changes).
async fn set_active(
    state: &AppState,
    admin: &CurrentUser,
    session: &crate::service::auth::Session,
    user: &User,
    form: &ActiveForm,
    section: &'static str,
    list: &str,
) -> Result<Response, PageError> {
    let active = form.active == "1" || form.active == "true";
    if !active && form.confirm != "1" && user.active && user.id != admin.user.id {
        return confirm_disable(state, admin, user, section, list).await;
    }
    let open = if active {
        0
    } else {
        state.services.open_ticket_count(user.id).await?
    };
    let message = match state
        .services
        .set_active(&admin.user, user.id, active)
        .await
    {
        Ok(u) if active => format!("Se habilitó la cuenta de {}.", u.name),
        Ok(u) => format!(
            "Se deshabilitó la cuenta de {}: sus sesiones terminaron. {}",
            u.name,
            requeue_words(open, true)
        ),
        Err(e) => {
            let e = AppError::from(e);
            if !e.status.is_client_error() {
                return Err(PageError(e));
            }
            e.message
        }
    };
    redirect_with_flash(state, session, list, &message).await
}

/// `GET /admin/{technicians|credentials}/{id}/active`: the confirmation page for an
/// active account (what the "Deshabilitar…" link opens), the list for a disabled one.
async fn active_page(
    state: &AppState,
    admin: &CurrentUser,
    user: &User,
    section: &'static str,
    list: &str,
) -> Result<Response, PageError> {
    if !user.active || user.id == admin.user.id {
        return Ok(Redirect::to(list).into_response());
    }
    confirm_disable(state, admin, user, section, list).await
}

pub async fn technician_active_page(
    State(state): State<AppState>,
    Admin(admin): Admin,
    UserPath(id): UserPath,
) -> Result<Response, PageError> {
    let user = technician(&state, id).await?;
    active_page(&state, &admin, &user, "technicians", "/admin/technicians").await
}

pub async fn credential_active_page(
    State(state): State<AppState>,
    Admin(admin): Admin,
    UserPath(id): UserPath,
) -> Result<Response, PageError> {
    let user = state.services.user(id).await?;
    active_page(&state, &admin, &user, "credentials", "/admin/credentials").await
}

pub async fn technician_active(
    State(state): State<AppState>,
    Admin(admin): Admin,
    UserPath(id): UserPath,
    CsrfForm { session, form }: CsrfForm<ActiveForm>,
) -> Result<Response, PageError> {
    let user = technician(&state, id).await?;
    set_active(
        &state,
        &admin,
        &session,
        &user,
        &form,
        "technicians",
        "/admin/technicians",
    )
    .await
}

/// "Desbloquear": lifts a sign-in lock; recorded in the account's history.
async fn unlock(
    state: &AppState,
    admin: &CurrentUser,
    session: &crate::service::auth::Session,
    id: UserId,
    list: &str,
) -> Result<Response, PageError> {
    let (user, lifted) = state.services.unlock(&admin.user, id).await?;
    let message = if lifted {
        format!(
            "Se desbloqueó la cuenta de {}: ya puede volver a ingresar.",
            user.name
        )
    } else {
        format!("La cuenta de {} no estaba bloqueada.", user.name)
    };
    redirect_with_flash(state, session, list, &message).await
}

pub async fn technician_unlock(
    State(state): State<AppState>,
    Admin(admin): Admin,
    UserPath(id): UserPath,
    CsrfForm { session, .. }: CsrfForm<EmptyForm>,
) -> Result<Response, PageError> {
    let user = technician(&state, id).await?;
    unlock(&state, &admin, &session, user.id, "/admin/technicians").await
}

pub async fn credential_unlock(
    State(state): State<AppState>,
    Admin(admin): Admin,
    UserPath(id): UserPath,
    CsrfForm { session, .. }: CsrfForm<EmptyForm>,
) -> Result<Response, PageError> {
    unlock(&state, &admin, &session, id, "/admin/credentials").await
}

/// A form with nothing but its CSRF token.
#[derive(Default, Deserialize)]
pub struct EmptyForm {}

#[derive(Template)]
#[template(path = "admin/credentials.html")]
pub struct CredentialsPage {
    pub chrome: Chrome,
    pub rows: Vec<UserRow>,
    pub form: UserForm,
    pub error: Option<String>,
    pub issued: Option<Issued>,
}

async fn credentials_page(
    state: &AppState,
    admin: &CurrentUser,
    form: UserForm,
    error: Option<String>,
    issued: Option<Issued>,
) -> Result<CredentialsPage, PageError> {
    let users = state.services.users(None).await?;
    let locks = state.services.account_locks().await?;
    let mut recent: HashMap<UserId, Vec<HistoryView>> = HashMap::new();
    for (user, e) in state.services.recent_account_history().await? {
        let entries = recent.entry(user).or_default();
        if entries.len() < 3 {
            entries.push(HistoryView::new(e));
        }
    }
    Ok(CredentialsPage {
        chrome: Chrome::for_user(admin, "credentials"),
        rows: users
            .iter()
            .map(|u| UserRow {
                history: recent.remove(&u.id).unwrap_or_default(),
                ..UserRow::new(u, admin.user.id, &locks)
            })
            .collect(),
        form,
        error,
        issued,
    })
}

pub async fn credentials(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> Result<Response, PageError> {
    let form = UserForm {
        role: "technician".to_string(),
        ..UserForm::default()
    };
    let issued = take_issued(&state, &admin).await?;
    ok(&credentials_page(&state, &admin, form, None, issued).await?)
}

pub async fn credential_create(
    State(state): State<AppState>,
    Admin(admin): Admin,
    CsrfForm { session, form }: CsrfForm<UserForm>,
) -> Result<Response, PageError> {
    let role = match Role::parse(&form.role) {
        Some(r @ (Role::Dispatcher | Role::Technician)) => Ok(r),
        _ => Err(AppError::from(crate::domain::DomainError::validation(
            "role",
            "Elija el rol: Derivador o Técnico.",
        ))),
    };
    let result = match role {
        Ok(role) => state
            .services
            .create_user(&form.profile(), role, form.initial_password())
            .await
            .map_err(AppError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok((user, shown)) => {
            issued_then_redirect(
                &state,
                &session,
                shown,
                &user.email,
                "/admin/credentials",
                &format!(
                    "Credencial creada para {} ({}). Deberá cambiar la contraseña al ingresar.",
                    user.email,
                    user.role.label()
                ),
            )
            .await
        }
        Err(e) if e.status.is_client_error() => {
            let page =
                credentials_page(&state, &admin, form, Some(e.message.clone()), None).await?;
            render(e.status, &page)
        }
        Err(e) => Err(PageError(e)),
    }
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    password: String,
}

pub async fn credential_reset(
    State(state): State<AppState>,
    Admin(admin): Admin,
    UserPath(id): UserPath,
    CsrfForm { session, form }: CsrfForm<ResetForm>,
) -> Result<Response, PageError> {
    let user = state.services.user(id).await?;
    match state
        .services
        .reset_password(&admin.user, id, Some(form.password))
        .await
        .map_err(AppError::from)
    {
        Ok(shown) => {
            issued_then_redirect(
                &state,
                &session,
                shown,
                &user.email,
                "/admin/credentials",
                &format!(
                    "Contraseña de {} restablecida: deberá cambiarla al ingresar (si la cuenta estaba bloqueada, ya no lo está).",
                    user.email
                ),
            )
            .await
        }
        Err(e) if e.status.is_client_error() => {
            let page = credentials_page(
                &state,
                &admin,
                UserForm::default(),
                Some(e.message.clone()),
                None,
            )
            .await?;
            render(e.status, &page)
        }
        Err(e) => Err(PageError(e)),
    }
}

pub async fn credential_active(
    State(state): State<AppState>,
    Admin(admin): Admin,
    UserPath(id): UserPath,
    CsrfForm { session, form }: CsrfForm<ActiveForm>,
) -> Result<Response, PageError> {
    let user = state.services.user(id).await?;
    set_active(
        &state,
        &admin,
        &session,
        &user,
        &form,
        "credentials",
        "/admin/credentials",
    )
    .await
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

pub async fn credential_role(
    State(state): State<AppState>,
    Admin(_admin): Admin,
    UserPath(id): UserPath,
    CsrfForm { session, form }: CsrfForm<RoleForm>,
) -> Result<Response, PageError> {
    let message = match Role::parse(&form.role) {
        None => "Elija un rol válido.".to_string(),
        Some(role) => match state
            .services
            .set_role(id, role)
            .await
            .map_err(AppError::from)
        {
            Ok(u) => format!("{} ahora es {}.", u.name, u.role.label()),
            Err(e) if e.status.is_client_error() => e.message,
            Err(e) => return Err(PageError(e)),
        },
    };
    redirect_with_flash(&state, &session, "/admin/credentials", &message).await
}
