//! `soporte demo`: realistic data whose projections agree with the timeline and the rules.

use crate::both_backends;
use crate::helpers::*;
use reqwest::StatusCode;
use soporte::service::demo::DemoOptions;

async fn demo_data_is_consistent_and_usable(app: TestApp) {
    // Small batches: on PostgreSQL the load's two connections write at the same time, and
    // every counter and figure below must still add up.
    let options = DemoOptions {
        rebuild_indexes_from: 1_000,
        batch: 150,
        ..DemoOptions::new(2_000, 90, 7)
    };
    let started = soporte::domain::time::now();
    let report = app.services.demo(&options).await.unwrap();
    assert_eq!(report.tickets, 2_000);
    assert!(report.events > 6_000, "whole timelines: {}", report.events);
    assert_eq!(app.count("SELECT COUNT(*) FROM tickets").await, 2_000);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ticket_events").await as u64,
        report.events
    );
    // The counters agree with the rows, status by status and technician by technician.
    assert_eq!(
        app.count("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM ticket_counts")
            .await,
        2_000
    );
    let mismatched = app
        .count(
            "SELECT COUNT(*) FROM (SELECT status, COALESCE(assignee_id, 0) AS a, COUNT(*) AS n FROM tickets GROUP BY status, COALESCE(assignee_id, 0)) g \
             LEFT JOIN ticket_counts c ON c.status = g.status AND c.assignee_id = g.a WHERE c.n IS NULL OR c.n <> g.n",
        )
        .await;
    assert_eq!(mismatched, 0);
    // Projections follow the timeline: every closed ticket has its close, every ticket its creation.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM tickets WHERE status = 'cerrado' AND closed_at IS NULL")
            .await,
        0
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM tickets WHERE status <> 'cerrado' AND closed_at IS NOT NULL"
        )
        .await,
        0
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM tickets t WHERE NOT EXISTS (SELECT 1 FROM ticket_events e WHERE e.ticket_id = t.id AND e.kind = 'created')").await,
        0
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM tickets t WHERE t.closed_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ticket_events e WHERE e.ticket_id = t.id AND e.kind = 'closed' AND e.at = t.closed_at)").await,
        0
    );
    assert!(
        app.count("SELECT COUNT(*) FROM tickets WHERE status = 'cerrado'")
            .await
            > 1_500,
        "old tickets are closed"
    );
    assert!(
        app.count("SELECT COUNT(*) FROM ticket_events WHERE kind = 'returned'")
            .await
            > 0
    );
    assert!(
        app.count("SELECT COUNT(*) FROM ticket_events WHERE kind = 'reassigned'")
            .await
            > 0
    );
    // The rebuilt indexes are all back.
    let indexes = match app.backend {
        soporte::storage::Backend::Sqlite => app.count("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN ('tickets_created', 'ticket_events_handoffs', 'tickets_status_id')").await,
        soporte::storage::Backend::Postgres => app.count("SELECT COUNT(*) FROM pg_indexes WHERE indexname IN ('tickets_created', 'ticket_events_handoffs', 'tickets_status_id')").await,
    };
    assert_eq!(indexes, 3);
    if app.backend == soporte::storage::Backend::Postgres {
        // The search index, dropped for the load, is back and holds every ticket's document.
        assert_eq!(
            app.count("SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'ticket_search_doc'")
                .await,
            1
        );
        assert_eq!(
            app.count("SELECT COUNT(*) FROM ticket_search s JOIN tickets t ON t.id = s.ticket_id")
                .await,
            2_000
        );
        // The foreign keys set aside for the load are back, and checked.
        assert_eq!(
            app.count(
                "SELECT COUNT(*) FROM pg_constraint WHERE contype = 'f' AND convalidated \
                 AND conrelid IN ('tickets'::regclass, 'ticket_events'::regclass, 'ticket_search'::regclass)"
            )
            .await,
            7
        );
    }
    // The demo staff can sign in and use everything.
    let c = TestApp::client();
    let r = app
        .sign_in(
            &c,
            "/login",
            "patricia.vargas@miempresa.com",
            soporte::service::demo::DEMO_PASSWORD,
        )
        .await;
    assert_redirect_to(&r, "/");
    let csrf = app.csrf_of(&c, "/").await;
    let b = Browser {
        client: c,
        csrf,
        user: app
            .services
            .user_by_email("patricia.vargas@miempresa.com")
            .await
            .unwrap(),
        base: app.url(""),
    };
    let (s, v) = b.get_json("/api/v1/tickets?q=impresora").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        !v["items"].as_array().unwrap().is_empty(),
        "search finds demo tickets"
    );
    let (s, v) = b.get_json("/api/v1/dashboard").await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["time_to_close"]["count"].as_u64().unwrap() > 0);
    // The daily figures the demo wrote are what migration 0008 derives from the tickets and
    // their timelines: undo the migration, run it again and compare every dated figure.
    let period = "/api/v1/dashboard?from=2026-01-01&to=2027-12-31";
    let dated = |mut v: serde_json::Value| {
        for k in [
            "generated_at",
            "queue_wait", // its source table is gone; a backfill starts it empty
            "open_tickets",
            "backlog_age",
            "backlog_buckets",
            "longest_wait_now_seconds",
        ] {
            v.as_object_mut().unwrap().remove(k);
        }
        v
    };
    let (_, before) = b.get_json(period).await;
    for sql in [
        "DELETE FROM _sqlx_migrations WHERE version = 8",
        "DROP TABLE daily_figures",
        "DROP INDEX tickets_open",
        "DROP INDEX tickets_open_assignee",
        "DROP INDEX tickets_queued",
        "CREATE TABLE queue_waits (ticket_id BIGINT NOT NULL REFERENCES tickets(id), \
         ended_at BIGINT NOT NULL, secs BIGINT NOT NULL)",
        "CREATE INDEX tickets_assigned_cover ON tickets(first_assigned_at, assignee_id, created_at)",
        "CREATE INDEX tickets_response_cover ON tickets(first_response_at, assignee_id, created_at)",
    ] {
        sqlx::raw_sql(sql).execute(app.store.pool()).await.unwrap();
    }
    app.store.migrate().await.unwrap();
    let (_, after) = b.get_json(period).await;
    assert!(before["time_to_close"]["count"].as_u64().unwrap() > 1_000);
    assert_eq!(dated(before), dated(after));

    // Service levels: priorities and categories spread, realistic misses, and clocks and
    // figures that are what the live code computes from the timelines: replaying every
    // ticket changes nothing, and the daily figures hold every decided clock once.
    assert_eq!(
        app.count("SELECT CAST(COUNT(DISTINCT priority) AS BIGINT) FROM tickets")
            .await,
        4
    );
    assert!(
        app.count("SELECT COUNT(*) FROM tickets WHERE category_id IS NOT NULL")
            .await
            > 1_500
    );
    let missed = app
        .count("SELECT COUNT(*) FROM tickets WHERE sla_breach_at IS NOT NULL")
        .await;
    assert!(
        (100..1_500).contains(&missed),
        "{missed} tickets missed a target"
    );
    assert!(
        app.count("SELECT COUNT(*) FROM ticket_events WHERE kind = 'sla_breach'")
            .await
            > 0
    );
    let changed = app
        .services
        .recompute_sla(soporte::service::sla::Which::Since(i64::MIN))
        .await
        .unwrap();
    assert_eq!(changed, 0, "the demo's clocks are the live rules' clocks");
    let decided = app
        .count(
            "SELECT CAST(SUM(CASE WHEN first_assigned_at IS NOT NULL OR status = 'cerrado' THEN 1 ELSE 0 END \
             + CASE WHEN first_response_at IS NOT NULL OR status = 'cerrado' THEN 1 ELSE 0 END \
             + CASE WHEN status = 'cerrado' THEN 1 ELSE 0 END) AS BIGINT) FROM tickets",
        )
        .await;
    assert_eq!(
        app.count("SELECT CAST(SUM(n) AS BIGINT) FROM sla_figures")
            .await,
        decided
    );
    // The warnings a live system would have sent are in the timelines: nothing is owed.
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM tickets WHERE sla_notify_at <= {started}"
        ))
        .await,
        0
    );

    // New tickets get ids after the demo's.
    let t = app.intake("c@d.com", "después", "b").await;
    assert_eq!(t["id"], 2_001);
}
both_backends!(demo_data_is_consistent_and_usable);

