//! Sign-in pages (any role, or one role's own page), sign-out, and choosing a new password.

use super::{Chrome, cookie_header, ok, redirect_with_flash, render};
use crate::domain::user::Role;
use crate::service;
use crate::service::signin::SignIn;
use crate::web::AppState;
use crate::web::error::{AppError, PageError};
use crate::web::extract::{
    AnySession, Auth, ClientAddr, CsrfForm, LOGIN_CSRF_COOKIE, LoginForm, SESSION_COOKIE, cookie,
};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "auth/login.html")]
pub struct LoginPage {
    pub chrome: Chrome,
    pub heading: &'static str,
    pub action: String,
    pub email: String,
    pub error: Option<String>,
    pub csrf: String,
    /// "Ingresar con …" when single sign-on is configured.
    pub sso_label: Option<String>,
    /// The directory signs people in too: the first field takes a user name as well.
    pub directory: bool,
}

#[derive(Deserialize)]
pub struct LoginInput {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

fn role_from_slug(slug: &str) -> Option<Role> {
    Role::ALL.into_iter().find(|r| r.login_slug() == slug)
}

fn heading(role: Option<Role>) -> &'static str {
    match role {
        None => "Ingresar",
        Some(Role::Admin) => "Ingreso de administradores",
        Some(Role::Dispatcher) => "Ingreso de derivadores",
        Some(Role::Technician) => "Ingreso de técnicos",
    }
}

fn action(role: Option<Role>) -> String {
    match role {
        None => "/login".to_string(),
        Some(r) => format!("/login/{}", r.login_slug()),
    }
}

/// Shows the form, with a double-submit CSRF cookie (kept if the browser already has one).
pub(crate) fn show_login(
    state: &AppState,
    headers: &HeaderMap,
    role: Option<Role>,
    status: StatusCode,
    email: String,
    error: Option<String>,
) -> Result<Response, PageError> {
    let csrf = match cookie(headers, LOGIN_CSRF_COOKIE)
        .filter(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        Some(c) => c,
        None => service::random_hex(32).map_err(AppError::from)?,
    };
    let page = LoginPage {
        chrome: Chrome::anonymous(),
        heading: heading(role),
        action: action(role),
        email,
        error,
        csrf: csrf.clone(),
        sso_label: state.services.sso_label().map(String::from),
        directory: state.services.ldap_configured(),
    };
    let mut response = render(status, &page)?;
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(
            LOGIN_CSRF_COOKIE,
            &csrf,
            "/login",
            "Strict",
            state.config.cookie_secure,
            None,
        ),
    );
    Ok(response)
}

fn already_signed_in(auth: Option<&Auth>) -> bool {
    matches!(auth, Some(Auth::Session(_)))
}

pub async fn login_page(
    State(state): State<AppState>,
    auth: Option<axum::Extension<Auth>>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    if already_signed_in(auth.as_ref().map(|a| &a.0)) {
        return Ok(Redirect::to("/").into_response());
    }
    show_login(&state, &headers, None, StatusCode::OK, String::new(), None)
}

pub async fn login_role_page(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    auth: Option<axum::Extension<Auth>>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let role = role_from_slug(&slug).ok_or_else(AppError::not_found)?;
    if already_signed_in(auth.as_ref().map(|a| &a.0)) {
        return Ok(Redirect::to("/").into_response());
    }
    show_login(
        &state,
        &headers,
        Some(role),
        StatusCode::OK,
        String::new(),
        None,
    )
}

