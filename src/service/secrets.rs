//! `soporte secrets rotate`: every stored secret (TOTP seeds, the mail OAuth2 tokens, chat
//! channels' targets and secrets) sealed again under the current key, in one transaction.
//! Values already under the current key are left as they are, so running it twice is fine.

use super::Services;
use super::connect::CResult;
use crate::storage::{identity, mailbox, notify};

/// How many values were sealed again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotation {
    pub totp: usize,
    pub mail: usize,
    pub channels: usize,
    /// Values that were already under the current key.
    pub current: usize,
}

impl Services {
    fn reseal(
        &self,
        sealed: &str,
        context: &str,
        counter: &mut usize,
        current: &mut usize,
    ) -> CResult<String> {
        let Some(ring) = self.connect.keyring.as_ref() else {
            return Ok(sealed.to_string());
        };
        if !ring.is_stale(sealed) {
            *current += 1;
            return Ok(sealed.to_string());
        }
        let plain = self.unseal(sealed, context)?;
        *counter += 1;
        self.seal(&plain, context)
    }

    pub async fn rotate_secrets(&self) -> CResult<Rotation> {
        let mut r = Rotation::default();
        let mut tx = self.store.begin_write().await?;
        for (user, sealed) in identity::sealed_totp(&mut tx).await? {
            let new = self.reseal(&sealed, "user_totp.secret", &mut r.totp, &mut r.current)?;
            if new != sealed {
                identity::reseal_totp(&mut tx, user, &new).await?;
            }
        }
        if let Some(g) = mailbox::grant(&mut tx).await? {
            let (mut n, before) = (0, r.current);
            let refresh = g
                .refresh_token
                .as_deref()
                .map(|s| self.reseal(s, "mail_oauth.refresh_token", &mut n, &mut r.current))
                .transpose()?;
            let access = g
                .access_token
                .as_deref()
                .map(|s| self.reseal(s, "mail_oauth.access_token", &mut n, &mut r.current))
                .transpose()?;
            if n > 0 {
                mailbox::reseal_grant(&mut tx, refresh.as_deref(), access.as_deref()).await?;
            }
            r.mail += n;
            let _ = before;
        }
        for (id, target, secret) in notify::sealed_values(&mut tx).await? {
            let mut n = 0;
            let t = self.reseal(&target, "notify_channels.target", &mut n, &mut r.current)?;
            let s = secret
                .as_deref()
                .map(|s| self.reseal(s, "notify_channels.secret", &mut n, &mut r.current))
                .transpose()?;
            if n > 0 {
                notify::reseal_channel(&mut tx, id, &t, s.as_deref()).await?;
            }
            r.channels += n;
        }
        tx.commit().await?;
        Ok(r)
    }
}
