//! `soporte intake < message.eml`: one raw message from standard input, for an MTA's pipe
//! transport. Exit codes follow sysexits, which MTAs understand: 0 filed (a ticket, a reply,
//! a duplicate, or quarantine for an auto-reply), 65 (EX_DATAERR) the message could not be
//! read — it is kept in quarantine and the MTA bounces it to its sender — and 75
//! (EX_TEMPFAIL) the database failed, so the MTA keeps the message and tries again later.

use crate::config::{IntakeArgs, Secret};
use crate::domain::ids::TicketNumber;
use crate::mail::parse::parse;
use crate::service::Settings;
use crate::service::mail::MailOutcome;
use std::process::ExitCode;
use tokio::io::AsyncReadExt;

const EX_DATAERR: u8 = 65;
const EX_TEMPFAIL: u8 = 75;

pub async fn run(database: &Secret, args: IntakeArgs) -> ExitCode {
    let limits = args.limits.limits();
    let (raw, total) = match read_stdin(limits.max_message_bytes).await {
        Ok(r) => r,
        Err(e) => {
            shout!("error: no se pudo leer el mensaje de la entrada estándar: {e}");
            return ExitCode::from(EX_TEMPFAIL);
        }
    };
    let mut mail = parse(&raw, &limits);
    mail.size = total;
    let services = match super::open(database, Settings::default()).await {
        Ok(s) => s,
        Err(e) => {
            shout!("error: {e}");
            return ExitCode::from(EX_TEMPFAIL);
        }
    };
    let outcome = services.receive_mail(&raw, &mail).await;
    services.close().await;
    match outcome {
        Ok(MailOutcome::Created {
            ticket, linked_to, ..
        }) => {
            match linked_to {
                Some(other) => say!(
                    "{} creada (relacionada con {})",
                    TicketNumber(ticket),
                    TicketNumber(other)
                ),
                None => say!("{} creada", TicketNumber(ticket)),
            }
            ExitCode::SUCCESS
        }
        Ok(MailOutcome::Replied {
            ticket, matched_by, ..
        }) => {
            say!("mensaje agregado a {} ({matched_by})", TicketNumber(ticket));
            ExitCode::SUCCESS
        }
        Ok(MailOutcome::Duplicate { ticket, .. }) => {
            say!("mensaje ya recibido: {}", TicketNumber(ticket));
            ExitCode::SUCCESS
        }
        Ok(MailOutcome::Quarantined {
            entry, unreadable, ..
        }) => {
            if unreadable {
                shout!(
                    "error: {} El mensaje quedó registrado en la cuarentena (n.º {}).",
                    entry.reason,
                    entry.id
                );
                ExitCode::from(EX_DATAERR)
            } else {
                say!("en cuarentena (n.º {}): {}", entry.id, entry.reason);
                ExitCode::SUCCESS
            }
        }
        Err(crate::service::Error::Domain(e)) => {
            shout!("error: {}", e.message());
            ExitCode::from(EX_DATAERR)
        }
        Err(e) => {
            shout!("error: no se pudo registrar el mensaje; inténtelo más tarde ({e})");
            ExitCode::from(EX_TEMPFAIL)
        }
    }
}

/// Reads standard input, keeping at most `max + 1` bytes (enough to know it is too large)
/// and counting the rest, so the MTA can always write the whole message.
async fn read_stdin(max: usize) -> std::io::Result<(Vec<u8>, usize)> {
    let mut stdin = tokio::io::stdin();
    let mut kept = Vec::new();
    let mut total = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = stdin.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        total += n;
        let room = (max + 1).saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
    Ok((kept, total))
}
