//! `soporte demo`: realistic demo data — staff, senders, subjects and whole ticket lives
//! (assignments, comments, returns, passes, closes, reopenings) spread over months. Every
//! step is decided by `domain::ticket::decide` and projected by `domain::projection`, so the
//! timelines and figures follow the real rules; each whole life is then one `TicketWrite`,
//! committed in chunks through the one writer in bulk mode.

use super::accounts::{InitialPassword, ProfileInput};
use super::{Result, Services};
use crate::domain::classification::Priority;
use crate::domain::figures::Before;
use crate::domain::ids::UserId;
use crate::domain::projection::{self, CountDelta};
use crate::domain::sla::{self, Facts, Level, Settings, SlaRow, Transition};
use crate::domain::ticket::{Command, NewTicket, Status, Target, TicketState, decide};
use crate::domain::timeline::{EventData, EventKind};
use crate::domain::user::{Actor, Role, User};
use crate::storage::Writer;
use crate::storage::demo;
use crate::storage::sla::Timeline;
use crate::storage::write::rows::{EventRow, Fixed, TicketRow, TicketWrite};

pub const DEMO_PASSWORD: &str = "soporte-demo-2026";

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub tickets: u64,
    /// How many days back the tickets start.
    pub days: i64,
    pub seed: u64,
    /// From this many tickets on, secondary indexes are dropped and rebuilt after the load.
    pub rebuild_indexes_from: u64,
    /// Tickets a batch (one transaction of the writer).
    pub batch: u64,
}

impl DemoOptions {
    pub fn new(tickets: u64, days: i64, seed: u64) -> DemoOptions {
        DemoOptions {
            tickets,
            days,
            seed,
            rebuild_indexes_from: 50_000,
            batch: CHUNK,
        }
    }
}

