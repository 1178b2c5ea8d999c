//! Files of a ticket's messages: `GET /attachments/{id}` (and the first round's
//! `/tickets/{id}/attachments/{a}`), through the ticket's visibility — a ticket the user may not
//! see has no files for them (404) — always as a download; `?vista=miniatura` shows a real
//! PNG, JPEG, GIF or WebP inline for the timeline's thumbnails, under a CSP that lets it run
//! nothing. Also how a file is listed on a page (`FileView`), for staff and the requester.

use crate::domain::mail::{AttachmentInfo, human_size};
use crate::web::AppState;
use crate::web::error::{AppError, PageError};
use crate::web::extract::{CurrentUser, TicketPath};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// The `vista` value that asks for the inline image.
pub const THUMBNAIL: &str = "miniatura";

/// Image types shown inline as thumbnails; anything else (SVG included: it can carry script)
/// is only ever downloaded.
const INLINE_IMAGES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// A file, ready to list on a page.
pub struct FileView {
    pub url: String,
    /// The inline image for a thumbnail, for images only.
    pub thumbnail: Option<String>,
    pub filename: String,
    pub size: String,
    /// False when the file was over the size limit and only its record was kept.
    pub stored: bool,
}

impl FileView {
    /// `base` is where the files are served: `/attachments` for staff, the status page's own
    /// path for the requester.
    pub fn new(a: &AttachmentInfo, base: &str) -> FileView {
        let url = format!("{base}/{}", a.id);
        FileView {
            thumbnail: (a.stored && is_inline_image(&a.content_type))
                .then(|| format!("{url}?vista={THUMBNAIL}")),
            url,
            filename: a.filename.clone(),
            size: human_size(usize::try_from(a.size).unwrap_or(0)),
            stored: a.stored,
        }
    }
}

fn is_inline_image(content_type: &str) -> bool {
    INLINE_IMAGES.contains(&content_type.trim().to_ascii_lowercase().as_str())
}

/// Whether the bytes really are an image of the declared type (a renamed page is not).
fn looks_like(content_type: &str, data: &[u8]) -> bool {
    match content_type.trim().to_ascii_lowercase().as_str() {
        "image/png" => data.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => data.starts_with(&[0xFF, 0xD8, 0xFF]),
        "image/gif" => data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a"),
        "image/webp" => data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP",
        _ => false,
    }
}

/// `filename*=UTF-8''…` encoding (RFC 5987).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Types a browser could run as a page are always served as plain downloads.
fn served_type(stored: &str) -> String {
    let t = stored.trim().to_ascii_lowercase();
    let risky = t.contains("html") || t.contains("xml") || t.contains("javascript") || t.is_empty();
    if risky || !t.is_ascii() || t.contains(['\r', '\n', ';', ',']) {
        "application/octet-stream".to_string()
    } else {
        t
    }
}

fn disposition(kind: &str, filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "{kind}; filename=\"{}\"; filename*=UTF-8''{}",
        ascii.replace(['"', '\\'], "_"),
        percent_encode(filename)
    )
}

/// The file as a download: its stored type (never one a browser would run), its name, no
/// sniffing, no caching.
pub fn download(info: &AttachmentInfo, data: Vec<u8>) -> Response {
    let mut response = data.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&served_type(&info.content_type)) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&disposition("attachment", &info.filename)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The file shown inline, for images of the four kinds whose bytes match their type; anything
/// else has no thumbnail (404). Its CSP lets the document load and run nothing, even opened
/// on its own.
pub fn thumbnail(info: &AttachmentInfo, data: Vec<u8>) -> Result<Response, AppError> {
    if !is_inline_image(&info.content_type) || !looks_like(&info.content_type, &data) {
        return Err(AppError::not_found());
    }
    let mut response = download(info, data);
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&disposition("inline", &info.filename)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    Ok(response)
}

/// `?vista=miniatura`.
#[derive(Debug, Default, Deserialize)]
pub struct View {
    #[serde(default)]
    pub vista: String,
}

impl View {
    pub fn respond(&self, info: &AttachmentInfo, data: Vec<u8>) -> Result<Response, AppError> {
        if self.vista == THUMBNAIL {
            thumbnail(info, data)
        } else {
            Ok(download(info, data))
        }
    }
}

/// An attachment id: canonical positive digits; anything else is the 404 of a missing file.
pub fn attachment_id(raw: &str) -> Result<i64, AppError> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n > 0 && n.to_string() == raw)
        .ok_or_else(AppError::not_found)
}

/// `GET /attachments/{id}`.
pub async fn attachment(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(view): Query<View>,
) -> Result<Response, PageError> {
    let (info, data) = state
        .services
        .attachment_by_id(&user.actor(), attachment_id(&id)?)
        .await?;
    Ok(view.respond(&info, data)?)
}

/// The `{attachment}` of `/tickets/{id}/attachments/{attachment}`.
#[derive(Deserialize)]
pub struct AttachmentName {
    attachment: String,
}

/// `GET /tickets/{id}/attachments/{attachment}`: the first round's address, still served.
pub async fn ticket_attachment(
    State(state): State<AppState>,
    user: CurrentUser,
    TicketPath(ticket): TicketPath,
    Path(AttachmentName { attachment }): Path<AttachmentName>,
    Query(view): Query<View>,
) -> Result<Response, PageError> {
    let (info, data) = state
        .services
        .attachment(&user.actor(), ticket, attachment_id(&attachment)?)
        .await?;
    Ok(view.respond(&info, data)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_scripts_are_never_served_as_such() {
        assert_eq!(served_type("text/html"), "application/octet-stream");
        assert_eq!(served_type("image/svg+xml"), "application/octet-stream");
        assert_eq!(served_type("application/pdf"), "application/pdf");
        assert_eq!(
            percent_encode("informe técnico.pdf"),
            "informe%20t%C3%A9cnico.pdf"
        );
    }

    #[test]
    fn only_real_images_of_four_kinds_are_shown_inline() {
        assert!(looks_like("image/png", b"\x89PNG\r\n\x1a\nrest"));
        assert!(!looks_like("image/png", b"<html><script>"));
        assert!(looks_like("image/webp", b"RIFF\0\0\0\0WEBPVP8 "));
        assert!(!is_inline_image("image/svg+xml"));
        assert!(is_inline_image("IMAGE/JPEG"));
    }

    #[test]
    fn ids_are_canonical() {
        assert_eq!(attachment_id("12").ok(), Some(12));
        for bad in ["0", "-1", "012", "+3", "x", "99999999999999999999"] {
            assert!(attachment_id(bad).is_err(), "{bad}");
        }
    }
}
