#!/usr/bin/env python3
"""How PostgreSQL takes a batch of ticket rows in each form the writer could send (issue 17):
a VALUES list of inlined typed literals (what the writer sends below six rows), one
json_to_recordset (from six on), and an unnest of one array literal a column (tried, dropped).

For each size it writes the INSERT of that many 39-column ticket rows (the shape the intake
writes), runs it with pgbench in a transaction that is rolled back (nothing stays), and prints
pgbench's mean latency per transaction, less the mean of an empty BEGIN/ROLLBACK: the
server's time to parse, plan and run the INSERT. Needs a database with soporte's schema.

    python3 bench/rows.py                                   # soporte_bench, sizes 1 2 4 6 8 16 32
    DB=postgres://postgres@127.0.0.1:5432/soporte_bench SIZES="1 32" DURATION=5 python3 bench/rows.py
"""
import json
import os
import re
import subprocess
import tempfile

DB = os.environ.get("DB", "postgres://postgres@127.0.0.1:5432/soporte_bench")
SIZES = [int(n) for n in os.environ.get("SIZES", "1 2 4 6 8 16 32").split()]
SECONDS = os.environ.get("DURATION", "4")
PGBENCH = os.environ.get("PGBENCH") or next(
    (p for p in ("/usr/lib/postgresql/15/bin/pgbench", "pgbench") if os.path.exists(p) or p == "pgbench"))

COLUMNS = ("id subject body requester created_by created_at requester_name channel status version "
           "assignee_id updated_at first_assigned_at first_response_at closed_at closed_by resolution "
           "last_event_at last_event_kind queued_since waiting_since rating rating_comment priority "
           "category_id assignment_target assignment_due_at assignment_secs response_target "
           "response_due_at response_secs resolution_target resolution_due_at resolution_secs "
           "sla_due_at sla_warn_at sla_breach_at sla_notify_at sla_revision").split()
TEXT = {"subject", "body", "requester", "requester_name", "channel", "status", "resolution",
        "last_event_kind", "rating_comment", "priority"}
TYPES = ["text" if c in TEXT else "int8" for c in COLUMNS]


def row(i):
    """A new intake ticket's row, as the writer fills it (ids far past any real ticket)."""
    at = 1796172811
    return [2_000_000_000 + i, f"Prueba de carga 1-{i}", "Mensaje de prueba de carga",
            f"carga{i}@cliente.pe", None, at, None, "correo", "nuevo", 1, None, at, None, None,
            None, None, None, at, "created", at, None, None, None, "media", None, 60,
            at + 47189, None, 240, at + 57989, None, 1800, at + 252389, None, at + 47189,
            at + 46469, at + 47189, at + 46469, 1]


def escaped(text):
    return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def values(rows):
    def lit(x, t):
        if x is None:
            return f"NULL::{t}"
        return f"({x})::int8" if t == "int8" else escaped(x) + "::text"
    body = ", ".join("(" + ", ".join(lit(x, t) for x, t in zip(r, TYPES)) + ")" for r in rows)
    return f"INSERT INTO tickets ({', '.join(COLUMNS)}) VALUES {body}"


def recordset(rows):
    data = json.dumps([{f"c{j}": x for j, x in enumerate(r)} for r in rows], ensure_ascii=False)
    cols = ", ".join(f"c{j} {t}" for j, t in enumerate(TYPES))
    pick = ", ".join(f"c{j}" for j in range(len(COLUMNS)))
    return (f"INSERT INTO tickets ({', '.join(COLUMNS)}) SELECT {pick} "
            f"FROM json_to_recordset({escaped(data)}) AS u({cols})")


def unnest(rows):
    arrays = []
    for j, t in enumerate(TYPES):
        items = []
        for r in rows:
            x = r[j]
            if x is None:
                items.append("NULL")
            elif t == "int8":
                items.append(str(x))
            else:
                items.append('"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"')
        arrays.append(escaped("{" + ",".join(items) + "}") + f"::{t}[]")
    names = ", ".join(f"c{j}" for j in range(len(COLUMNS)))
    return (f"INSERT INTO tickets ({', '.join(COLUMNS)}) SELECT {names} "
            f"FROM unnest({', '.join(arrays)}) AS u({names})")


def mean_ms(statement):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write("BEGIN;\n" + (statement + ";\n" if statement else "") + "ROLLBACK;\n")
        path = f.name
    try:
        out = subprocess.run([PGBENCH, "-n", "-M", "simple", "-f", path, "-T", SECONDS, DB],
                             capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(path)
    return float(re.search(r"latency average = ([0-9.]+) ms", out).group(1))


def main():
    empty = mean_ms(None)
    print(f"pgbench, {SECONDS} s each, on {DB.rsplit('/', 1)[-1]}; an empty BEGIN/ROLLBACK: "
          f"{empty:.3f} ms (taken off each figure below)")
    print(f"{'rows':>5} {'VALUES ms':>10} {'recordset ms':>13} {'unnest ms':>10}")
    for n in SIZES:
        rows = [row(i) for i in range(n)]
        figures = [mean_ms(form(rows)) - empty for form in (values, recordset, unnest)]
        print(f"{n:>5} " + " ".join(f"{x:>{w}.3f}" for x, w in zip(figures, (10, 13, 10))))


if __name__ == "__main__":
    main()
