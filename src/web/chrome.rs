//! What every page's layout shows of the signed-in person (`templates/base.html`): the pages
//! and the error page build it the same way.

use crate::domain::access::{Capability, may};
use crate::domain::user::Role;
use crate::service::auth::Session;

#[derive(Debug, Clone, Default)]
pub struct Chrome {
    pub signed_in: bool,
    /// The signed-in person's id (0 when nobody is): the page's scripts tell "assigned to
    /// me" from the live stream's events with it.
    pub user_id: i64,
    pub user_name: String,
    pub role_label: &'static str,
    pub is_staff: bool,
    pub is_admin: bool,
    pub csrf: String,
    pub flash: Option<String>,
    pub section: &'static str,
    /// Must choose a new password first: the navigation would only bounce back here.
    pub locked: bool,
    /// A warning on every page (administrators: the mailbox has been failing for 15 minutes).
    pub alert: Option<String>,
}

impl Chrome {
    /// The layout of a signed-in session, in `section` of the menu.
    pub fn for_session(session: &Session, section: &'static str) -> Chrome {
        Chrome {
            signed_in: true,
            user_id: session.user.id.0,
            user_name: session.user.name.clone(),
            role_label: session.user.role.label(),
            is_staff: may(session.user.role, Capability::Dispatch),
            is_admin: session.user.role == Role::Admin,
            csrf: session.csrf_token.clone(),
            flash: session.flash.clone(),
            section,
            locked: session.user.must_change_password,
            alert: session.alert.clone(),
        }
    }

    pub fn anonymous() -> Chrome {
        Chrome::default()
    }
}