async fn submit(
    state: AppState,
    headers: HeaderMap,
    client: ClientAddr,
    role: Option<Role>,
    input: LoginInput,
) -> Result<Response, PageError> {
    let ip = client.label();
    match state
        .services
        .sign_in(&input.email, &input.password, &ip, role)
        .await
    {
        Ok(SignIn::Done { token, user }) => Ok(signed_in(&state, &token, &user)),
        Ok(SignIn::SecondFactor { challenge }) => {
            let mut response = Redirect::to("/login/2fa").into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                cookie_header(
                    crate::web::extract::CHALLENGE_COOKIE,
                    &challenge,
                    "/login",
                    "Strict",
                    state.config.cookie_secure,
                    Some(crate::service::twofactor::CHALLENGE_TTL_SECS),
                ),
            );
            Ok(response)
        }
        Err(e) => {
            let err = AppError::from(e);
            if err.status.is_server_error() && err.status != StatusCode::SERVICE_UNAVAILABLE {
                return Err(PageError(err));
            }
            show_login(
                &state,
                &headers,
                role,
                err.status,
                input.email,
                Some(err.message),
            )
        }
    }
}

/// The response that completes a sign-in: the session cookie and the way to the user's
/// first page.
pub(crate) fn signed_in(
    state: &AppState,
    token: &str,
    user: &crate::domain::user::User,
) -> Response {
    let to = if user.must_change_password {
        "/account/password"
    } else {
        "/"
    };
    let mut response = Redirect::to(to).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(
            SESSION_COOKIE,
            token,
            "/",
            "Lax",
            state.config.cookie_secure,
            None,
        ),
    );
    response
}

pub async fn login_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: ClientAddr,
    LoginForm(input): LoginForm<LoginInput>,
) -> Result<Response, PageError> {
    submit(state, headers, client, None, input).await
}

pub async fn login_role_submit(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    client: ClientAddr,
    LoginForm(input): LoginForm<LoginInput>,
) -> Result<Response, PageError> {
    let role = role_from_slug(&slug).ok_or_else(AppError::not_found)?;
    submit(state, headers, client, Some(role), input).await
}

/// The sign-out button (a form, so it carries the CSRF token).
pub async fn logout_submit(
    State(state): State<AppState>,
    CsrfForm { session, .. }: CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    state.services.logout(&session).await?;
    Ok(signed_out(&state))
}

fn signed_out(state: &AppState) -> Response {
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(
            SESSION_COOKIE,
            "",
            "/",
            "Lax",
            state.config.cookie_secure,
            Some(0),
        ),
    );
    response
}

/// Ends the session and clears the cookie (a plain link also signs out).
pub async fn logout(
    State(state): State<AppState>,
    auth: Option<axum::Extension<Auth>>,
) -> Result<Response, PageError> {
    if let Some(axum::Extension(Auth::Session(session))) = auth {
        state.services.logout(&session).await?;
    }
    Ok(signed_out(&state))
}

#[derive(Template)]
#[template(path = "auth/password.html")]
pub struct PasswordPage {
    pub chrome: Chrome,
    pub forced: bool,
    pub error: Option<String>,
}

#[derive(Deserialize)]
pub struct PasswordInput {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

fn password_chrome(session: &service::auth::Session) -> Chrome {
    let user = crate::web::extract::CurrentUser {
        user: session.user.clone(),
        session: Some(session.clone()),
    };
    Chrome::for_user(&user, "password")
}

pub async fn password_page(AnySession(session): AnySession) -> Result<Response, PageError> {
    ok(&PasswordPage {
        chrome: password_chrome(&session),
        forced: session.user.must_change_password,
        error: None,
    })
}

pub async fn password_submit(
    State(state): State<AppState>,
    CsrfForm { session, form }: CsrfForm<PasswordInput>,
) -> Result<Response, PageError> {
    let result = if form.new_password != form.confirm_password {
        Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "La confirmación no coincide con la nueva contraseña.",
        ))
    } else {
        state
            .services
            .change_own_password(&session, &form.current_password, &form.new_password)
            .await
            .map_err(AppError::from)
    };
    match result {
        Ok(()) => redirect_with_flash(&state, &session, "/", "Contraseña actualizada.").await,
        Err(e) if e.status.is_client_error() => render(
            e.status,
            &PasswordPage {
                chrome: password_chrome(&session),
                forced: session.user.must_change_password,
                error: Some(e.message),
            },
        ),
        Err(e) => Err(PageError(e)),
    }
}
