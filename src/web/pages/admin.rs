//! Técnicos and Credenciales: the administrator's sections. Every handler takes `Admin`.

use super::{Chrome, ok, redirect_with_flash, render};
use crate::domain::ids::UserId;
use crate::domain::time::format_lima;
use crate::domain::user::{Role, User};
use crate::service::accounts::{InitialPassword, ProfileInput};
use crate::web::AppState;
use crate::web::error::{AppError, PageError};
use crate::web::extract::{Admin, CsrfForm, CurrentUser, UserPath};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

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
}

impl UserRow {
    fn new(u: &User, me: UserId) -> UserRow {
        UserRow {
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

async fn technicians_page(
    state: &AppState,
    admin: &CurrentUser,
    form: UserForm,
    error: Option<String>,
    issued: Option<Issued>,
) -> Result<TechniciansPage, PageError> {
    let users = state.services.users(Some(Role::Technician)).await?;
    Ok(TechniciansPage {
        chrome: Chrome::for_user(admin, "technicians"),
        rows: users
            .iter()
            .map(|u| UserRow::new(u, admin.user.id))
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
    ok(&technicians_page(&state, &admin, UserForm::default(), None, None).await?)
}

pub async fn technician_create(
    State(state): State<AppState>,
    Admin(admin): Admin,
    CsrfForm { form, .. }: CsrfForm<UserForm>,
) -> Result<Response, PageError> {
    match state
        .services
        .create_user(&form.profile(), Role::Technician, form.initial_password())
        .await
        .map_err(AppError::from)
    {
        Ok((user, shown)) => {
            let mut page =
                technicians_page(&state, &admin, UserForm::default(), None, None).await?;
            page.chrome.flash = Some(format!("Técnico {} creado.", user.name));
            page.issued = shown.map(|password| Issued {
                email: user.email.clone(),
                password,
            });
            render(StatusCode::CREATED, &page)
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
            },
        ),
        Err(e) => Err(PageError(e)),
    }
}

#[derive(Deserialize)]
pub struct ActiveForm {
    #[serde(default)]
    active: String,
}

async fn set_active(
    state: &AppState,
    admin: &CurrentUser,
    id: UserId,
    form: &ActiveForm,
) -> Result<String, AppError> {
    let active = form.active == "1" || form.active == "true";
    let user = state.services.set_active(&admin.user, id, active).await?;
    Ok(if active {
        format!("{} habilitado.", user.name)
    } else {
        format!(
            "{} deshabilitado: sus sesiones terminaron y sus incidencias abiertas volvieron a la cola.",
            user.name
        )
    })
}

pub async fn technician_active(
    State(state): State<AppState>,
    Admin(admin): Admin,
    UserPath(id): UserPath,
    CsrfForm { session, form }: CsrfForm<ActiveForm>,
) -> Result<Response, PageError> {
    let user = technician(&state, id).await?;
    let message = match set_active(&state, &admin, user.id, &form).await {
        Ok(m) => m,
        Err(e) if e.status.is_client_error() => e.message,
        Err(e) => return Err(PageError(e)),
    };
    redirect_with_flash(&state, &session, "/admin/technicians", &message).await
}

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
    Ok(CredentialsPage {
        chrome: Chrome::for_user(admin, "credentials"),
        rows: users
            .iter()
            .map(|u| UserRow::new(u, admin.user.id))
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
    ok(&credentials_page(&state, &admin, form, None, None).await?)
}

pub async fn credential_create(
    State(state): State<AppState>,
    Admin(admin): Admin,
    CsrfForm { form, .. }: CsrfForm<UserForm>,
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
            let reset = UserForm {
                role: "technician".to_string(),
                ..UserForm::default()
            };
            let mut page = credentials_page(&state, &admin, reset, None, None).await?;
            page.chrome.flash = Some(format!(
                "Credencial creada para {} ({}). Deberá cambiar la contraseña al ingresar.",
                user.email,
                user.role.label()
            ));
            page.issued = shown.map(|password| Issued {
                email: user.email.clone(),
                password,
            });
            render(StatusCode::CREATED, &page)
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
    CsrfForm { form, .. }: CsrfForm<ResetForm>,
) -> Result<Response, PageError> {
    let user = state.services.user(id).await?;
    match state
        .services
        .reset_password(id, Some(form.password))
        .await
        .map_err(AppError::from)
    {
        Ok(shown) => {
            let mut page =
                credentials_page(&state, &admin, UserForm::default(), None, None).await?;
            page.chrome.flash = Some(format!(
                "Contraseña de {} restablecida: deberá cambiarla al ingresar.",
                user.email
            ));
            page.issued = shown.map(|password| Issued {
                email: user.email.clone(),
                password,
            });
            ok(&page)
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
    let message = match set_active(&state, &admin, id, &form).await {
        Ok(m) => m,
        Err(e) if e.status.is_client_error() => e.message,
        Err(e) => return Err(PageError(e)),
    };
    redirect_with_flash(&state, &session, "/admin/credentials", &message).await
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
