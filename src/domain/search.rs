//! Search text: folding (lower case, no accents) and turning what people type into terms.

/// A lower-case letter without its accent.
fn unaccent(c: char) -> char {
    match c {
        'á' | 'à' | 'ä' | 'â' | 'ã' | 'å' => 'a',
        'é' | 'è' | 'ë' | 'ê' => 'e',
        'í' | 'ì' | 'ï' | 'î' => 'i',
        'ó' | 'ò' | 'ö' | 'ô' | 'õ' => 'o',
        'ú' | 'ù' | 'ü' | 'û' => 'u',
        'ñ' => 'n',
        'ç' => 'c',
        other => other,
    }
}

/// Folds `text` into `out`, each folded character through `keep` (ASCII, most of any text,
/// takes the short way).
fn fold_into(text: &str, out: &mut String, keep: impl Fn(char) -> char) {
    out.reserve(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(keep(c.to_ascii_lowercase()));
        } else {
            for l in c.to_lowercase() {
                out.push(keep(unaccent(l)));
            }
        }
    }
}

/// Lower case without accents, so "Cámara" and "camara" are the same word.
pub fn fold(text: &str) -> String {
    let mut out = String::new();
    fold_into(text, &mut out, |c| c);
    out
}

/// Text as the search index stores it: folded, with every non-alphanumeric character a
/// space, so both backends split "ana@cliente.com" into the same words.
pub fn document(text: &str) -> String {
    let mut out = String::new();
    fold_into(
        text,
        &mut out,
        |c| if c.is_alphanumeric() { c } else { ' ' },
    );
    out
}

/// The words of a query, folded, alphanumeric only (at most 8), each to be matched as a
/// prefix. Punctuation never reaches the search engine's own syntax.
pub fn terms(query: &str) -> Vec<String> {
    fold(query)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(8)
        .map(|w| w.chars().take(64).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents_and_case_fold_away() {
        assert_eq!(fold("Cámara ÑANDÚ"), "camara nandu");
    }

    #[test]
    fn documents_split_on_punctuation() {
        assert_eq!(
            document("Ana@Cliente.com: ¡Cámara!"),
            "ana cliente com   camara "
        );
    }

    #[test]
    fn folding_agrees_with_the_character_by_character_rule() {
        let slow = |t: &str| -> String {
            t.chars()
                .flat_map(char::to_lowercase)
                .map(unaccent)
                .map(|c| if c.is_alphanumeric() { c } else { ' ' })
                .collect()
        };
        for t in [
            "Ñandú İstanbul ΣΑΣ",
            "ÀÉÎÕÜ-ç_x@y.pe",
            "",
            "日本 Straße ǅ",
            "\u{301}a\u{301}",
        ] {
            assert_eq!(document(t), slow(t), "{t}");
        }
    }

    #[test]
    fn query_syntax_is_stripped() {
        assert_eq!(terms("\"cámara\" OR red*"), vec!["camara", "or", "red"]);
        assert!(terms("  ***  ").is_empty());
    }
}
