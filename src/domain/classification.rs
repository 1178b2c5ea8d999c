//! How a ticket is classified: its priority (`baja`, `media`, `alta`, `critica`; `media` by
//! default) and its category (one of the administrators' list, or none). The service levels
//! (`domain::sla`) follow the priority; the dashboard splits its figures by both.

use super::error::DomainError;
pub use super::ids::CategoryId;
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Baja,
    #[default]
    Media,
    Alta,
    Critica,
}

impl Priority {
    /// Most urgent first, as lists and forms show them.
    pub const ALL: [Priority; 4] = [
        Priority::Critica,
        Priority::Alta,
        Priority::Media,
        Priority::Baja,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Baja => "baja",
            Priority::Media => "media",
            Priority::Alta => "alta",
            Priority::Critica => "critica",
        }
    }

    /// The API's word (`critica`); the accented word people type (`crítica`) is accepted too.
    pub fn parse(raw: &str) -> Option<Priority> {
        match raw.trim().to_lowercase().as_str() {
            "baja" => Some(Priority::Baja),
            "media" => Some(Priority::Media),
            "alta" => Some(Priority::Alta),
            "critica" | "crítica" => Some(Priority::Critica),
            _ => None,
        }
    }

    /// Parses a priority someone sent, with the Spanish message for a word that is not one.
    pub fn parse_field(raw: &str) -> Result<Priority, DomainError> {
        Priority::parse(raw).ok_or_else(|| {
            DomainError::validation(
                "priority",
                format!(
                    "La prioridad «{}» no es válida: debe ser baja, media, alta o critica.",
                    raw.trim().chars().take(40).collect::<String>()
                ),
            )
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            Priority::Baja => "Baja",
            Priority::Media => "Media",
            Priority::Alta => "Alta",
            Priority::Critica => "Crítica",
        }
    }

    /// The stored code in packed figures (never reuse one).
    pub fn code(self) -> u32 {
        match self {
            Priority::Baja => 0,
            Priority::Media => 1,
            Priority::Alta => 2,
            Priority::Critica => 3,
        }
    }

    pub fn from_code(code: u32) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.code() == code)
    }
}

/// A category as administrators manage it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub id: CategoryId,
    pub name: String,
    pub active: bool,
}

/// A ticket's category as the ticket shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryRef {
    pub id: CategoryId,
    pub name: String,
}

impl From<&Category> for CategoryRef {
    fn from(c: &Category) -> CategoryRef {
        CategoryRef {
            id: c.id,
            name: c.name.clone(),
        }
    }
}

/// A ticket's priority and category.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Classification {
    pub priority: Priority,
    pub category: Option<CategoryRef>,
}

pub const MAX_CATEGORY_CHARS: usize = 60;

/// A category's name as typed by an administrator: trimmed, not empty, at most 60 characters,
/// no control characters.
pub fn category_name(raw: &str) -> Result<String, DomainError> {
    let name: String = raw
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        return Err(DomainError::validation(
            "name",
            "Escriba el nombre de la categoría.",
        ));
    }
    if name.chars().count() > MAX_CATEGORY_CHARS {
        return Err(DomainError::validation(
            "name",
            format!("El nombre no puede tener más de {MAX_CATEGORY_CHARS} caracteres."),
        ));
    }
    Ok(name)
}

/// The key two names must not share (case and accents aside): "Redes" and "redes" are one.
pub fn category_key(name: &str) -> String {
    super::search::document(name).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_round_trip_and_accept_the_accent() {
        for p in Priority::ALL {
            assert_eq!(Priority::parse(p.as_str()), Some(p));
            assert_eq!(Priority::from_code(p.code()), Some(p));
        }
        assert_eq!(Priority::parse(" Crítica "), Some(Priority::Critica));
        assert_eq!(Priority::default(), Priority::Media);
        assert_eq!(Priority::Critica.label(), "Crítica");
        let e = Priority::parse_field("urgente").unwrap_err();
        assert_eq!(
            e.message(),
            "La prioridad «urgente» no es válida: debe ser baja, media, alta o critica."
        );
    }

    #[test]
    fn category_names_are_trimmed_and_bounded() {
        assert_eq!(
            category_name("  Redes   y  Wi-Fi ").unwrap(),
            "Redes y Wi-Fi"
        );
        assert!(category_name("   ").is_err());
        assert!(category_name(&"x".repeat(61)).is_err());
        assert_eq!(category_key("Telefonía"), category_key("TELEFONIA"));
        assert_eq!(CategoryId::parse("12"), Some(CategoryId(12)));
        for bad in ["", "0", "012", "-1", "1.5", "abc", " 3"] {
            assert_eq!(CategoryId::parse(bad), None, "{bad}");
        }
    }
}
