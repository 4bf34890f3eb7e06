//! The fields an automation's query may name: the repository's percolation mapping
//! (`RobotAutomationPercolationDocument` upstream), the same under `reference.` (the whole
//! reference) and `changeset.` (what just changed). Only these are mapped; upstream the
//! enhancement `content` is dynamic, but a percolated document is never indexed, so no
//! other content field ever gets a mapping and a query naming one is refused.

/// How a field is indexed, which decides how a query compares its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Exact text: compared whole, case-sensitive (the `keyword` analyzer).
    Keyword,
    /// `true` / `false` (and their strings).
    Boolean,
    /// A point in time.
    Date,
    /// An object whose fields are indexed with its parent's.
    Object,
    /// An array of objects each indexed on its own: reached only by a `nested` query.
    Nested,
}

/// Each half's fields, relative to `reference.` / `changeset.`.
const HALF: &[(&str, Kind)] = &[
    ("visibility", Kind::Keyword),
    ("duplicate_determination", Kind::Keyword),
    ("identifiers", Kind::Nested),
    ("identifiers.reference_id", Kind::Keyword),
    ("identifiers.identifier", Kind::Keyword),
    ("identifiers.identifier_type", Kind::Keyword),
    ("identifiers.other_identifier_name", Kind::Keyword),
    ("enhancements", Kind::Nested),
    ("enhancements.id", Kind::Keyword),
    ("enhancements.reference_id", Kind::Keyword),
    ("enhancements.visibility", Kind::Keyword),
    ("enhancements.source", Kind::Keyword),
    ("enhancements.robot_version", Kind::Keyword),
    ("enhancements.created_at", Kind::Date),
    ("enhancements.content", Kind::Object),
    ("enhancements.content.enhancement_type", Kind::Keyword),
    ("enhancements.content.annotations", Kind::Nested),
    ("enhancements.content.annotations.scheme", Kind::Keyword),
    ("enhancements.content.annotations.label", Kind::Keyword),
    ("enhancements.content.annotations.annotation_type", Kind::Keyword),
    ("enhancements.content.annotations.value", Kind::Boolean),
];

/// The two halves of a percolated document.
pub const HALVES: [&str; 2] = ["reference", "changeset"];

/// The kind of the field at `path` (a full dotted path), if mapped. The percolator
/// document's own `robot_id` is mapped too (no reference carries it, so it never matches).
pub fn kind(path: &str) -> Option<Kind> {
    if path == "robot_id" {
        return Some(Kind::Keyword);
    }
    let (half, rest) = path.split_once('.').unwrap_or((path, ""));
    if !HALVES.contains(&half) {
        return None;
    }
    if rest.is_empty() {
        return Some(Kind::Object);
    }
    HALF.iter().find(|(p, _)| *p == rest).map(|(_, k)| *k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_resolve_under_both_halves_only() {
        assert_eq!(kind("reference.visibility"), Some(Kind::Keyword));
        assert_eq!(
            kind("changeset.enhancements.content.annotations.value"),
            Some(Kind::Boolean)
        );
        assert_eq!(kind("changeset.enhancements.content.abstract"), None);
        assert_eq!(kind("visibility"), None);
        assert_eq!(kind("other.visibility"), None);
    }
}