#[derive(Debug, Clone)]
pub struct DemoReport {
    pub tickets: u64,
    pub events: u64,
    pub staff: Vec<(String, &'static str)>,
}

const TECHNICIANS: [(&str, &str, &str); 8] = [
    ("Lucía Ramos", "lucia.ramos", "Redes"),
    ("Carlos Quispe", "carlos.quispe", "Soporte"),
    ("Milagros Huamán", "milagros.huaman", "Impresoras"),
    ("Jorge Mamani", "jorge.mamani", "Servidores"),
    ("Rosa Chávez", "rosa.chavez", "Soporte"),
    ("Miguel Torres", "miguel.torres", "Redes"),
    ("Valeria Flores", "valeria.flores", "Aplicaciones"),
    ("Andrés Castillo", "andres.castillo", "Telefonía"),
];
const DISPATCHERS: [(&str, &str); 2] = [
    ("Patricia Vargas", "patricia.vargas"),
    ("Raúl Mendoza", "raul.mendoza"),
];
const FIRST: [&str; 20] = [
    "ana", "luis", "maria", "jose", "carmen", "jorge", "rosa", "miguel", "lucia", "pedro", "sofia",
    "diego", "valeria", "andres", "patricia", "ricardo", "elena", "fernando", "gabriela", "raul",
];
const LAST: [&str; 16] = [
    "quispe",
    "flores",
    "rodriguez",
    "garcia",
    "mamani",
    "huaman",
    "torres",
    "chavez",
    "ramirez",
    "vargas",
    "castillo",
    "rojas",
    "mendoza",
    "gutierrez",
    "diaz",
    "paredes",
];
const DOMAINS: [&str; 4] = [
    "miempresa.com",
    "ventas.miempresa.com",
    "clienteandino.pe",
    "logistica-sur.pe",
];
const ISSUES: [(&str, &str); 20] = [
    (
        "Problema de red",
        "No hay conexión en el piso 3 desde esta mañana.",
    ),
    (
        "La impresora no imprime",
        "La impresora de contabilidad muestra «atasco de papel» pero no hay papel atascado.",
    ),
    (
        "Cámara del almacén sin señal",
        "La cámara 4 del almacén se ve en negro en el grabador.",
    ),
    (
        "VPN no conecta desde casa",
        "Al conectar la VPN aparece «tiempo de espera agotado».",
    ),
    (
        "Correo no sincroniza en el celular",
        "Desde ayer el correo no llega al teléfono de la empresa.",
    ),
    (
        "Acceso al sistema contable",
        "Necesito acceso de lectura al módulo de cuentas por pagar.",
    ),
    (
        "Laptop muy lenta",
        "La laptop tarda más de diez minutos en iniciar.",
    ),
    (
        "Pantalla azul al iniciar",
        "La PC de recepción muestra pantalla azul al encender.",
    ),
    (
        "Olvidé mi contraseña",
        "No puedo ingresar a Windows; olvidé la contraseña.",
    ),
    (
        "Teléfono IP sin tono",
        "El anexo 214 no tiene tono desde el cambio de escritorio.",
    ),
    (
        "Proyector de la sala de reuniones",
        "El proyector no detecta la laptop por HDMI.",
    ),
    (
        "Instalar Office",
        "El nuevo equipo de compras no tiene Office instalado.",
    ),
    (
        "Wi-Fi de invitados caído",
        "Los visitantes no pueden conectarse a la red de invitados.",
    ),
    (
        "Escáner no envía al correo",
        "El escáner del segundo piso no envía los documentos escaneados.",
    ),
    (
        "Error al abrir el ERP",
        "Al abrir el ERP aparece «licencia no válida».",
    ),
    (
        "Mouse y teclado inalámbricos",
        "El teclado inalámbrico deja de responder cada pocos minutos.",
    ),
    (
        "Respaldo de archivos",
        "Necesito recuperar una carpeta borrada el viernes.",
    ),
    (
        "Alta de nuevo colaborador",
        "Ingresa un practicante el lunes: necesita correo y equipo.",
    ),
    (
        "Licencia de antivirus vencida",
        "El antivirus avisa que la licencia venció.",
    ),
    (
        "Carpeta compartida sin permisos",
        "No puedo abrir la carpeta compartida de Finanzas.",
    ),
];
/// The demo's categories, and each issue's (by `ISSUES` index; `None`: left without one).
const CATEGORIES: [&str; 7] = [
    "Redes",
    "Impresoras",
    "Hardware",
    "Correo",
    "Accesos y cuentas",
    "Telefonía",
    "Software",
];
const ISSUE_CATEGORY: [usize; 20] = [0, 1, 2, 0, 3, 4, 2, 2, 4, 5, 2, 6, 0, 1, 6, 2, 6, 4, 6, 4];

const COMMENTS: [&str; 6] = [
    "Reviso el equipo en sitio.",
    "Se reinició el servicio; quedo atento.",
    "Pedí al usuario una captura del error.",
    "Se cambió el cable de red.",
    "Se actualizó el controlador.",
    "Esperando confirmación del usuario.",
];
const RESOLUTIONS: [&str; 6] = [
    "Se reemplazó el cable y se verificó la conexión.",
    "Se reinstaló el controlador; funciona correctamente.",
    "Se restableció la contraseña y el usuario ingresó.",
    "Se configuró el equipo y se probó con el usuario.",
    "Se renovó la licencia.",
    "Se otorgaron los permisos solicitados.",
];
const RETURN_REASONS: [&str; 3] = [
    "No es de mi área",
    "Falta información del usuario",
    "Requiere compra de repuesto",
];
const PASS_REASONS: [&str; 3] = [
    "Es un problema de red",
    "Lo ve el especialista de aplicaciones",
    "Estaré de vacaciones",
];

/// A small, fast, seeded generator (splitmix64): the same seed gives the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// Skewed towards `min`: most waits are short, a few are long.
    fn skewed(&mut self, min: i64, max: i64) -> i64 {
        let u = self.unit();
        min + ((max - min) as f64 * u * u * u) as i64
    }
}

struct Staff {
    techs: Vec<(Target, Actor)>,
    dispatchers: Vec<Actor>,
}

/// One ticket's life, decided step by step until `now`.
struct Life {
    w: TicketWrite,
    state: TicketState,
    now: i64,
    comments: Vec<String>,
    /// The status changes so far (for the service-level clocks).
    transitions: Vec<Transition>,
    /// How fast people move on it: urgent tickets get quicker hands.
    pace: f64,
}

