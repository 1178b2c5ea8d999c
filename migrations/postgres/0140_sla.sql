-- Priorities, categories and service levels (issue 14).
-- The calendar (working hours per weekday in America/Lima, and holidays), the targets per
-- priority and the categories are the administrators'; a revision number says which version
-- of them a ticket's clocks were computed with (src/domain/sla.rs computes the clocks).

CREATE TABLE categories (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    -- The name folded (lower case, no accents): "Redes" and "redes" are one category.
    name_key TEXT NOT NULL UNIQUE,
    active BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);

-- One row per working weekday (1 = Monday … 7 = Sunday); a weekday without a row is off.
-- Minutes after midnight, Lima time.
CREATE TABLE sla_hours (
    weekday BIGINT PRIMARY KEY CHECK (weekday BETWEEN 1 AND 7),
    from_minute BIGINT NOT NULL CHECK (from_minute BETWEEN 0 AND 1440),
    to_minute BIGINT NOT NULL CHECK (to_minute BETWEEN 0 AND 1440),
    CHECK (from_minute < to_minute)
);
INSERT INTO sla_hours (weekday, from_minute, to_minute) VALUES
    (1, 480, 1080), (2, 480, 1080), (3, 480, 1080), (4, 480, 1080), (5, 480, 1080);

-- Days off, `aaaa-mm-dd`. Peru's national holidays for 2026 and 2027 ship with the binary (the
-- same list as domain::sla::PERU_HOLIDAYS); administrators add decrees and company days.
CREATE TABLE sla_holidays (
    day TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
INSERT INTO sla_holidays (day, name) VALUES
    ('2026-01-01', 'Año Nuevo'),
    ('2026-04-02', 'Jueves Santo'),
    ('2026-04-03', 'Viernes Santo'),
    ('2026-05-01', 'Día del Trabajo'),
    ('2026-06-07', 'Batalla de Arica y Día de la Bandera'),
    ('2026-06-29', 'San Pedro y San Pablo'),
    ('2026-07-23', 'Día de la Fuerza Aérea del Perú'),
    ('2026-07-28', 'Fiestas Patrias'),
    ('2026-07-29', 'Fiestas Patrias'),
    ('2026-08-06', 'Batalla de Junín'),
    ('2026-08-30', 'Santa Rosa de Lima'),
    ('2026-10-08', 'Combate de Angamos'),
    ('2026-11-01', 'Día de Todos los Santos'),
    ('2026-12-08', 'Inmaculada Concepción'),
    ('2026-12-09', 'Batalla de Ayacucho'),
    ('2026-12-25', 'Navidad'),
    ('2027-01-01', 'Año Nuevo'),
    ('2027-03-25', 'Jueves Santo'),
    ('2027-03-26', 'Viernes Santo'),
    ('2027-05-01', 'Día del Trabajo'),
    ('2027-06-07', 'Batalla de Arica y Día de la Bandera'),
    ('2027-06-29', 'San Pedro y San Pablo'),
    ('2027-07-23', 'Día de la Fuerza Aérea del Perú'),
    ('2027-07-28', 'Fiestas Patrias'),
    ('2027-07-29', 'Fiestas Patrias'),
    ('2027-08-06', 'Batalla de Junín'),
    ('2027-08-30', 'Santa Rosa de Lima'),
    ('2027-10-08', 'Combate de Angamos'),
    ('2027-11-01', 'Día de Todos los Santos'),
    ('2027-12-08', 'Inmaculada Concepción'),
    ('2027-12-09', 'Batalla de Ayacucho'),
    ('2027-12-25', 'Navidad');

-- Targets in business minutes per priority.
CREATE TABLE sla_policies (
    priority TEXT PRIMARY KEY CHECK (priority IN ('baja', 'media', 'alta', 'critica')),
    assignment_minutes BIGINT NOT NULL CHECK (assignment_minutes > 0),
    first_response_minutes BIGINT NOT NULL CHECK (first_response_minutes > 0),
    resolution_minutes BIGINT NOT NULL CHECK (resolution_minutes > 0)
);
INSERT INTO sla_policies (priority, assignment_minutes, first_response_minutes, resolution_minutes) VALUES
    ('critica', 15, 30, 240), ('alta', 30, 120, 600), ('media', 60, 240, 1800), ('baja', 240, 600, 3000);

-- Bumped by every change of the calendar or a policy. Instances cache the settings and look at
-- this number again every few seconds.
CREATE TABLE sla_revision (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL
);
INSERT INTO sla_revision (id, revision) VALUES (1, 1);

-- Met and missed clocks per Lima day and target (0 assignment, 1 first response, 2
-- resolution), written with the ticket writes like daily_figures. `entries` packs, per
-- (priority, category, technician), big-endian u32 `priority code, category, person, met,
-- breached` (src/storage/sla.rs).
CREATE TABLE sla_figures (
    day BIGINT NOT NULL,
    target BIGINT NOT NULL,
    n BIGINT NOT NULL,
    entries BYTEA NOT NULL,
    PRIMARY KEY (day, target)
);

-- The ticket's classification and its clocks (projections of the timeline, the calendar and
-- the policy, written by the one writer with every change). Per target: the target used, the
-- due instant, and the business seconds once stopped or while paused.
ALTER TABLE tickets ADD COLUMN priority TEXT NOT NULL DEFAULT 'media' CHECK (priority IN ('baja', 'media', 'alta', 'critica'));
ALTER TABLE tickets ADD COLUMN category_id BIGINT REFERENCES categories(id);
ALTER TABLE tickets ADD COLUMN assignment_target BIGINT;
ALTER TABLE tickets ADD COLUMN assignment_due_at BIGINT;
ALTER TABLE tickets ADD COLUMN assignment_secs BIGINT;
ALTER TABLE tickets ADD COLUMN response_target BIGINT;
ALTER TABLE tickets ADD COLUMN response_due_at BIGINT;
ALTER TABLE tickets ADD COLUMN response_secs BIGINT;
ALTER TABLE tickets ADD COLUMN resolution_target BIGINT;
ALTER TABLE tickets ADD COLUMN resolution_due_at BIGINT;
ALTER TABLE tickets ADD COLUMN resolution_secs BIGINT;
-- The next due of a running clock (the list's «vencimiento» order and «vencidas»), the
-- earliest warning instant of a running clock («por vencer»), the first missed due (the
-- dashboard's breached tickets) and the next notice to send (the warnings job).
ALTER TABLE tickets ADD COLUMN sla_due_at BIGINT;
ALTER TABLE tickets ADD COLUMN sla_warn_at BIGINT;
ALTER TABLE tickets ADD COLUMN sla_breach_at BIGINT;
ALTER TABLE tickets ADD COLUMN sla_notify_at BIGINT;
-- 0: never computed (tickets from before this migration; the server computes the open ones
-- at its next start, `soporte sla recompute` the rest).
ALTER TABLE tickets ADD COLUMN sla_revision BIGINT NOT NULL DEFAULT 0;

-- The due order reads this index in order; «por vencer» (warning passed, not yet due) reads
-- its range from now on and checks the warning instant inside it.
CREATE INDEX tickets_sla_due ON tickets(sla_due_at, id, sla_warn_at) WHERE sla_due_at IS NOT NULL;
CREATE INDEX tickets_sla_breach ON tickets(sla_breach_at, id) WHERE sla_breach_at IS NOT NULL;
CREATE INDEX tickets_sla_notify ON tickets(sla_notify_at) WHERE sla_notify_at IS NOT NULL;
