//! `/export/closed.csv` and `/export/closed.xlsx`: closed tickets for Excel. The CSV streams
//! in chunks (memory stays flat however many rows); a technician's export holds only their
//! own tickets.

use crate::domain::time::{format_lima, lima_range, parse_date};
use crate::service::Services;
use crate::service::reports::{ClosedRow, ExportScope};
use crate::web::AppState;
use crate::web::error::{AppError, PageError};
use crate::web::extract::CurrentUser;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// Rows fetched per query while streaming.
const CHUNK: i64 = 5_000;
/// Excel's last row, less the header.
const XLSX_MAX_ROWS: u32 = 1_048_575;

pub const HEADERS: [&str; 13] = [
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
];

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
        let parse = |s: &str, which: &str| match s.trim() {
            "" => Ok(None),
            t => parse_date(t).map(Some).ok_or_else(|| {
                AppError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation",
                    format!("La fecha «{which}» no es válida (aaaa-mm-dd)."),
                )
            }),
        };
        Ok(lima_range(
            parse(&self.from, "desde")?,
            parse(&self.to, "hasta")?,
        ))
    }
}

/// A cell that Excel would read as a formula gets a leading apostrophe, so it stays text.
pub fn neutralize(text: &str) -> String {
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

fn csv_record(r: &ClosedRow, decimal_comma: bool) -> [String; 13] {
    let time = |t: Option<i64>| t.map(format_lima).unwrap_or_default();
    [
        crate::domain::ids::TicketNumber(crate::domain::ids::TicketId(r.id)).to_string(),
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
    ]
}

fn csv_chunk(rows: &[ClosedRow], separator: u8, header: bool) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(separator)
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::with_capacity(rows.len() * 200 + 16));
    if header {
        w.write_record(HEADERS)?;
    }
    for r in rows {
        w.write_record(csv_record(r, separator == b';'))?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
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

struct CsvStream {
    services: Services,
    scope: ExportScope,
    after: i64,
    separator: u8,
    started: bool,
    done: bool,
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
    let stream = futures_util::stream::unfold(
        CsvStream {
            services: state.services.clone(),
            scope,
            after: 0,
            separator,
            started: false,
            done: false,
        },
        |mut s| async move {
            if s.done {
                return None;
            }
            let rows = match s.services.closed_chunk(&s.scope, s.after, CHUNK).await {
                Ok(rows) => rows,
                Err(e) => {
                    // Headers are gone already: end the body early and say why in the log.
                    tracing::error!(error = %e, "failed to read the next export chunk");
                    s.done = true;
                    return Some((Err(std::io::Error::other("export failed")), s));
                }
            };
            let mut bytes = Vec::new();
            if !s.started {
                bytes.extend_from_slice("\u{feff}".as_bytes());
            }
            match csv_chunk(&rows, s.separator, !s.started) {
                Ok(b) => bytes.extend_from_slice(&b),
                Err(e) => {
                    tracing::error!(error = %e, "failed to write the export");
                    s.done = true;
                    return Some((Err(std::io::Error::other("export failed")), s));
                }
            }
            s.started = true;
            s.done = (rows.len() as i64) < CHUNK;
            s.after = rows.last().map(|r| r.id).unwrap_or(s.after);
            Some((Ok::<Bytes, std::io::Error>(Bytes::from(bytes)), s))
        },
    );
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
    let mut rows = Vec::new();
    let mut after = 0;
    loop {
        let chunk = state.services.closed_chunk(&scope, after, CHUNK).await?;
        let last = chunk.len() < CHUNK as usize;
        after = chunk.last().map(|r| r.id).unwrap_or(after);
        rows.extend(chunk);
        if rows.len() as u64 > u64::from(XLSX_MAX_ROWS) {
            return Err(AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "too_many_rows",
                "Son demasiadas filas para una hoja de Excel: acote las fechas o use la exportación CSV.",
            )
            .into());
        }
        if last {
            break;
        }
    }
    let bytes = tokio::task::spawn_blocking(move || workbook(&rows))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "failed to join the workbook task");
            AppError::internal()
        })?
        .map_err(|e| {
            tracing::error!(error = %e, "failed to build the workbook");
            AppError::internal()
        })?;
    let name = file_name(&state.services, "xlsx");
    Ok((
        attachment(
            &name,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        bytes,
    )
        .into_response())
}

/// The same rows as the CSV, as a real workbook: dates typed as dates (Lima time), hours
/// as numbers, widths set, header frozen and filterable.
fn workbook(rows: &[ClosedRow]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet_with_constant_memory()?;
    sheet.set_name("Cerradas")?;
    let widths = [
        12.0, 28.0, 40.0, 22.0, 17.0, 17.0, 17.0, 17.0, 22.0, 12.0, 12.0, 12.0, 50.0,
    ];
    for (i, w) in widths.iter().enumerate() {
        sheet.set_column_width(i as u16, *w)?;
    }
    let bold = Format::new().set_bold();
    let date = Format::new().set_num_format("dd/mm/yyyy hh:mm");
    let number = Format::new().set_num_format("0.00");
    for (c, h) in HEADERS.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    // Lima is UTC−5 all year: the cell holds Lima wall-clock time.
    let lima = |t: i64| ExcelDateTime::from_timestamp(t - 5 * 3600);
    for (i, r) in rows.iter().enumerate() {
        let row = (i + 1) as u32;
        sheet.write_string(
            row,
            0,
            crate::domain::ids::TicketNumber(crate::domain::ids::TicketId(r.id)).to_string(),
        )?;
        sheet.write_string(row, 1, &r.requester)?;
        sheet.write_string(row, 2, &r.subject)?;
        sheet.write_string(row, 3, r.technician.as_deref().unwrap_or(""))?;
        sheet.write_datetime_with_format(row, 4, &lima(r.created_at)?, &date)?;
        if let Some(t) = r.first_assigned_at {
            sheet.write_datetime_with_format(row, 5, &lima(t)?, &date)?;
        }
        if let Some(t) = r.first_response_at {
            sheet.write_datetime_with_format(row, 6, &lima(t)?, &date)?;
        }
        sheet.write_datetime_with_format(row, 7, &lima(r.closed_at)?, &date)?;
        sheet.write_string(row, 8, r.closed_by.as_deref().unwrap_or(""))?;
        let h = |t: i64| (t - r.created_at).max(0) as f64 / 3600.0;
        if let Some(t) = r.first_assigned_at {
            sheet.write_number_with_format(row, 9, h(t), &number)?;
        }
        if let Some(t) = r.first_response_at {
            sheet.write_number_with_format(row, 10, h(t), &number)?;
        }
        sheet.write_number_with_format(row, 11, h(r.closed_at), &number)?;
        sheet.write_string(row, 12, r.resolution.as_deref().unwrap_or(""))?;
    }
    sheet.autofilter(0, 0, rows.len() as u32, 12)?;
    book.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralized() {
        for bad in ["=1+1", "+51999", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert!(neutralize(bad).starts_with('\''), "{bad:?}");
        }
        assert_eq!(neutralize("Impresora"), "Impresora");
    }

    #[test]
    fn hours_use_the_locale_decimal_mark() {
        assert_eq!(hours(0, Some(5400), false), "1.50");
        assert_eq!(hours(0, Some(5400), true), "1,50");
        assert_eq!(hours(0, None, false), "");
    }
}