impl Life {
    /// Applies a command at `at` if that moment has come; returns false once it is the future.
    fn step(&mut self, actor: &Actor, at: i64, command: Command) -> bool {
        if at > self.now {
            return false;
        }
        let Ok(change) = decide(&self.state, actor, command) else {
            return true;
        };
        let row = &mut self.w.row;
        let created_at = self.w.at;
        let p = projection::change(
            Before {
                created_at,
                status: self.state.status,
                assignee: self.state.assignee,
                milestones: &row.milestones,
            },
            row.last_event_kind,
            &change,
            actor,
            at,
        );
        self.w.figures.extend(p.figures);
        self.comments.extend(p.search);
        for e in &change.events {
            if let Ok(event) = EventRow::new(e.kind, &e.data, actor, at) {
                self.w.events.push(event);
            }
            if let Some(to) = &e.data.to_status {
                self.transitions.push(Transition { at, to: to.clone() });
            }
        }
        row.milestones = p.milestones;
        row.last_event_kind = p.last_event_kind;
        row.status = change.status;
        row.assignee = change.assignee;
        row.version += 1;
        row.updated_at = at;
        row.last_event_at = at;
        self.state.status = change.status;
        if change.assignee != self.state.assignee {
            self.state.assignee_name = None;
        }
        self.state.assignee = change.assignee;
        true
    }
}

fn new_life(created: i64, now: i64, rng: &mut Rng, categories: &[i64]) -> Life {
    let issue = rng.below(ISSUES.len());
    let (subject, body) = ISSUES[issue];
    let u = rng.unit();
    let (priority, pace) = if u < 0.07 {
        (Priority::Critica, 0.25)
    } else if u < 0.25 {
        (Priority::Alta, 0.5)
    } else if u < 0.8 {
        (Priority::Media, 1.0)
    } else {
        (Priority::Baja, 1.6)
    };
    let category = if rng.chance(0.9) {
        categories.get(ISSUE_CATEGORY[issue]).copied()
    } else {
        None
    };
    let requester = format!(
        "{}.{}{}@{}",
        FIRST[rng.below(FIRST.len())],
        LAST[rng.below(LAST.len())],
        rng.below(90) + 10,
        DOMAINS[rng.below(DOMAINS.len())]
    );
    let new = NewTicket {
        channel: Default::default(),
        requester: requester.clone(),
        requester_name: None,
        subject: subject.to_string(),
        body: body.to_string(),
    };
    let arrival = projection::arrival(&new, created);
    let customer = Actor::Customer { email: requester };
    let first = EventRow::new(
        EventKind::Created,
        &EventData::default(),
        &customer,
        created,
    );
    Life {
        w: TicketWrite {
            before_assignee: None,
            row: TicketRow {
                id: 0,
                fixed: Some(Fixed {
                    subject: new.subject,
                    body: new.body,
                    requester: new.requester,
                    created_by: None,
                    created_at: created,
                    requester_name: None,
                    channel: new.channel,
                }),
                status: Status::Nuevo,
                version: 1,
                assignee: None,
                updated_at: created,
                milestones: arrival.milestones,
                last_event_at: created,
                last_event_kind: arrival.last_event_kind,
                sla: SlaRow {
                    priority,
                    category,
                    ..SlaRow::default()
                },
            },
            key: None,
            guard: None,
            events: first.into_iter().collect(),
            counts: Vec::new(),
            figures: arrival.figures,
            sla_figures: Vec::new(),
            search: Vec::new(),
            notices: Vec::new(),
            status_links: Vec::new(),
            attachments: Vec::new(),
            link: None,
            at: created,
        },
        state: TicketState {
            status: Status::Nuevo,
            assignee: None,
            assignee_name: None,
            assignee_active: true,
            classification: Default::default(),
        },
        now,
        comments: arrival.search,
        transitions: Vec::new(),
        pace,
    }
}

