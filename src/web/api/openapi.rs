//! `/api/openapi.json`: the OpenAPI 3.1 description of every JSON endpoint. Written by hand
//! (no macro crate) and checked by a test against the route table.

use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

fn error_responses(codes: &[&str]) -> Value {
    let mut map = serde_json::Map::new();
    for code in codes {
        let description = match *code {
            "400" => "JSON inválido",
            "401" => "Sin sesión ni token válido",
            "403" => "El rol no permite esta acción",
            "404" => "No existe o no es visible para usted",
            "409" => "La incidencia cambió (versión) o su estado no admite la acción",
            "413" => "Cuerpo demasiado grande",
            "415" => "Tipo de contenido no admitido",
            "422" => "Un campo falta o no es válido",
            "429" => "Demasiados intentos",
            _ => "Error",
        };
        map.insert(
            code.to_string(),
            json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
        );
    }
    Value::Object(map)
}

fn action(summary: &str, body_schema: Value) -> Value {
    let mut responses = error_responses(&["400", "401", "403", "404", "409", "422"]);
    responses["200"] = json!({"description": "La incidencia actualizada", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Ticket"}}}});
    json!({"post": {
        "summary": summary,
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": body_schema}}},
        "responses": responses,
    }})
}

fn with_version(mut props: Value, required: &[&str]) -> Value {
    props["version"] =
        json!({"type": "integer", "description": "La versión que vio el usuario; si cambió, 409"});
    json!({"type": "object", "properties": props, "required": required})
}

fn simple(description: &str, schema: Value) -> Value {
    let mut responses = error_responses(&["401"]);
    responses["200"] =
        json!({"description": description, "content": {"application/json": {"schema": schema}}});
    responses
}

pub fn spec() -> Value {
    let mut list_responses = error_responses(&["401", "422"]);
    list_responses["200"] = json!({"description": "Una página", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TicketPage"}}}});
    let mut show_responses = error_responses(&["401", "404"]);
    show_responses["200"] = json!({"description": "La incidencia con su línea de tiempo", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TicketWithTimeline"}}}});
    let mut create_responses = error_responses(&["400", "401", "403", "413", "422"]);
    create_responses["201"] = json!({"description": "Creada", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Ticket"}}}});
    let mut tech_responses = error_responses(&["401"]);
    tech_responses["200"] = json!({"description": "Técnicos", "content": {"application/json": {"schema": {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Technician"}}, "next_cursor": {"type": ["string", "null"]}}}}}});
    let mut dashboard_responses = error_responses(&["401", "422"]);
    dashboard_responses["200"] = json!({"description": "Cifras del periodo", "content": {"application/json": {"schema": {"type": "object", "required": ["period", "counts", "time_to_assign", "time_to_first_response", "time_to_close", "technicians", "daily", "sla"]}}}});
    let mut intake_responses = error_responses(&["400", "401", "413", "415", "422"]);
    intake_responses["201"] = json!({"description": "Incidencia creada", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Received"}}}});
    intake_responses["200"] = json!({"description": "Entrega repetida: la incidencia que ya se creó; con message/rfc822 también una respuesta agregada a una incidencia (matched_by dice qué la unió)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Received"}}}});
    intake_responses["202"] = json!({"description": "message/rfc822: respuesta automática, correo masivo o rebote, guardado en la cuarentena sin crear incidencia", "content": {"application/json": {"schema": {"type": "object", "required": ["quarantined", "quarantine_id", "code", "reason"], "properties": {"quarantined": {"type": "boolean"}, "quarantine_id": {"type": "integer"}, "code": {"type": "string"}, "reason": {"type": "string"}}}}}});
    let q = |name: &str, description: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}, "description": description});

    let ticket_page = json!({"type": "object", "required": ["items", "next_cursor"], "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Ticket"}}, "next_cursor": {"type": ["string", "null"]}, "prev_cursor": {"type": ["string", "null"], "description": "La página anterior (más recientes en el orden por omisión); null en la primera"}, "total": {"type": ["integer", "null"], "description": "Cuántas hay, cuando los contadores lo saben sin recorrer incidencias (una vista, estados y técnico); null con una búsqueda, fechas, solicitante o por_vencer"}}});
    let views_path = json!({"get": {"summary": "Las vistas de la lista para su rol, con cuántas incidencias tiene cada una (la primera es su pantalla de inicio); un técnico cuenta solo las suyas",
                "responses": simple("Vistas", json!({"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {"type": "object", "required": ["name", "label", "count"], "properties": {
                    "name": {"type": "string", "enum": ["sin_asignar", "mias", "esperando", "vencidas", "abiertas", "cerradas", "todas"]},
                    "label": {"type": "string", "example": "Sin asignar"}, "count": {"type": "integer"}}}}}}))}});

    let mut spec = json!({
        "openapi": "3.1.0",
        "info": {"title": "soporte", "version": env!("CARGO_PKG_VERSION"), "description": "Mesa de ayuda: API JSON. Autenticación: Authorization: Bearer <token personal> o la sesión del navegador."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string", "description": "En español"}, "field": {"type": "string"}}}}},
                "Ticket": {"type": "object", "required": ["id", "number", "status", "version", "subject", "requester", "assignee"], "properties": {
                    "id": {"type": "integer"}, "number": {"type": "string", "example": "INC-000123"},
                    "status": {"type": "string", "enum": ["nuevo", "asignado", "en_atencion", "en_espera", "devuelto", "cerrado"]},
                    "status_label": {"type": "string"}, "version": {"type": "integer"}, "subject": {"type": "string"}, "body": {"type": "string"},
                    "requester": {"type": "string"}, "requester_name": {"type": ["string", "null"]},
                    "assignee": {"type": ["object", "null"], "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}},
                    "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
                    "first_assigned_at": {"type": ["string", "null"], "format": "date-time"},
                    "first_response_at": {"type": ["string", "null"], "format": "date-time"},
                    "closed_at": {"type": ["string", "null"], "format": "date-time"}, "resolution": {"type": ["string", "null"]},
                    "waiting_since": {"type": ["string", "null"], "format": "date-time", "description": "desde cuándo espera al solicitante (en_espera)"},
                    "rating": {"type": ["object", "null"], "description": "la valoración del solicitante del último cierre", "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5}, "comment": {"type": ["string", "null"]}}},
                    "priority": {"type": "string", "enum": ["baja", "media", "alta", "critica"]},
                    "category": {"type": ["object", "null"], "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}},
                    "sla": {"type": "object", "description": "Plazos en minutos hábiles (calendario laboral de Lima)", "properties": {
                        "assignment": {"$ref": "#/components/schemas/Clock"}, "first_response": {"$ref": "#/components/schemas/Clock"}, "resolution": {"$ref": "#/components/schemas/Clock"}}}}},
                "Clock": {"type": "object", "required": ["target_minutes", "due_at", "elapsed_business_minutes", "met", "breached"], "properties": {
                    "target_minutes": {"type": ["integer", "null"]}, "due_at": {"type": ["string", "null"], "format": "date-time", "description": "Con el desfase de Lima (-05:00); null mientras está en pausa"},
                    "elapsed_business_minutes": {"type": "integer"}, "met": {"type": ["boolean", "null"]}, "breached": {"type": "boolean"},
                    "state": {"type": "string", "enum": ["running", "paused", "stopped", "unknown"]}}},
                "Event": {"type": "object", "required": ["kind", "actor", "at", "visibility", "data"], "properties": {"kind": {"type": "string"}, "label": {"type": "string"}, "actor": {"type": "string"}, "actor_id": {"type": ["integer", "null"]}, "at": {"type": "string", "format": "date-time"}, "visibility": {"type": "string", "enum": ["public", "internal"], "description": "public: lo ve el solicitante (su mensaje, respuestas, recordatorios, cierre, valoración); internal: solo el personal"}, "data": {"type": "object"}}},
                "TicketWithTimeline": {"allOf": [{"$ref": "#/components/schemas/Ticket"}, {"type": "object", "required": ["timeline"], "properties": {"timeline": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}}}]},
                "TicketPage": ticket_page,
                "Technician": {"type": "object", "required": ["id", "name", "email", "active"], "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "email": {"type": "string"}, "active": {"type": "boolean"}, "phone": {"type": ["string", "null"]}, "area": {"type": ["string", "null"]}}},
                "Received": {"type": "object", "required": ["id", "number", "status"], "properties": {"id": {"type": "integer"}, "number": {"type": "string"}, "status": {"type": "string"}, "matched_by": {"type": "string", "description": "message/rfc822: el encabezado o la etiqueta del asunto que unió el mensaje a la incidencia"}, "linked_to": {"type": "string", "description": "message/rfc822: incidencia relacionada (el remitente no participa en ella)"}}}
            }
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/tickets": {
                "get": {"summary": "Incidencias visibles para usted, de la más reciente a la más antigua (o en el orden de «sort»)",
                    "parameters": [q("view", "sin_asignar | mias | esperando | vencidas | abiertas | cerradas | todas (ver /api/v1/views); sin vista, todas"), q("status", "uno o varios separados por comas: nuevo,devuelto (nuevo | asignado | en_atencion | en_espera | devuelto | cerrado); reemplaza los estados de la vista"), q("technician", "id del técnico"), q("requester", "correo del solicitante"), q("q", "texto (asunto, mensaje, remitente, comentarios) o INC-000123; un número solo (19995) busca primero esa incidencia"), q("from", "aaaa-mm-dd (día de Lima)"), q("to", "aaaa-mm-dd (incluido); anterior a «from»: 400"), q("cursor", "next_cursor (la página siguiente) o prev_cursor (la anterior) de una página"), q("limit", "1 a 100 (25)"), q("sort", "recientes (por omisión) | antiguas (también numero, edad) | actividad (último evento) | prioridad (crítica primero) | due (primero las que vencen antes, luego las demás)"), q("sla", "vencidas | por_vencer (pasado el 80 % del plazo, sin vencer)")],
                    "responses": list_responses},
                "post": {"summary": "Registrar una incidencia (administrador, derivador)",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["from", "subject"], "properties": {"from": {"type": "string", "format": "email"}, "subject": {"type": "string", "maxLength": 255}, "body": {"type": "string"}, "channel": {"type": "string", "enum": ["correo", "telefono", "presencial"], "default": "correo"}}}}}},
                    "responses": create_responses}
            },
            "/api/v1/tickets/bulk": {"post": {"summary": "Una acción sobre varias incidencias (hasta 100): cada una por su cuenta, con su evento en la línea de tiempo; responde cuál se hizo y cuál no, y por qué",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["ids", "action"], "properties": {
                    "ids": {"type": "array", "items": {"type": "integer"}, "maxItems": 100},
                    "action": {"type": "string", "enum": ["assign", "reassign", "close", "return"]},
                    "technician_id": {"type": "integer"}, "reason": {"type": "string"}, "resolution": {"type": "string"}}}}}},
                "responses": {"200": {"description": "Una respuesta por incidencia, en el orden dado", "content": {"application/json": {"schema": {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {"type": "object", "required": ["id", "ok", "error"], "properties": {
                    "id": {"type": "integer"}, "ok": {"type": "boolean"}, "status": {"type": "string"}, "version": {"type": "integer"},
                    "error": {"type": ["object", "null"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}}}}}}},
                    "401": {"description": "Sin sesión ni token"}, "422": {"description": "Sin ids, más de 100, o acción desconocida", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}},
            "/api/v1/tickets/{id}": {"get": {"summary": "Una incidencia con su línea de tiempo",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}], "responses": show_responses},
                "patch": action("Cambiar la prioridad y/o la categoría (administrador, derivador, el técnico asignado)", with_version(json!({"priority": {"type": "string", "enum": ["baja", "media", "alta", "critica"]}, "category_id": {"type": ["integer", "null"], "description": "null: sin categoría"}}), &["version"]))["post"].clone()},
            "/api/v1/categories": {"get": {"summary": "Categorías (habilitadas y deshabilitadas)", "responses": simple("Categorías", json!({"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "active": {"type": "boolean"}}}}, "next_cursor": {"type": ["string", "null"]}}}))}},
            "/api/v1/calendar": {"get": {"summary": "Calendario laboral: horario por día (1 = lunes) y feriados", "responses": simple("Calendario", json!({"type": "object", "properties": {"time_zone": {"type": "string"}, "hours": {"type": "array", "items": {"type": "object", "properties": {"weekday": {"type": "integer"}, "from": {"type": "string"}, "to": {"type": "string"}}}}, "holidays": {"type": "array", "items": {"type": "object", "properties": {"date": {"type": "string", "format": "date"}, "name": {"type": "string"}}}}}}))}},
            "/api/v1/sla/policies": {"get": {"summary": "Objetivos de SLA por prioridad, en minutos hábiles", "responses": simple("Objetivos", json!({"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object", "properties": {"priority": {"type": "string"}, "assignment": {"type": "integer"}, "first_response": {"type": "integer"}, "resolution": {"type": "integer"}}}}}}))}},
            "/api/v1/tickets/{id}/assign": action("Derivar (administrador, derivador)", with_version(json!({"technician_id": {"type": "integer"}}), &["technician_id"])),
            "/api/v1/tickets/{id}/comments": action("Nota interna (solo la ve el personal)", with_version(json!({"body": {"type": "string"}}), &["body"])),
            "/api/v1/tickets/{id}/replies": action("Responder al solicitante (se le envía por correo; con wait, la incidencia espera su respuesta). Responde 201.", with_version(json!({"body": {"type": "string"}, "wait": {"type": "boolean", "default": false}}), &["body"])),
            "/api/v1/tickets/{id}/close": action("Cerrar con nota de resolución", with_version(json!({"resolution": {"type": "string"}}), &["resolution"])),
            "/api/v1/tickets/{id}/return": action("Devolver a la cola, con motivo", with_version(json!({"reason": {"type": "string"}}), &["reason"])),
            "/api/v1/tickets/{id}/reassign": action("Reasignar / pasar a otro técnico (motivo obligatorio para técnicos)", with_version(json!({"technician_id": {"type": "integer"}, "reason": {"type": "string"}}), &["technician_id"])),
            "/api/v1/tickets/{id}/reopen": action("Reabrir una incidencia cerrada (administrador, derivador)", with_version(json!({"reason": {"type": "string"}}), &["reason"])),
            "/api/v1/technicians": {"get": {"summary": "Técnicos", "responses": tech_responses}},
            "/api/v1/dashboard": {"get": {"summary": "Cifras del tablero (duraciones en segundos); un técnico recibe solo las de sus incidencias",
                "parameters": [q("from", "aaaa-mm-dd (día de Lima); por omisión, 29 días antes de «to»"), q("to", "aaaa-mm-dd (incluido); por omisión, hoy")],
                "responses": dashboard_responses}},
            "/intake/email": {"post": {
                "summary": "Ingreso de un correo: crea una incidencia. Sin SOPORTE_INTAKE_TOKEN solo acepta llamadas locales; con él, Authorization: Bearer <token>.",
                "security": [{}, {"bearer": []}],
                "parameters": [{"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {
                    "application/json": {"schema": {"type": "object", "required": ["from", "subject", "body"], "properties": {"from": {"type": "string", "description": "correo, o «Nombre <correo>»"}, "subject": {"type": "string", "maxLength": 255, "description": "vacío: «(sin asunto)»"}, "body": {"type": "string", "description": "hasta 100 KB"}, "message_id": {"type": "string"}}}},
                    "message/rfc822": {"schema": {"type": "string", "format": "binary", "description": "El correo completo tal como llegó (MIME). Se une a una incidencia por In-Reply-To/References o por el número en el asunto; guarda los adjuntos; las respuestas automáticas van a la cuarentena. Un mensaje ilegible responde 422 y queda en la cuarentena."}}
                }},
                "responses": intake_responses}}
        }
    });
    // Added after the literal: one more entry in it passes json!'s recursion limit.
    spec["paths"]["/api/v1/views"] = views_path;
    spec["components"]["schemas"]["Ticket"]["properties"]["channel"] = json!({"type": "string", "enum": ["correo", "telefono", "presencial"], "description": "Cómo llegó: correo (ingreso o buzón) o registrada a mano tras una llamada o visita"});
    spec
}

pub async fn document() -> Response {
    let mut spec = spec();
    super::webhooks::describe(&mut spec);
    axum::Json(spec).into_response()
}
