//! `soporte demo`: realistic demo data — staff, senders, subjects and whole ticket lives
//! (assignments, comments, returns, passes, closes, reopenings) spread over months. Every
//! step is decided by `domain::ticket::decide`, so the timelines follow the real rules; the
//! rows are then written in bulk.

use super::accounts::{InitialPassword, ProfileInput};
use super::{Result, Services};
use crate::domain::figures;
use crate::domain::ids::UserId;
use crate::domain::search::document;
use crate::domain::ticket::{Change, Command, Milestones, Status, Target, TicketState, decide};
use crate::domain::timeline::EventKind;
use crate::domain::user::{Actor, Role, User};
use crate::storage::demo::{self, DemoTicket};
use std::collections::HashMap;

pub const DEMO_PASSWORD: &str = "soporte-demo-2026";

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub tickets: u64,
    /// How many days back the tickets start.
    pub days: i64,
    pub seed: u64,
    /// From this many tickets on, secondary indexes are dropped and rebuilt after the load.
    pub rebuild_indexes_from: u64,
}

impl DemoOptions {
    pub fn new(tickets: u64, days: i64, seed: u64) -> DemoOptions {
        DemoOptions {
            tickets,
            days,
            seed,
            rebuild_indexes_from: 50_000,
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
    t: DemoTicket,
    state: TicketState,
    m: Milestones,
    now: i64,
    comments: Vec<String>,
}

impl Life {
    /// Applies a command at `at` if that moment has come; returns false once it is the future.
    fn step(&mut self, actor: &Actor, at: i64, command: Command) -> bool {
        if at > self.now {
            return false;
        }
        let change: Change = match decide(&self.state, actor, command) {
            Ok(c) => c,
            Err(_) => return true,
        };
        let (m, wait) = self.m.after(self.state.status, &change, actor, at);
        self.t.figures.extend(figures::deltas(
            figures::Before {
                created_at: self.t.created_at,
                status: self.state.status,
                assignee: self.state.assignee,
                milestones: &self.m,
            },
            &change,
            actor,
            at,
            &m,
            wait,
        ));
        for e in &change.events {
            if let Some(b) = e.data.body.as_ref().or(e.data.resolution.as_ref()) {
                self.comments.push(b.clone());
            }
            let data = serde_json::to_string(&e.data).unwrap_or_else(|_| "{}".to_string());
            self.t.events.push((
                at,
                actor.user_id().map(|u| u.0),
                actor.label(),
                e.kind.as_str(),
                data,
            ));
            self.t.last_event_kind = e.kind.as_str();
        }
        self.m = m;
        self.state.status = change.status;
        if change.assignee != self.state.assignee {
            self.state.assignee_name = None;
        }
        self.state.assignee = change.assignee;
        self.t.version += 1;
        self.t.updated_at = at;
        self.t.last_event_at = at;
        true
    }
}

fn new_life(id: i64, created: i64, now: i64, rng: &mut Rng) -> Life {
    let (subject, body) = ISSUES[rng.below(ISSUES.len())];
    let requester = format!(
        "{}.{}{}@{}",
        FIRST[rng.below(FIRST.len())],
        LAST[rng.below(LAST.len())],
        rng.below(90) + 10,
        DOMAINS[rng.below(DOMAINS.len())]
    );
    let data = serde_json::to_string(&crate::domain::timeline::EventData::default())
        .unwrap_or_else(|_| "{}".to_string());
    Life {
        t: DemoTicket {
            id,
            status: "nuevo",
            version: 1,
            subject: subject.to_string(),
            body: body.to_string(),
            requester: requester.clone(),
            assignee_id: None,
            created_at: created,
            updated_at: created,
            first_assigned_at: None,
            first_response_at: None,
            closed_at: None,
            closed_by: None,
            resolution: None,
            last_event_at: created,
            last_event_kind: EventKind::Created.as_str(),
            queued_since: Some(created),
            doc: String::new(),
            events: vec![(created, None, requester, EventKind::Created.as_str(), data)],
            figures: vec![figures::created(created)],
        },
        state: TicketState {
            status: Status::Nuevo,
            assignee: None,
            assignee_name: None,
            assignee_active: true,
        },
        m: Milestones::new_ticket(created),
        now,
        comments: Vec::new(),
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
    let mut at = life.t.created_at + rng.skewed(60, 4 * 3600);
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
        at += rng.skewed(300, 6 * 3600);
        let reason = RETURN_REASONS[rng.below(RETURN_REASONS.len())].to_string();
        if !life.step(&staff.techs[tech].1, at, Command::Return { reason }) {
            return;
        }
        at += rng.skewed(120, 3 * 3600);
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
    at += rng.skewed(300, 8 * 3600);
    let body = COMMENTS[rng.below(COMMENTS.len())].to_string();
    if !life.step(&staff.techs[tech].1, at, Command::Comment { body }) {
        return;
    }
    if rng.chance(0.07) {
        at += rng.skewed(600, 24 * 3600);
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
        at += rng.skewed(300, 6 * 3600);
        let body = COMMENTS[rng.below(COMMENTS.len())].to_string();
        if !life.step(&staff.techs[tech].1, at, Command::Comment { body }) {
            return;
        }
    }
    if rng.chance(0.4) {
        at += rng.skewed(600, 24 * 3600);
        let body = COMMENTS[rng.below(COMMENTS.len())].to_string();
        if !life.step(&staff.techs[tech].1, at, Command::Comment { body }) {
            return;
        }
    }
    at += rng.skewed(900, 3 * 86_400);
    let resolution = RESOLUTIONS[rng.below(RESOLUTIONS.len())].to_string();
    if !life.step(&staff.techs[tech].1, at, Command::Close { resolution }) {
        return;
    }
    if rng.chance(0.03) {
        at += rng.skewed(3600, 5 * 86_400);
        if !life.step(
            dispatcher,
            at,
            Command::Reopen {
                reason: "El usuario indica que el problema continúa.".into(),
            },
        ) {
            return;
        }
        at += rng.skewed(1800, 2 * 86_400);
        let resolution = RESOLUTIONS[rng.below(RESOLUTIONS.len())].to_string();
        life.step(&staff.techs[tech].1, at, Command::Close { resolution });
    }
}

fn finish(mut life: Life) -> DemoTicket {
    let t = &mut life.t;
    t.status = life.state.status.as_str();
    t.assignee_id = life.state.assignee.map(|u| u.0);
    t.first_assigned_at = life.m.first_assigned_at;
    t.first_response_at = life.m.first_response_at;
    t.closed_at = life.m.closed_at;
    t.closed_by = life.m.closed_by.map(|u| u.0);
    t.resolution = life.m.resolution.clone();
    t.queued_since = life.m.queued_since;
    t.doc = document(&format!(
        "{} {} {} {}",
        t.subject,
        t.body,
        t.requester,
        life.comments.join(" ")
    ));
    life.t
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

    /// Fills the database with `tickets` realistic tickets created over the last `days` days.
    /// One thread generates chunks (every step through `decide`) while the loading
    /// connection writes the previous chunk.
    pub async fn demo(&self, options: &DemoOptions) -> Result<DemoReport> {
        let started = std::time::Instant::now();
        let (staff, made) = self.demo_staff().await?;
        tracing::debug!(ms = started.elapsed().as_millis() as u64, "demo staff");
        let backend = self.store.backend();
        let now = self.now();
        let n = options.tickets;
        let mut conn = self.store.read().await?;
        let first_id = demo::next_ticket_id(&mut conn).await?;
        // A large load goes faster without the secondary indexes; they are rebuilt at the end.
        let rebuild = if n >= options.rebuild_indexes_from {
            demo::secondary_indexes(&mut conn, backend).await?
        } else {
            Vec::new()
        };
        for (name, _) in &rebuild {
            demo::drop_index(&mut conn, name).await?;
        }
        demo::begin_bulk_load(&mut conn, backend).await?;

        type Counts = Vec<(&'static str, i64, i64)>;
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<(Vec<DemoTicket>, Counts)>(2);
        let (span, seed) = (options.days.max(1) * 86_400, options.seed);
        let generator = tokio::task::spawn_blocking(move || {
            let start = now - span;
            let mut rng = Rng(seed);
            let mut events = 0u64;
            let mut tally = figures::Tally::default();
            let slot = span as f64 / n.max(1) as f64;
            let mut k = 0u64;
            while k < n {
                let size = CHUNK.min(n - k);
                let mut batch = Vec::with_capacity(size as usize);
                let mut counts: HashMap<(&'static str, i64), i64> = HashMap::new();
                for _ in 0..size {
                    let created = start + (k as f64 * slot) as i64 + (rng.unit() * slot) as i64;
                    let mut life = new_life(first_id + k as i64, created.min(now), now, &mut rng);
                    live(&mut life, &staff, &mut rng);
                    let mut t = finish(life);
                    events += t.events.len() as u64;
                    for d in std::mem::take(&mut t.figures) {
                        tally.add(&d);
                    }
                    *counts
                        .entry((t.status, t.assignee_id.unwrap_or(0)))
                        .or_default() += 1;
                    batch.push(t);
                    k += 1;
                }
                let counts = counts.into_iter().map(|((s, a), n)| (s, a, n)).collect();
                if sender.blocking_send((batch, counts)).is_err() {
                    break;
                }
            }
            (events, tally)
        });
        let mut written = Ok(());
        let mut rebuilt = false;
        match demo::Loader::open(&self.store).await {
            Ok(mut loader) => {
                let (mut waiting, mut writing) =
                    (std::time::Duration::ZERO, std::time::Duration::ZERO);
                loop {
                    let t0 = std::time::Instant::now();
                    let Some((batch, counts)) = receiver.recv().await else {
                        break;
                    };
                    let t1 = std::time::Instant::now();
                    waiting += t1 - t0;
                    if let Err(e) = loader.write_chunk(batch, counts).await {
                        written = Err(e);
                        break;
                    }
                    writing += t1.elapsed();
                }
                tracing::debug!(
                    waiting_ms = waiting.as_millis() as u64,
                    writing_ms = writing.as_millis() as u64,
                    "demo load"
                );
                // After a complete load the loader rebuilds the indexes itself (SQLite: on
                // its own connection, before its one checkpoint); otherwise they come back below.
                let indexes = if written.is_ok() {
                    rebuild.clone()
                } else {
                    Vec::new()
                };
                match loader.finish(indexes).await {
                    Ok(true) => rebuilt = written.is_ok(),
                    Ok(false) => {}
                    Err(e) => written = written.and(Err(e)),
                }
            }
            Err(e) => written = Err(e),
        }
        drop(receiver);
        let (events, tally) = generator.await.map_err(|e| {
            super::Error::Internal(format!("failed to join the demo generator: {e}"))
        })?;
        // Whatever happened, the indexes come back and the connection gets its settings back.
        let finished = async {
            demo::fix_sequences(&mut conn, backend).await?;
            if written.is_ok() {
                let t = std::time::Instant::now();
                crate::storage::figures::merge(&mut conn, backend, tally.into_rows()).await?;
                tracing::debug!(ms = t.elapsed().as_millis() as u64, "demo daily figures");
            }
            for (name, definition) in rebuild.iter().filter(|_| !rebuilt) {
                let t = std::time::Instant::now();
                demo::create_index(&mut conn, definition).await?;
                tracing::debug!(index = %name, ms = t.elapsed().as_millis() as u64, "demo index rebuilt");
            }
            let t = std::time::Instant::now();
            let analyzed = demo::analyze(&mut conn, backend).await;
            tracing::debug!(ms = t.elapsed().as_millis() as u64, "demo analyze");
            analyzed
        }
        .await;
        let restored = demo::end_bulk_load(&mut conn, backend).await;
        written?;
        finished?;
        restored?;
        Ok(DemoReport {
            tickets: n,
            events,
            staff: made,
        })
    }
}