fn live(life: &mut Life, staff: &Staff, rng: &mut Rng) {
    let dispatcher = &staff.dispatchers[rng.below(staff.dispatchers.len())];
    let pick = |rng: &mut Rng, except: Option<UserId>| -> usize {
        loop {
            let i = rng.below(staff.techs.len());
            if Some(staff.techs[i].0.id) != except || staff.techs.len() == 1 {
                return i;
            }
        }
    };
    let pace = life.pace;
    let wait = |rng: &mut Rng, min: i64, max: i64| (rng.skewed(min, max) as f64 * pace) as i64;
    let mut at = life.w.at + wait(rng, 60, 4 * 3600);
    let mut tech = pick(rng, None);
    if !life.step(
        dispatcher,
        at,
        Command::Assign {
            to: staff.techs[tech].0.clone(),
        },
    ) {
        return;
    }
    if rng.chance(0.08) {
        at += wait(rng, 300, 6 * 3600);
        let reason = RETURN_REASONS[rng.below(RETURN_REASONS.len())].to_string();
        if !life.step(&staff.techs[tech].1, at, Command::Return { reason }) {
            return;
        }
        at += wait(rng, 120, 3 * 3600);
        tech = pick(rng, Some(staff.techs[tech].0.id));
        if !life.step(
            dispatcher,
            at,
            Command::Assign {
                to: staff.techs[tech].0.clone(),
            },
        ) {
            return;
        }
    }
    at += wait(rng, 300, 8 * 3600);
    let body = COMMENTS[rng.below(COMMENTS.len())].to_string();
    if !life.step(&staff.techs[tech].1, at, Command::Comment { body }) {
        return;
    }
    if rng.chance(0.07) {
        at += wait(rng, 600, 24 * 3600);
        let next = pick(rng, Some(staff.techs[tech].0.id));
        let reason = PASS_REASONS[rng.below(PASS_REASONS.len())].to_string();
        if !life.step(
            &staff.techs[tech].1,
            at,
            Command::Reassign {
                to: staff.techs[next].0.clone(),
                reason,
            },
        ) {
            return;
        }
        tech = next;
        at += wait(rng, 300, 6 * 3600);
        let body = COMMENTS[rng.below(COMMENTS.len())].to_string();
        if !life.step(&staff.techs[tech].1, at, Command::Comment { body }) {
            return;
        }
    }
    if rng.chance(0.4) {
        at += wait(rng, 600, 24 * 3600);
        let body = COMMENTS[rng.below(COMMENTS.len())].to_string();
        if !life.step(&staff.techs[tech].1, at, Command::Comment { body }) {
            return;
        }
    }
    at += wait(rng, 900, 3 * 86_400);
    let resolution = RESOLUTIONS[rng.below(RESOLUTIONS.len())].to_string();
    if !life.step(&staff.techs[tech].1, at, Command::Close { resolution }) {
        return;
    }
    if rng.chance(0.03) {
        at += wait(rng, 3600, 5 * 86_400);
        if !life.step(
            dispatcher,
            at,
            Command::Reopen {
                reason: "El usuario indica que el problema continúa.".into(),
            },
        ) {
            return;
        }
        at += wait(rng, 1800, 2 * 86_400);
        let resolution = RESOLUTIONS[rng.below(RESOLUTIONS.len())].to_string();
        life.step(&staff.techs[tech].1, at, Command::Close { resolution });
    }
}

