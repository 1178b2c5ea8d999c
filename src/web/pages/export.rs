//! `/export/closed.csv` and `/export/closed.xlsx`: closed tickets for Excel; a technician's
//! export holds only their own tickets. The CSV streams: the service hands the rows one by
//! one to a sink on a blocking thread, which writes them as CSV bytes into a buffer and passes
//! every ~64 KB through a small bounded channel to the response body, so memory stays flat
//! however many rows, and a slow client holds the reader back instead of filling memory.
//! The workbook is read the same way into a constant-memory worksheet (one row in memory; the
//! sheet goes to rust_xlsxwriter's own temporary file), saved into a nameless temporary file
//! once every row is in, and that file goes out through the same kind of channel. Building
//! it whole before the first byte keeps a proper answer for an export that cannot be made
//! (more rows than a sheet holds: 422; a failure: 500), at the cost of the client waiting
//! for the whole workbook to be built.

use crate::domain::ids::{TicketId, TicketNumber};
use crate::domain::time::{LimaFormatter, lima_civil, lima_range};
use crate::service::Services;
use crate::service::reports::{ClosedRowRef, ClosedSink};
use crate::web::AppState;
use crate::web::error::{AppError, PageError};
use crate::web::extract::CurrentUser;
use crate::web::query::date_range;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// CSV bytes gathered before they go to the response: the hand-off to the async side is
/// rare, and memory stays flat.
const FLUSH_AT: usize = 64 * 1024;
/// Buffers in flight between the reading thread and the response; beyond that the reader
/// waits for the client.
const IN_FLIGHT: usize = 4;
/// Excel's last row, less the header.
const XLSX_MAX_ROWS: u32 = 1_048_575;

pub const HEADERS: [&str; 26] = [
    "Número",
    "Remitente",
    "Asunto",
    "Técnico",
    "Creada",
    "Asignada",
    "Primera respuesta",
    "Cerrada",
    "Cerrada por",
    "Horas hasta asignar",
    "Horas hasta primera respuesta",
    "Horas hasta cierre",
    "Nota de resolución",
    "Valoración",
    "Comentario de valoración",
    "Prioridad",
    "Categoría",
    "Vencimiento asignación",
    "Asignación cumplida",
    "Minutos hábiles hasta asignar",
    "Vencimiento primera respuesta",
    "Primera respuesta cumplida",
    "Minutos hábiles hasta primera respuesta",
    "Vencimiento resolución",
    "Resolución cumplida",
    "Minutos hábiles hasta resolución",
];

