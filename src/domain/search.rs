//! Search text: folding (lower case, no accents) and turning what people type into terms.

/// Lower case without accents, so "Cámara" and "camara" are the same word.
pub fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'á' | 'à' | 'ä' | 'â' | 'ã' | 'å' => 'a',
            'é' | 'è' | 'ë' | 'ê' => 'e',
            'í' | 'ì' | 'ï' | 'î' => 'i',
            'ó' | 'ò' | 'ö' | 'ô' | 'õ' => 'o',
            'ú' | 'ù' | 'ü' | 'û' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            other => other,
        })
        .collect()
}

/// Text as the search index stores it: folded, with every non-alphanumeric character a
/// space, so both backends split "ana@cliente.com" into the same words.
pub fn document(text: &str) -> String {
    fold(text)
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect()
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
    fn query_syntax_is_stripped() {
        assert_eq!(terms("\"cámara\" OR red*"), vec!["camara", "or", "red"]);
        assert!(terms("  ***  ").is_empty());
    }
}