/// The life's one write: the ticket as it ended up, counted once where it ended up, with
/// its clocks and the warnings and breaches a live system would have recorded by now.
fn finish(mut life: Life, settings: &Settings) -> TicketWrite {
    life.w.counts = vec![CountDelta {
        status: life.state.status,
        assignee: life.state.assignee,
        n: 1,
    }];
    life.w.search = vec![life.comments.join(" ")];
    let row = &life.w.row;
    let m = &row.milestones;
    let mut timeline = Timeline {
        transitions: std::mem::take(&mut life.transitions),
        notified: Default::default(),
    };
    let facts = Facts {
        created_at: life.w.at,
        status: row.status.as_str(),
        first_assigned_at: m.first_assigned_at,
        first_response_at: m.first_response_at,
        closed_at: m.closed_at,
        transitions: &timeline.transitions,
        notified: Default::default(),
    };
    let targets = settings.targets(row.sla.priority);
    let notices = sla::history(&facts, targets, &settings.calendar, life.now);
    for (_, target, level) in &notices {
        timeline.notified.record(*level, *target);
    }
    let after = super::sla::clocks_for(settings, life.w.at, row.status, m, &row.sla, &timeline);
    if !notices.is_empty() {
        for (at, target, level) in &notices {
            let kind = match level {
                Level::Warning => EventKind::SlaWarning,
                Level::Breach => EventKind::SlaBreach,
            };
            let data = EventData {
                target: Some(target.as_str().to_string()),
                due_at: after.clocks[target.index()].due_at,
                ..EventData::default()
            };
            if let Ok(e) = EventRow::new(kind, &data, &Actor::System, *at) {
                life.w.events.push(e);
            }
        }
        // Kept in time order (a stable sort: same-instant events stay as decided).
        life.w.events.sort_by_key(|e| e.at);
    }
    let m = &life.w.row.milestones;
    let stops = sla::stops(m.first_assigned_at, m.first_response_at, m.closed_at);
    life.w.sla_figures = sla::decided(&after, stops, life.w.row.assignee)
        .into_iter()
        .map(|decided| sla::SlaDelta { decided, sign: 1 })
        .collect();
    life.w.row.sla = after;
    life.w
}

/// Rows generated and written per transaction.
const CHUNK: u64 = 10_000;

