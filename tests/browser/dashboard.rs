//! The administrator's end of the day: the dashboard's figures, then the closed tickets
//! downloaded as CSV and opened to check its rows.

use crate::harness::Browser;
use crate::journeys::sign_in;

/// Signs in as the administrator, reads the dashboard, downloads the CSV export and checks
/// that it holds exactly the `closed` tickets (number, technician, resolution).
pub async fn administrator_reads_the_dashboard_and_exports(
    b: &Browser,
    email: &str,
    password: &str,
    closed: &[(&str, &str, &str)],
    open: &[&str],
) {
    sign_in(b, "/login/admin", email, password).await;
    b.wait_path("/").await;
    b.follow("header", "Tablero").await;
    b.wait_path("/dashboard").await;
    b.wait_text("Incidencias por estado").await;

    // The count cards: one per status, plus the open total.
    let counts = b
        .js(
            "const c = {}; document.querySelectorAll('.counts .count').forEach(e => \
             c[e.querySelector('.badge, span').textContent.trim()] = \
             Number(e.querySelector('strong').textContent)); return c",
        )
        .await;
    assert_eq!(
        counts["Cerradas (desde el inicio)"],
        closed.len(),
        "{counts}"
    );
    assert_eq!(counts["Abiertas"], open.len(), "{counts}");
    let text = b.text().await;
    for number in open {
        assert!(
            text.contains(number),
            "open ticket {number} on the dashboard"
        );
    }
    for (_, technician, _) in closed {
        assert!(text.contains(technician), "{technician} in «Por técnico»");
    }

    b.click_text("main", "Exportar CSV").await;
    let file = b.downloaded(".csv").await;
    let bytes = std::fs::read(&file).expect("read the downloaded CSV");
    let text = String::from_utf8(bytes).expect("UTF-8 CSV");
    // For Excel: a byte-order mark and CRLF line ends.
    let body = text
        .strip_prefix('\u{feff}')
        .expect("the CSV starts with a BOM");
    assert!(body.contains("\r\n"), "CRLF line ends");
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let headers = reader.headers().expect("header row").clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("column {name:?} in {headers:?}"))
    };
    let (number, technician, resolution) =
        (col("Número"), col("Técnico"), col("Nota de resolución"));
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a CSV row")).collect();
    assert_eq!(
        rows.len(),
        closed.len(),
        "one row per closed ticket in {}:\n{body}",
        file.display()
    );
    for (want_number, want_technician, want_resolution) in closed {
        let row = rows
            .iter()
            .find(|r| &r[number] == *want_number)
            .unwrap_or_else(|| panic!("{want_number} in the CSV:\n{body}"));
        assert_eq!(&row[technician], *want_technician);
        assert_eq!(&row[resolution], *want_resolution);
    }
    for open_number in open {
        assert!(
            !rows.iter().any(|r| &r[number] == *open_number),
            "an open ticket is not exported"
        );
    }
}