/// A search pages through every match, newest first, whatever the word's frequency. (On
/// PostgreSQL a search looks among the newest 2,048 tickets first and widens its window until
/// the page is full: six thousand tickets take every path — a common word's page from the
/// first window, a rarer one's after widening, a missing word's after looking everywhere.)
async fn search_pages_hold_every_match_newest_first(app: TestApp) {
    let options = DemoOptions {
        rebuild_indexes_from: 1_000,
        ..DemoOptions::new(6_000, 90, 11)
    };
    app.services.demo(&options).await.unwrap();
    let user = app
        .services
        .user_by_email("patricia.vargas@miempresa.com")
        .await
        .unwrap();
    let token = app.token_for(&user).await;
    let client = TestApp::client();
    let mut sizes = Vec::new();
    for q in [
        "impresora",
        "quispe",
        "ana quispe",
        "anexo",
        "palabrainexistente",
        "impresor",
    ] {
        let terms: Vec<&str> = q.split(' ').collect();
        let truth_sql = match app.backend {
            soporte::storage::Backend::Sqlite => format!(
                "SELECT rowid FROM ticket_search WHERE ticket_search MATCH '{}' ORDER BY rowid DESC",
                terms
                    .iter()
                    .map(|t| format!("\"{t}\"*"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            soporte::storage::Backend::Postgres => format!(
                "SELECT ticket_id FROM ticket_search WHERE doc @@ to_tsquery('simple', '{}') \
                 ORDER BY ticket_id DESC",
                terms
                    .iter()
                    .map(|t| format!("{t}:*"))
                    .collect::<Vec<_>>()
                    .join(" & ")
            ),
        };
        let truth: Vec<i64> = sqlx::query_scalar(&truth_sql)
            .fetch_all(app.store.pool())
            .await
            .unwrap();
        let first = format!("/api/v1/tickets?q={}", q.replace(' ', "+"));
        let mut path = first.clone();
        let mut found: Vec<i64> = Vec::new();
        for _ in 0..1_000 {
            let r = client
                .get(app.url(&path))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            let v: serde_json::Value = r.json().await.unwrap();
            found.extend(
                v["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["id"].as_i64().unwrap()),
            );
            match v["next_cursor"].as_str() {
                Some(c) => path = format!("{first}&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(found, truth, "every match of {q:?}, newest first");
        sizes.push(truth.len());
    }
    // Common words, a rare pair, and nothing.
    assert!(sizes[0] > 200 && sizes[1] > 200, "{sizes:?}");
    assert!(sizes[2] > 0 && sizes[2] < 60, "{sizes:?}");
    assert_eq!(sizes[4], 0);
    // A term that is only the beginning of indexed words finds them all.
    assert!(sizes[5] >= sizes[0], "{sizes:?}");
    if app.backend == soporte::storage::Backend::Sqlite {
        // SQLite's walk of the index spells a term out as the words it begins, up to 64 of
        // them, and leaves a term that begins more a prefix: both kinds were searched above.
        let longer = |t: &str| {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM ticket_search_terms WHERE term > $1 AND term < $2",
            )
            .bind(t.to_string())
            .bind(format!("{t}\u{10FFFF}"))
            .fetch_one(app.store.pool())
        };
        assert!(longer("impresor").await.unwrap() <= 64);
        assert!(longer("quispe").await.unwrap() > 64);
    } else {
        // PostgreSQL's vocabulary (migration 0250), which its index reads spell terms out
        // from, holds every word of every document the demo loaded in bulk.
        let missing = app
            .count(
                "SELECT COUNT(*) FROM (SELECT DISTINCT unnest(tsvector_to_array(doc)) AS w \
                 FROM ticket_search) d \
                 WHERE NOT EXISTS (SELECT 1 FROM ticket_search_words v WHERE v.word = d.w)",
            )
            .await;
        assert_eq!(missing, 0);
        assert!(app.count("SELECT COUNT(*) FROM ticket_search_words").await > 100);
    }
}
both_backends!(search_pages_hold_every_match_newest_first);