impl Services {
    async fn demo_staff(&self) -> Result<(Staff, Vec<(String, &'static str)>)> {
        let mut made = Vec::new();
        let mut get = async |name: &str, local: &str, role: Role, area: &str| -> Result<User> {
            let email = format!("{local}@miempresa.com");
            if let Ok(u) = self.user_by_email(&email).await {
                return Ok(u);
            }
            let input = ProfileInput {
                name: name.to_string(),
                email: email.clone(),
                phone: String::new(),
                area: area.to_string(),
            };
            let (u, _) = self
                .create_user(
                    &input,
                    role,
                    InitialPassword::Chosen(DEMO_PASSWORD.to_string()),
                )
                .await?;
            made.push((email, role.label()));
            Ok(u)
        };
        let mut techs = Vec::new();
        for (name, local, area) in TECHNICIANS {
            let u = get(name, local, Role::Technician, area).await?;
            techs.push((
                Target {
                    id: u.id,
                    name: u.name.clone(),
                    role: u.role,
                    active: u.active,
                },
                u.actor(),
            ));
        }
        let mut dispatchers = Vec::new();
        for (name, local) in DISPATCHERS {
            dispatchers.push(get(name, local, Role::Dispatcher, "").await?.actor());
        }
        Ok((Staff { techs, dispatchers }, made))
    }

    /// The demo's categories (made when missing), in `CATEGORIES` order.
    async fn demo_categories(&self) -> Result<Vec<i64>> {
        let mut conn = self.store.read().await?;
        let mut existing = crate::storage::sla::categories(&mut conn).await?;
        let mut ids = Vec::new();
        for name in CATEGORIES {
            let key = crate::domain::classification::category_key(name);
            let id = match existing
                .iter()
                .find(|c| crate::domain::classification::category_key(&c.name) == key)
            {
                Some(c) => c.id.0,
                None => {
                    let id =
                        crate::storage::sla::create_category(&mut conn, name, &key, self.now())
                            .await?;
                    existing.push(crate::domain::classification::Category {
                        id,
                        name: name.to_string(),
                        active: true,
                    });
                    id.0
                }
            };
            ids.push(id);
        }
        Ok(ids)
    }

    /// Fills the database with `tickets` realistic tickets created over the last `days` days.
    /// One thread generates chunks (every step through `decide`) while the bulk writer
    /// commits the previous chunk.
    pub async fn demo(&self, options: &DemoOptions) -> Result<DemoReport> {
        let started = std::time::Instant::now();
        let (staff, made) = self.demo_staff().await?;
        let categories = self.demo_categories().await?;
        let settings = self.sla_settings().await?;
        tracing::debug!(ms = started.elapsed().as_millis() as u64, "demo staff");
        let backend = self.store.backend();
        let now = self.now();
        let n = options.tickets;
        let mut conn = self.store.read().await?;
        // A large load goes faster without the secondary indexes (rebuilt at the end) and,
        // on PostgreSQL, checks the foreign keys once, after it.
        let (rebuild, keys) = if n >= options.rebuild_indexes_from {
            demo::set_aside(&mut conn, backend).await?
        } else {
            Default::default()
        };

        let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<TicketWrite>>(2);
        let (span, seed, batch) = (
            options.days.max(1) * 86_400,
            options.seed,
            options.batch.max(1),
        );
        let generator = crate::cpu::run(move || {
            let start = now - span;
            let mut rng = Rng(seed);
            let mut events = 0u64;
            let slot = span as f64 / n.max(1) as f64;
            let mut k = 0u64;
            while k < n {
                let size = batch.min(n - k);
                let mut batch = Vec::with_capacity(size as usize);
                for _ in 0..size {
                    let created = start + (k as f64 * slot) as i64 + (rng.unit() * slot) as i64;
                    let mut life = new_life(created.min(now), now, &mut rng, &categories);
                    live(&mut life, &staff, &mut rng);
                    let w = finish(life, &settings);
                    events += w.events.len() as u64;
                    batch.push(w);
                    k += 1;
                }
                if sender.blocking_send(batch).is_err() {
                    break;
                }
            }
            events
        });
        let mut written = Ok(());
        let mut rebuilt = false;
        match Writer::bulk(&self.store).await {
            Ok(writer) => {
                // Up to one batch in flight per lane of the writer (two on PostgreSQL).
                let mut in_flight = futures_util::stream::FuturesUnordered::new();
                let (mut waiting, started) = (std::time::Duration::ZERO, std::time::Instant::now());
                let mut more = true;
                loop {
                    while more && in_flight.len() < writer.lanes() {
                        let t0 = std::time::Instant::now();
                        match receiver.recv().await {
                            Some(batch) => in_flight.push(writer.commit(batch)),
                            None => more = false,
                        }
                        waiting += t0.elapsed();
                    }
                    match futures_util::StreamExt::next(&mut in_flight).await {
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            written = Err(e);
                            break;
                        }
                        None => break,
                    }
                }
                drop(in_flight);
                tracing::debug!(
                    waiting_ms = waiting.as_millis() as u64,
                    total_ms = started.elapsed().as_millis() as u64,
                    "demo load"
                );
                // After a complete load the writer rebuilds the indexes itself (SQLite: on its
                // own connection, before its one checkpoint); otherwise they come back below.
                let maintenance = if written.is_ok() {
                    demo::after_load(backend, rebuild.clone())
                } else {
                    Vec::new()
                };
                match writer.finish(maintenance).await {
                    Ok(true) => rebuilt = written.is_ok(),
                    Ok(false) => {}
                    Err(e) => written = written.and(Err(e)),
                }
            }
            Err(e) => written = Err(e),
        }
        drop(receiver);
        let events = generator.await.map_err(|e| {
            super::Error::Internal(format!("failed to join the demo generator: {e}"))
        })?;
        // Whatever happened, the indexes come back, and then the foreign keys (checked
        // against every row, with the indexes there).
        let finished = async {
            let mut again = if rebuilt {
                Vec::new()
            } else {
                demo::after_load(backend, rebuild)
            };
            again.extend(keys);
            for (name, sql) in again {
                let t = std::time::Instant::now();
                demo::run_maintenance(&mut conn, backend, &sql).await?;
                tracing::debug!(what = %name, ms = t.elapsed().as_millis() as u64, "demo maintenance");
            }
            let t = std::time::Instant::now();
            let analyzed = demo::analyze(&mut conn, backend).await;
            tracing::debug!(ms = t.elapsed().as_millis() as u64, "demo analyze");
            analyzed
        }
        .await;
        written?;
        finished?;
        Ok(DemoReport {
            tickets: n,
            events,
            staff: made,
        })
    }
}
