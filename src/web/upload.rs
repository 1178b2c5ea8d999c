//! Forms that carry files: a ticket's reply and note forms and the requester's message on
//! their status page. `multipart/form-data` is read as it streams in, and every limit is
//! checked on the way — a file's size (`--mail-max-attachment-bytes`), how many files, all the
//! files together, each text field — so an oversized upload is never held in memory. A file
//! over a limit is not kept, the rest of the body is read and dropped (so the browser gets
//! the answer instead of a reset connection), and the form comes back as `refused` with the
//! text fields it carried, for the page to show again with a Spanish message. A plain
//! `application/x-www-form-urlencoded` body is accepted too (no files): the forms without
//! script, older clients and the tests of the first round send it.
//!
//! What this module does not do: check the CSRF token (the handler knows which one is
//! expected: the session's or the status page's cookie) or decide anything about the ticket.

use super::AppState;
use super::error::{AppError, PageError};
use crate::domain::mail::{Attachment, human_size, safe_filename};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{StatusCode, header};

/// At most this many files with one message.
pub const MAX_FILES: usize = 10;
/// Room for the text fields and the multipart framing on top of the files.
const FRAMING_BYTES: usize = 64 * 1024;

/// What one message may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// One file (`--mail-max-attachment-bytes`).
    pub file_bytes: usize,
    pub files: usize,
    /// All the files together: what an e-mail may weigh (`--mail-max-message-bytes`), so a
    /// reply with its files can still be sent.
    pub total_bytes: usize,
    /// One text field (`--max-body-bytes`).
    pub text_bytes: usize,
}

impl UploadLimits {
    pub fn of(config: &super::WebConfig) -> UploadLimits {
        let limits = config.mail_limits;
        UploadLimits {
            file_bytes: limits.max_attachment_bytes,
            files: MAX_FILES,
            total_bytes: limits.max_message_bytes.max(limits.max_attachment_bytes),
            text_bytes: config.max_body_bytes,
        }
    }

    /// The body limit of the routes that take files: above `--max-body-bytes`, for those
    /// routes only. A body past it is cut off while it streams (413).
    pub fn body_limit(&self) -> usize {
        self.total_bytes
            .saturating_add(self.text_bytes)
            .saturating_add(FRAMING_BYTES)
    }
}

/// Why a form's files were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    EmptyFile(String),
    FileTooLarge(String),
    TooManyFiles,
    TooMuchInAll,
    TextTooLong,
    /// The body ended early or was not a form.
    Malformed,
}

impl Refusal {
    /// The Spanish message and status the page shows.
    pub fn error(&self, limits: &UploadLimits) -> AppError {
        let (status, code, message) = match self {
            Refusal::EmptyFile(name) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "empty_file",
                format!("El archivo «{name}» está vacío: adjunte otro o quítelo."),
            ),
            Refusal::FileTooLarge(name) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "file_too_large",
                format!(
                    "El archivo «{name}» supera el tamaño máximo de {} por archivo.",
                    human_size(limits.file_bytes)
                ),
            ),
            Refusal::TooManyFiles => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_files",
                format!("Adjunte como máximo {} archivos por mensaje.", limits.files),
            ),
            Refusal::TooMuchInAll => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "files_too_large",
                format!(
                    "Los archivos juntos superan el máximo de {} por mensaje.",
                    human_size(limits.total_bytes)
                ),
            ),
            Refusal::TextTooLong => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "El texto es demasiado largo.".to_string(),
            ),
            Refusal::Malformed => (
                StatusCode::BAD_REQUEST,
                "bad_request",
                "El formulario llegó incompleto. Vuelva a enviarlo.".to_string(),
            ),
        };
        AppError::new(status, code, message)
    }
}

/// A form with files, read within the limits.
#[derive(Debug, Default)]
pub struct FilesForm {
    fields: Vec<(String, String)>,
    pub files: Vec<Attachment>,
    /// Set when a limit was passed: no file is kept then, only the text.
    pub refused: Option<Refusal>,
    /// Whether the person tried to send files (to say they must attach them again).
    pub had_files: bool,
    pub limits: UploadLimits,
}

impl Default for UploadLimits {
    fn default() -> Self {
        UploadLimits {
            file_bytes: 0,
            files: MAX_FILES,
            total_bytes: 0,
            text_bytes: 0,
        }
    }
}