/// "Sí", "No", or nothing when unknown.
fn yes_no(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "Sí",
        Some(false) => "No",
        None => "",
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ExportQuery {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub sep: String,
}

impl ExportQuery {
    fn range(&self) -> Result<(Option<i64>, Option<i64>), AppError> {
        let (from, to) = date_range(&self.from, &self.to)?;
        Ok(lima_range(from, to))
    }
}

/// A text cell: a leading apostrophe when Excel would read it as a formula (so it stays
/// text), and RFC 4180 quotes when it holds the separator, a quote, CR or LF (inner quotes
/// doubled); otherwise the text as it is.
fn csv_text(out: &mut Vec<u8>, text: &str, separator: u8) {
    let b = text.as_bytes();
    let formula = matches!(b.first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r'));
    // No early exit: the comparison folds into a vector loop over short cells.
    let quoted = b.iter().fold(false, |q, &c| {
        q | (c == separator) | (c == b'"') | (c == b'\r') | (c == b'\n')
    });
    if quoted {
        out.push(b'"');
    }
    if formula {
        out.push(b'\'');
    }
    if quoted {
        for (i, part) in b.split(|c| *c == b'"').enumerate() {
            if i > 0 {
                out.extend_from_slice(b"\"\"");
            }
            out.extend_from_slice(part);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(b);
    }
}

/// "00" to "99", for writing numbers two digits at a time.
const PAIRS: [u8; 200] = {
    let mut pairs = [0; 200];
    let mut i = 0;
    while i < 100 {
        pairs[2 * i] = b'0' + (i / 10) as u8;
        pairs[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    pairs
};

/// `n` in decimal, at least `width` digits (zero-padded).
fn decimal(out: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut i = digits.len();
    while n >= 100 {
        let d = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        digits[i..i + 2].copy_from_slice(&PAIRS[d..d + 2]);
    }
    if n >= 10 {
        i -= 2;
        digits[i..i + 2].copy_from_slice(&PAIRS[n as usize * 2..n as usize * 2 + 2]);
    } else {
        i -= 1;
        digits[i] = b'0' + n as u8;
    }
    out.extend_from_slice(&digits[i.min(digits.len() - width.min(digits.len()))..]);
}

/// The ticket number as `TicketNumber` displays it (`INC-000123`).
fn ticket_number(out: &mut Vec<u8>, id: i64) {
    if id >= 0 {
        out.extend_from_slice(TicketNumber::PREFIX.as_bytes());
        decimal(out, id as u64, 6);
    } else {
        use std::io::Write;
        let _ = write!(out, "{}", TicketNumber(crate::domain::ids::TicketId(id)));
    }
}

/// Hours from `from` to `to` with two decimals, as `format!("{:.2}")` of the hours as f64
/// prints them, with a decimal comma for the semicolon variant.
fn csv_hours(out: &mut Vec<u8>, from: i64, to: i64, decimal_comma: bool) {
    let secs = to.wrapping_sub(from).max(0);
    if secs >= 1 << 40 {
        use std::io::Write;
        let start = out.len();
        let _ = write!(out, "{:.2}", secs as f64 / 3600.0);
        if decimal_comma {
            for b in &mut out[start..] {
                if *b == b'.' {
                    *b = b',';
                }
            }
        }
        return;
    }
    // Hundredths of an hour are seconds / 36. Unless that is exactly half-way between two
    // hundredths, the f64 quotient is far closer to it than to the rounding boundary, so
    // integer rounding prints the same digits. Half-way, `{:.2}` rounds the f64 as it is:
    // up when division rounded it above the half, down when below, to even when exact (the
    // sign of the fused v·3600 − secs says which, exactly).
    let (whole, rest) = (secs as u64 / 36, secs % 36);
    let hundredths = if rest != 18 {
        whole + u64::from(rest > 18)
    } else {
        let v = secs as f64 / 3600.0;
        let above = v.mul_add(3600.0, -(secs as f64));
        if above > 0.0 || (above == 0.0 && whole % 2 == 1) {
            whole + 1
        } else {
            whole
        }
    };
    decimal(out, hundredths / 100, 1);
    let cents = (hundredths % 100) as usize * 2;
    out.extend_from_slice(&[
        if decimal_comma { b',' } else { b'.' },
        PAIRS[cents],
        PAIRS[cents + 1],
    ]);
}

/// One record of the CSV, CRLF-terminated.
fn csv_row(out: &mut Vec<u8>, r: &ClosedRowRef<'_>, separator: u8, dates: &mut LimaFormatter) {
    let decimal_comma = separator == b';';
    ticket_number(out, r.id);
    out.push(separator);
    csv_text(out, r.requester, separator);
    out.push(separator);
    csv_text(out, r.subject, separator);
    out.push(separator);
    csv_text(out, r.technician.unwrap_or(""), separator);
    out.push(separator);
    dates.write(r.created_at, out);
    out.push(separator);
    if let Some(t) = r.first_assigned_at {
        dates.write(t, out);
    }
    out.push(separator);
    if let Some(t) = r.first_response_at {
        dates.write(t, out);
    }
    out.push(separator);
    dates.write(r.closed_at, out);
    out.push(separator);
    csv_text(out, r.closed_by.unwrap_or(""), separator);
    out.push(separator);
    if let Some(t) = r.first_assigned_at {
        csv_hours(out, r.created_at, t, decimal_comma);
    }
    out.push(separator);
    if let Some(t) = r.first_response_at {
        csv_hours(out, r.created_at, t, decimal_comma);
    }
    out.push(separator);
    csv_hours(out, r.created_at, r.closed_at, decimal_comma);
    out.push(separator);
    csv_text(out, r.resolution.unwrap_or(""), separator);
    out.push(separator);
    if let Some(score) = r.rating {
        decimal(out, score.unsigned_abs(), 1);
    }
    out.push(separator);
    csv_text(out, r.rating_comment.unwrap_or(""), separator);
    out.push(separator);
    out.extend_from_slice(r.priority.label().as_bytes());
    out.push(separator);
    csv_text(out, r.category.unwrap_or(""), separator);
    for ((due, met), secs) in r.due.iter().zip(r.met()).zip(r.secs) {
        out.push(separator);
        if let Some(t) = due {
            dates.write(*t, out);
        }
        out.push(separator);
        out.extend_from_slice(yes_no(met).as_bytes());
        out.push(separator);
        if let Some(secs) = secs {
            decimal(out, (secs.max(0) / 60) as u64, 1);
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// The byte-order mark (so Excel reads UTF-8) and the header record.
fn csv_head(out: &mut Vec<u8>, separator: u8) {
    out.extend_from_slice("\u{feff}".as_bytes());
    for (i, h) in HEADERS.iter().enumerate() {
        if i > 0 {
            out.push(separator);
        }
        csv_text(out, h, separator);
    }
    out.extend_from_slice(b"\r\n");
}

type Chunk = Result<Bytes, std::io::Error>;

/// The export's sink: CSV into a buffer, each full buffer to the response body.
struct CsvSink {
    buf: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<Chunk>,
    separator: u8,
    dates: LimaFormatter,
    /// The response is gone (the client hung up): nothing more to send.
    gone: bool,
}

impl CsvSink {
    fn new(separator: u8, tx: tokio::sync::mpsc::Sender<Chunk>) -> CsvSink {
        let mut buf = Vec::with_capacity(FLUSH_AT + 4096);
        csv_head(&mut buf, separator);
        CsvSink {
            buf,
            tx,
            separator,
            dates: LimaFormatter::new(),
            gone: false,
        }
    }

    fn take(&mut self) -> Bytes {
        Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(FLUSH_AT + 4096),
        ))
    }
}

impl ClosedSink for CsvSink {
    fn row(&mut self, row: &ClosedRowRef<'_>) -> std::ops::ControlFlow<()> {
        csv_row(&mut self.buf, row, self.separator, &mut self.dates);
        if self.buf.len() >= FLUSH_AT {
            let bytes = self.take();
            // Waits while the client is behind; fails once the response was dropped.
            if self.tx.blocking_send(Ok(bytes)).is_err() {
                self.gone = true;
                return std::ops::ControlFlow::Break(());
            }
        }
        std::ops::ControlFlow::Continue(())
    }
}

fn attachment(name: &str, content_type: &'static str) -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
        ),
    ]
}

fn file_name(services: &Services, ext: &str) -> String {
    let today = crate::domain::time::lima_date(services.now())
        .map(|d| d.to_string())
        .unwrap_or_default();
    format!("incidencias-cerradas-{today}.{ext}")
}

pub async fn csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ExportQuery>,
) -> Result<Response, PageError> {
    let (from, to) = q.range()?;
    let separator = if q.sep == "semicolon" || q.sep == ";" {
        b';'
    } else {
        b','
    };
    let scope = state.services.export_scope(&user.actor(), from, to);
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(IN_FLIGHT);
    let services = state.services.clone();
    tokio::spawn(async move {
        let sink = CsvSink::new(separator, tx.clone());
        match services.each_closed(&scope, sink).await {
            Ok(mut sink) if !sink.gone => {
                let rest = sink.take();
                // An error here only means the client left before the last bytes.
                let _ = tx.send(Ok(rest)).await;
            }
            Ok(_) => tracing::debug!("the client left during the export"),
            Err(e) => {
                // Headers are gone already: end the body early and say why in the log.
                tracing::error!(error = %e, "failed to read the export");
                let _ = tx.send(Err(std::io::Error::other("export failed"))).await;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let name = file_name(&state.services, "csv");
    Ok((
        attachment(&name, "text/csv; charset=utf-8"),
        Body::from_stream(stream),
    )
        .into_response())
}

pub async fn xlsx(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ExportQuery>,
) -> Result<Response, PageError> {
    let (from, to) = q.range()?;
    let scope = state.services.export_scope(&user.actor(), from, to);
    let sink = blocking(|| XlsxSink::new(XLSX_MAX_ROWS)).await?;
    let sink = state.services.each_closed(&scope, sink).await?;
    if sink.too_many {
        return Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_rows",
            "Son demasiadas filas para una hoja de Excel: acote las fechas o use la exportación CSV.",
        )
        .into());
    }
    let (file, len) = blocking(move || sink.save()).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(IN_FLIGHT);
    // The file goes in chunks through the same small channel as the CSV; when the client
    // hangs up the send fails, the thread ends and closing the file frees its space.
    tokio::task::spawn_blocking(move || send_file(file, &tx));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let name = file_name(&state.services, "xlsx");
    let mut response = (
        attachment(
            &name,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        Body::from_stream(stream),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    Ok(response)
}

/// Runs workbook work (file I/O, zipping) on a blocking thread; a failure is logged and
/// answered as an internal error.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, WorkbookError> + Send + 'static,
) -> Result<T, AppError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "failed to build the workbook");
            Err(AppError::internal())
        }
        Err(e) => {
            tracing::error!(error = %e, "failed to join the workbook task");
            Err(AppError::internal())
        }
    }
}

/// Reads the saved workbook from its start and sends it in `FLUSH_AT` chunks; stops when the
/// response is gone.
fn send_file(mut file: std::fs::File, tx: &tokio::sync::mpsc::Sender<Chunk>) {
    use std::io::Read;
    loop {
        let mut buf = vec![0; FLUSH_AT];
        let chunk = match file.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                buf.truncate(n);
                Ok(Bytes::from(buf))
            }
            Err(e) => {
                // Headers are gone already: end the body early and say why in the log.
                tracing::error!(error = %e, "failed to read the saved workbook");
                Err(std::io::Error::other("export failed"))
            }
        };
        let failed = chunk.is_err();
        if tx.blocking_send(chunk).is_err() || failed {
            return;
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum WorkbookError {
    #[error("workbook: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error("temporary file: {0}")]
    Io(#[from] std::io::Error),
}

/// The workbook's sink: the same rows as the CSV, each written straight into a
/// constant-memory worksheet (rust_xlsxwriter keeps the current row and streams the sheet to
/// a temporary file of its own), so memory stays flat however many rows. Dates are typed as
/// dates (Lima wall-clock time), hours as numbers, widths set, header frozen and filterable.
/// It takes at most `cap` rows; one more stops the read and marks the export too large.
struct XlsxSink {
    book: rust_xlsxwriter::Workbook,
    date: rust_xlsxwriter::Format,
    number: rust_xlsxwriter::Format,
    /// Rows written below the header.
    rows: u32,
    cap: u32,
    too_many: bool,
    /// Why writing stopped early, if it did.
    failed: Option<rust_xlsxwriter::XlsxError>,
}

impl XlsxSink {
    fn new(cap: u32) -> Result<XlsxSink, WorkbookError> {
        use rust_xlsxwriter::{Format, Workbook};
        let mut book = Workbook::new();
        let sheet = book.add_worksheet_with_constant_memory()?;
        sheet.set_name("Cerradas")?;
        let widths = [
            12.0, 28.0, 40.0, 22.0, 17.0, 17.0, 17.0, 17.0, 22.0, 12.0, 12.0, 12.0, 50.0, 11.0,
            40.0, 10.0, 18.0, 17.0, 10.0, 12.0, 17.0, 10.0, 12.0, 17.0, 10.0, 12.0,
        ];
        for (i, w) in widths.iter().enumerate() {
            sheet.set_column_width(i as u16, *w)?;
        }
        let bold = Format::new().set_bold();
        for (c, h) in HEADERS.iter().enumerate() {
            sheet.write_string_with_format(0, c as u16, *h, &bold)?;
        }
        sheet.set_freeze_panes(1, 0)?;
        Ok(XlsxSink {
            book,
            date: Format::new().set_num_format("dd/mm/yyyy hh:mm"),
            number: Format::new().set_num_format("0.00"),
            rows: 0,
            cap,
            too_many: false,
            failed: None,
        })
    }

    fn write(&mut self, r: &ClosedRowRef<'_>) -> Result<(), rust_xlsxwriter::XlsxError> {
        use rust_xlsxwriter::{ExcelDateTime, XlsxError};
        // The cell holds Lima wall-clock time, as the CSV shows it.
        let lima = |t: i64| {
            let c = lima_civil(t)
                .ok_or_else(|| XlsxError::DateTimeRangeError(format!("instant {t}")))?;
            let small = |n: i8| n.unsigned_abs();
            ExcelDateTime::from_ymd(
                u16::try_from(c.year()).unwrap_or(0),
                small(c.month()),
                small(c.day()),
            )?
            .and_hms(
                u16::from(small(c.hour())),
                small(c.minute()),
                small(c.second()),
            )
        };
        let h = |t: i64| (t - r.created_at).max(0) as f64 / 3600.0;
        let row = self.rows;
        let (date, number) = (&self.date, &self.number);
        let sheet = self.book.worksheet_from_index(0)?;
        sheet.write_string(row, 0, TicketNumber(TicketId(r.id)).to_string())?;
        sheet.write_string(row, 1, r.requester)?;
        sheet.write_string(row, 2, r.subject)?;
        sheet.write_string(row, 3, r.technician.unwrap_or(""))?;
        sheet.write_datetime_with_format(row, 4, &lima(r.created_at)?, date)?;
        if let Some(t) = r.first_assigned_at {
            sheet.write_datetime_with_format(row, 5, &lima(t)?, date)?;
        }
        if let Some(t) = r.first_response_at {
            sheet.write_datetime_with_format(row, 6, &lima(t)?, date)?;
        }
        sheet.write_datetime_with_format(row, 7, &lima(r.closed_at)?, date)?;
        sheet.write_string(row, 8, r.closed_by.unwrap_or(""))?;
        if let Some(t) = r.first_assigned_at {
            sheet.write_number_with_format(row, 9, h(t), number)?;
        }
        if let Some(t) = r.first_response_at {
            sheet.write_number_with_format(row, 10, h(t), number)?;
        }
        sheet.write_number_with_format(row, 11, h(r.closed_at), number)?;
        sheet.write_string(row, 12, r.resolution.unwrap_or(""))?;
        if let Some(score) = r.rating {
            sheet.write_number(row, 13, score as f64)?;
        }
        if let Some(comment) = r.rating_comment {
            sheet.write_string(row, 14, comment)?;
        }
        sheet.write_string(row, 15, r.priority.label())?;
        sheet.write_string(row, 16, r.category.unwrap_or(""))?;
        for (i, ((due, met), secs)) in r.due.iter().zip(r.met()).zip(r.secs).enumerate() {
            let col = 17 + 3 * i as u16;
            if let Some(t) = due {
                sheet.write_datetime_with_format(row, col, &lima(*t)?, date)?;
            }
            sheet.write_string(row, col + 1, yes_no(met))?;
            if let Some(secs) = secs {
                sheet.write_number(row, col + 2, (secs.max(0) / 60) as f64)?;
            }
        }
        Ok(())
    }

    /// Adds the filter over the rows written and saves the workbook into a temporary file:
    /// the file, positioned at its start, and its length.
    fn save(mut self) -> Result<(std::fs::File, u64), WorkbookError> {
        use std::io::{Seek, SeekFrom, Write};
        if let Some(e) = self.failed {
            return Err(e.into());
        }
        self.book.worksheet_from_index(0)?.autofilter(
            0,
            0,
            self.rows,
            (HEADERS.len() - 1) as u16,
        )?;
        let mut file = temporary_file()?;
        {
            let mut out = std::io::BufWriter::with_capacity(FLUSH_AT, &mut file);
            self.book.save_to_writer(&mut out)?;
            out.flush()?;
        }
        let len = file.seek(SeekFrom::End(0))?;
        file.seek(SeekFrom::Start(0))?;
        Ok((file, len))
    }
}

impl ClosedSink for XlsxSink {
    fn row(&mut self, row: &ClosedRowRef<'_>) -> std::ops::ControlFlow<()> {
        if self.rows >= self.cap {
            self.too_many = true;
            return std::ops::ControlFlow::Break(());
        }
        self.rows += 1;
        match self.write(row) {
            Ok(()) => std::ops::ControlFlow::Continue(()),
            Err(e) => {
                self.failed = Some(e);
                std::ops::ControlFlow::Break(())
            }
        }
    }
}

/// A new file in the system's temporary directory (`TMPDIR`), readable only by this user,
/// whose name is removed at once: the open handle keeps its data until it is closed, so
/// nothing is left behind however the download ends, even if the process dies. (Where an
/// open file cannot lose its name, such as Windows, the file is left and the log says so.)
fn temporary_file() -> std::io::Result<std::fs::File> {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| std::io::Error::other(e.to_string()))?;
    let name: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let path = std::env::temp_dir().join(format!("soporte-export-{name}.xlsx"));
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&path)?;
    if let Err(e) = std::fs::remove_file(&path) {
        tracing::warn!(error = %e, path = %path.display(), "failed to unlink the export's temporary file");
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::format_lima;
    use crate::service::reports::ClosedRow;

    // The export as it was written before it streamed by hand (csv crate, a String per
    // cell): the reference the hand-written CSV must match byte for byte.
    fn neutralize(text: &str) -> String {
        match text.chars().next() {
            Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
            _ => text.to_string(),
        }
    }

    fn hours(from: i64, to: Option<i64>, decimal_comma: bool) -> String {
        match to {
            Some(t) => {
                let h = format!("{:.2}", (t - from).max(0) as f64 / 3600.0);
                if decimal_comma {
                    h.replace('.', ",")
                } else {
                    h
                }
            }
            None => String::new(),
        }
    }

    fn reference(rows: &[ClosedRow], separator: u8) -> Vec<u8> {
        let decimal_comma = separator == b';';
        let time = |t: Option<i64>| t.map(format_lima).unwrap_or_default();
        let mut w = csv::WriterBuilder::new()
            .delimiter(separator)
            .terminator(csv::Terminator::CRLF)
            .quote_style(csv::QuoteStyle::Necessary)
            .from_writer(Vec::new());
        w.write_record(HEADERS).unwrap();
        for r in rows {
            w.write_record([
                TicketNumber(crate::domain::ids::TicketId(r.id)).to_string(),
                neutralize(&r.requester),
                neutralize(&r.subject),
                neutralize(r.technician.as_deref().unwrap_or("")),
                format_lima(r.created_at),
                time(r.first_assigned_at),
                time(r.first_response_at),
                format_lima(r.closed_at),
                neutralize(r.closed_by.as_deref().unwrap_or("")),
                hours(r.created_at, r.first_assigned_at, decimal_comma),
                hours(r.created_at, r.first_response_at, decimal_comma),
                hours(r.created_at, Some(r.closed_at), decimal_comma),
                neutralize(r.resolution.as_deref().unwrap_or("")),
                r.rating.map(|s| s.to_string()).unwrap_or_default(),
                neutralize(r.rating_comment.as_deref().unwrap_or("")),
                r.priority.label().to_string(),
                neutralize(r.category.as_deref().unwrap_or("")),
                time(r.due[0]),
                yes_no(r.borrowed().met()[0]).to_string(),
                r.secs[0]
                    .map(|s| (s.max(0) / 60).to_string())
                    .unwrap_or_default(),
                time(r.due[1]),
                yes_no(r.borrowed().met()[1]).to_string(),
                r.secs[1]
                    .map(|s| (s.max(0) / 60).to_string())
                    .unwrap_or_default(),
                time(r.due[2]),
                yes_no(r.borrowed().met()[2]).to_string(),
                r.secs[2]
                    .map(|s| (s.max(0) / 60).to_string())
                    .unwrap_or_default(),
            ])
            .unwrap();
        }
        let mut out = "\u{feff}".as_bytes().to_vec();
        out.extend(w.into_inner().unwrap());
        out
    }

    fn written(rows: &[ClosedRow], separator: u8) -> Vec<u8> {
        let mut out = Vec::new();
        let mut dates = LimaFormatter::new();
        csv_head(&mut out, separator);
        for r in rows {
            csv_row(&mut out, &r.borrowed(), separator, &mut dates);
        }
        out
    }

    fn row(id: i64, text: &str, created_at: i64, secs: [i64; 3]) -> ClosedRow {
        ClosedRow {
            id,
            requester: format!("{text}@x.pe"),
            subject: text.to_string(),
            technician: (id % 3 != 0).then(|| text.to_string()),
            created_at,
            first_assigned_at: (id % 4 != 0).then(|| created_at + secs[0]),
            first_response_at: (id % 5 != 0).then(|| created_at + secs[1]),
            closed_at: created_at + secs[2],
            closed_by: (id % 7 != 0).then(|| format!("{text} b")),
            resolution: (id % 2 == 0).then(|| text.to_string()),
            rating: (id % 3 == 1).then_some(id % 5 + 1),
            rating_comment: (id % 6 == 1).then(|| text.to_string()),
            priority: crate::domain::classification::Priority::ALL[id.rem_euclid(4) as usize],
            category: (id % 3 == 1).then(|| format!("{text} cat")),
            due: [
                (id % 6 != 0).then(|| created_at.wrapping_add(secs[0] / 2)),
                (id % 5 != 1).then(|| created_at.wrapping_add(secs[1])),
                Some(created_at.wrapping_add(secs[2]).wrapping_sub(60)),
            ],
            secs: [
                (id % 6 != 0).then_some(secs[0] / 3),
                Some(secs[1]),
                (id % 9 != 0).then_some(secs[2]),
            ],
        }
    }

    #[test]
    fn the_hand_written_csv_matches_the_csv_crate() {
        let texts = [
            "Impresora",
            "",
            "=1+1",
            "+51999",
            "-2",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "a,b",
            "a;b",
            "dice \"hola\"",
            "\"",
            "línea\nnueva",
            "fin\r\n",
            "=HYPERLINK(\"http://x\")",
            "Cámara ñandú",
            "'ya",
            "-",
            "=",
            "a\"b,c;d\re\nf",
            " espacio ",
        ];
        let mut rows = Vec::new();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for i in 0..5_000_i64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let created = 1_700_000_000 + (x % 40_000_000) as i64 - 20_000_000;
            let secs = [
                (x >> 3) as i64 % 100_000 - 1_000,
                (x >> 9) as i64 % 1_000_000,
                (x >> 17) as i64 % 50_000_000 - 100,
            ];
            rows.push(row(
                i * 37 + (x % 3) as i64,
                texts[i as usize % texts.len()],
                created,
                secs,
            ));
        }
        rows.push(row(0, "x", 0, [0, 18, 36 * 7 + 18]));
        rows.push(row(1_234_567_890, "x", -5_000_000_000, [1 << 41, 3, 5]));
        rows.push(row(-5, "x", i64::MIN + 5, [0, 0, 0]));
        for separator in [b',', b';'] {
            let (want, got) = (reference(&rows, separator), written(&rows, separator));
            if want != got {
                let (w, g) = (
                    String::from_utf8_lossy(&want),
                    String::from_utf8_lossy(&got),
                );
                for (a, b) in w.split("\r\n").zip(g.split("\r\n")) {
                    assert_eq!(a, b);
                }
                assert_eq!(w, g);
            }
        }
    }

    fn feed(sink: &mut XlsxSink, rows: &[ClosedRow]) -> Vec<bool> {
        rows.iter()
            .map(|r| sink.row(&r.borrowed()).is_continue())
            .collect()
    }

    #[test]
    fn the_workbook_takes_rows_up_to_its_cap_then_stops() {
        let rows: Vec<ClosedRow> = (1..=4)
            .map(|id| row(id, "Impresora", 1_700_000_000, [60, 120, 3600]))
            .collect();
        let mut sink = XlsxSink::new(3).unwrap();
        assert_eq!(feed(&mut sink, &rows), [true, true, true, false]);
        assert!(sink.too_many);
        let mut sink = XlsxSink::new(4).unwrap();
        assert_eq!(feed(&mut sink, &rows), [true; 4]);
        assert!(!sink.too_many);
    }

    #[test]
    fn a_date_excel_cannot_hold_stops_the_workbook_with_an_error() {
        // 1811: before Excel's calendar.
        let rows = [
            row(1, "x", 1_700_000_000, [0, 0, 60]),
            row(2, "x", -5_000_000_000, [0, 0, 60]),
        ];
        let mut sink = XlsxSink::new(10).unwrap();
        assert_eq!(feed(&mut sink, &rows), [true, false]);
        assert!(sink.failed.is_some());
        assert!(sink.save().is_err());
    }

    #[test]
    fn the_saved_workbook_is_a_nameless_file_holding_every_row() {
        use std::io::Read;
        let rows: Vec<ClosedRow> = (1..=50)
            .map(|id| {
                row(
                    id,
                    "Cámara ñandú",
                    1_793_646_000 + id * 60,
                    [600, 1800, 7200],
                )
            })
            .collect();
        let mut sink = XlsxSink::new(XLSX_MAX_ROWS).unwrap();
        assert!(feed(&mut sink, &rows).into_iter().all(|ok| ok));
        let (mut file, len) = sink.save().unwrap();
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let link = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).unwrap();
            assert!(
                link.to_string_lossy().ends_with(" (deleted)"),
                "the file keeps no name: {link:?}"
            );
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes.len() as u64, len, "read from its start");
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut sheet = String::new();
        zip.by_name("xl/worksheets/sheet1.xml")
            .unwrap()
            .read_to_string(&mut sheet)
            .unwrap();
        assert_eq!(sheet.matches("<row ").count(), 51);
        assert!(sheet.contains("<autoFilter ref=\"A1:Z51\""));
        assert!(sheet.contains("<t>INC-000050</t>") && sheet.contains("Cámara ñandú"));
        // Ticket 1 was created at 2026-11-02 14:01 in Lima, assigned ten minutes later.
        assert!(sheet.contains("<v>46328.584027777"), "{sheet}");
        assert!(sheet.contains("<v>0.16666666666666666</v>"), "{sheet}");
    }

    #[test]
    fn hours_print_as_f64_formatting_does() {
        for secs in (0..400_000).chain([1 << 40, (1 << 40) + 18, i64::MAX / 2]) {
            for comma in [false, true] {
                let mut out = Vec::new();
                csv_hours(&mut out, 0, secs, comma);
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    hours(0, Some(secs), comma),
                    "{secs}"
                );
            }
        }
        let mut out = Vec::new();
        csv_hours(&mut out, 5400, 0, false);
        assert_eq!(out, b"0.00");
    }

    #[test]
    fn formulas_are_neutralized() {
        for bad in ["=1+1", "+51999", "-2", "@SUM(A1)", "\tx"] {
            let mut out = Vec::new();
            csv_text(&mut out, bad, b',');
            assert!(out.starts_with(b"'"), "{bad:?}");
        }
        let mut out = Vec::new();
        csv_text(&mut out, "\rx", b',');
        assert_eq!(out, b"\"'\rx\"");
        let mut out = Vec::new();
        csv_text(&mut out, "Impresora", b',');
        assert_eq!(out, b"Impresora");
    }
}