impl FilesForm {
    /// A text field's value (the last one sent), or "".
    pub fn field(&self, name: &str) -> &str {
        self.fields
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// A checkbox: sent at all, with any value but "false"/"0".
    pub fn checked(&self, name: &str) -> bool {
        self.fields
            .iter()
            .any(|(n, v)| n == name && !matches!(v.as_str(), "false" | "0"))
    }

    /// The refusal as the page shows it.
    pub fn refusal(&self) -> Option<AppError> {
        self.refused.as_ref().map(|r| r.error(&self.limits))
    }
}

/// A declared content type if it looks like one (`type/subtype`, nothing else), lower case;
/// otherwise the type of unknown bytes. Downloads decide separately what they may serve as.
fn content_type(declared: Option<&str>) -> String {
    let t = declared.unwrap_or("").trim().to_ascii_lowercase();
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    match t.split_once('/') {
        Some((a, b)) if token(a) && token(b) => t,
        _ => "application/octet-stream".to_string(),
    }
}

impl FromRequest<AppState> for FilesForm {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limits = UploadLimits::of(&state.config);
        let kind = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if kind.starts_with("multipart/form-data") {
            let multipart = Multipart::from_request(req, state)
                .await
                .map_err(|_| PageError(Refusal::Malformed.error(&limits)))?;
            Ok(read_multipart(multipart, limits).await)
        } else {
            // No files: the ordinary limit of every other form.
            let bytes = axum::body::to_bytes(req.into_body(), state.config.max_body_bytes)
                .await
                .map_err(|_| PageError(AppError::too_large()))?;
            let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
                .map_err(|_| PageError(Refusal::Malformed.error(&limits)))?;
            Ok(FilesForm {
                fields,
                limits,
                ..FilesForm::default()
            })
        }
    }
}

/// Reads every part, keeping text fields and the files within the limits.
async fn read_multipart(mut multipart: Multipart, limits: UploadLimits) -> FilesForm {
    let mut form = FilesForm {
        limits,
        ..FilesForm::default()
    };
    let mut total = 0usize;
    let refuse = |form: &mut FilesForm, why: Refusal| {
        if form.refused.is_none() {
            form.refused = Some(why);
        }
        form.files.clear();
    };
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                let why = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    if form.had_files {
                        Refusal::TooMuchInAll
                    } else {
                        Refusal::TextTooLong
                    }
                } else {
                    Refusal::Malformed
                };
                refuse(&mut form, why);
                break;
            }
        };
        let name = field.name().unwrap_or("").to_string();
        let filename = field.file_name().map(str::to_string);
        let declared = field.content_type().map(str::to_string);
        // A part with a file name is a file, even an empty one; a file input left empty
        // sends a part with no name and no bytes, which is nothing.
        let is_file = filename.is_some();
        let display = filename.as_deref().map(safe_filename).unwrap_or_default();
        let mut data: Vec<u8> = Vec::new();
        let mut keep = true;
        let mut broken = None;
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    if !keep {
                        continue;
                    }
                    let size = data.len() + chunk.len();
                    let over = if is_file {
                        if size > limits.file_bytes {
                            Some(Refusal::FileTooLarge(display.clone()))
                        } else if total + size > limits.total_bytes {
                            Some(Refusal::TooMuchInAll)
                        } else {
                            None
                        }
                    } else if size > limits.text_bytes {
                        Some(Refusal::TextTooLong)
                    } else {
                        None
                    };
                    match over {
                        Some(why) => {
                            // Not kept; the rest of this part is read and dropped.
                            keep = false;
                            data = Vec::new();
                            refuse(&mut form, why);
                        }
                        None => data.extend_from_slice(&chunk),
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    broken = Some(if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        if is_file || form.had_files {
                            Refusal::TooMuchInAll
                        } else {
                            Refusal::TextTooLong
                        }
                    } else {
                        Refusal::Malformed
                    });
                    break;
                }
            }
        }
        // The empty file input of a form sent without files: a part with an empty file name
        // and no bytes. Nothing was attached.
        let no_file = is_file
            && filename.as_deref().is_some_and(|f| f.trim().is_empty())
            && keep
            && data.is_empty();
        if is_file && !no_file {
            form.had_files = true;
        }
        if let Some(why) = broken {
            refuse(&mut form, why);
            break;
        }
        if !keep || no_file {
            continue;
        }
        if is_file {
            if data.is_empty() {
                refuse(&mut form, Refusal::EmptyFile(display));
                continue;
            }
            if form.refused.is_some() {
                continue;
            }
            if form.files.len() >= limits.files {
                refuse(&mut form, Refusal::TooManyFiles);
                continue;
            }
            total += data.len();
            form.files.push(Attachment {
                filename: display,
                content_type: content_type(declared.as_deref()),
                size: data.len(),
                data: Some(data),
            });
        } else {
            form.fields
                .push((name, String::from_utf8_lossy(&data).into_owned()));
        }
    }
    if form.refused.is_some() {
        form.files.clear();
    }
    form
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_are_kept_only_when_they_look_like_types() {
        assert_eq!(content_type(Some("image/PNG")), "image/png");
        assert_eq!(
            content_type(Some("text/html; charset=utf-8")),
            "application/octet-stream"
        );
        assert_eq!(content_type(Some("nada")), "application/octet-stream");
        assert_eq!(content_type(None), "application/octet-stream");
    }

    #[test]
    fn limits_leave_room_for_the_text() {
        let l = UploadLimits {
            file_bytes: 10,
            files: 2,
            total_bytes: 20,
            text_bytes: 5,
        };
        assert_eq!(l.body_limit(), 20 + 5 + FRAMING_BYTES);
        assert!(
            Refusal::FileTooLarge("a.png".into())
                .error(&l)
                .message
                .contains("«a.png»")
        );
        assert_eq!(
            Refusal::EmptyFile("a".into()).error(&l).status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
}
