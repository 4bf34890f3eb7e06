//! Supersession chains: the stored enhancements a result's `supersedes` names, and the
//! rules a superseding enhancement must meet (SDK 0.17.6 `Enhancement.supersedes`,
//! `TombstoneEnhancement`).
//!
//! The repository's own checks are not published; the rules are the SDK's documented
//! ones, the texts this toolkit's:
//! - the superseded enhancement is on the same reference and is the latest in its chain;
//! - it is of the same enhancement type, unless a tombstone is involved: a tombstone may
//!   withdraw any chain whose head is not a tombstone, and only an enhancement of the
//!   withdrawn type may supersede a tombstone.

use std::collections::HashMap;

use destiny_sdk::models::{Enhancement, EnhancementContent};
use sqlx::Row;
use uuid::Uuid;

use super::{bind_ids, placeholders, uuid_at, Db};
use crate::error::ApiError;

/// A stored enhancement named by a `supersedes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The reference it is on.
    pub reference_id: Uuid,
    /// Its `enhancement_type`.
    pub enhancement_type: String,
    /// The enhancement that superseded it already, if any (it no longer heads its chain).
    pub superseded_by: Option<Uuid>,
    /// For a tombstone, the type of the chain it withdrew.
    pub withdrawn_type: Option<String>,
}

const TOMBSTONE: &str = "tombstone";

/// The reason `successor` may not supersede its target (`None`: it may). `target` is
/// what the database holds under the id it names (`None`: nothing).
pub fn refusal(successor: &Enhancement, target: Option<&Target>) -> Option<String> {
    let id = successor.supersedes?;
    let Some(target) = target.filter(|t| t.reference_id == successor.reference_id) else {
        return Some(format!(
            "Superseded enhancement {id} does not exist on this reference."
        ));
    };
    if let Some(next) = target.superseded_by {
        return Some(format!(
            "Superseded enhancement {id} is not the latest in its chain: {next} supersedes it."
        ));
    }
    let kind = successor.content.enhancement_type();
    let tombstone = matches!(successor.content, EnhancementContent::Tombstone(_));
    match (tombstone, target.enhancement_type == TOMBSTONE) {
        (true, true) => Some(format!(
            "Superseded enhancement {id} is a tombstone; a tombstone cannot supersede it."
        )),
        (true, false) => None,
        (false, true) => {
            let withdrawn = target.withdrawn_type.as_deref().unwrap_or(TOMBSTONE);
            (kind != withdrawn).then(|| {
                format!(
                    "Superseded enhancement {id} is a tombstone withdrawing enhancements of \
                     type {withdrawn}; only an enhancement of type {withdrawn} may supersede it."
                )
            })
        }
        (false, false) => (kind != target.enhancement_type).then(|| {
            format!(
                "Superseded enhancement {id} is of type {}; an enhancement of type {kind} \
                 cannot supersede it.",
                target.enhancement_type
            )
        }),
    }
}

/// The `enhancement_type` of stored content (JSON text).
fn type_of(content: &str) -> Result<String, sqlx::Error> {
    #[derive(serde::Deserialize)]
    struct Tagged {
        enhancement_type: String,
    }
    serde_json::from_str::<Tagged>(content)
        .map(|t| t.enhancement_type)
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

impl Db {
    /// The stored enhancements among `ids` (unknown ids are absent), as supersession
    /// targets.
    ///
    /// # Errors
    /// Database errors.
    pub async fn supersession_targets(
        &self,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, Target>, ApiError> {
        let mut targets = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT t.id, t.reference_id, t.content, t.superseded_by, w.content AS withdrawn \
                 FROM enhancements t LEFT JOIN enhancements w ON w.id = t.supersedes \
                 WHERE t.id IN ({})",
                placeholders(1, chunk.len())
            );
            for row in bind_ids(sqlx::query(&sql), chunk)
                .fetch_all(self.reader())
                .await?
            {
                let enhancement_type = type_of(&row.try_get::<String, _>("content")?)?;
                let withdrawn_type = match enhancement_type.as_str() {
                    TOMBSTONE => row
                        .try_get::<Option<String>, _>("withdrawn")?
                        .as_deref()
                        .map(type_of)
                        .transpose()?,
                    _ => None,
                };
                let superseded_by = row
                    .try_get::<Option<String>, _>("superseded_by")?
                    .map(|s| Uuid::parse_str(&s))
                    .transpose()
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                targets.insert(
                    uuid_at(&row, "id")?,
                    Target {
                        reference_id: uuid_at(&row, "reference_id")?,
                        enhancement_type,
                        superseded_by,
                        withdrawn_type,
                    },
                );
            }
        }
        Ok(targets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enhancement(reference: Uuid, target: Uuid, content: &str) -> Enhancement {
        destiny_sdk::models::from_json_str(&format!(
            r#"{{"reference_id": "{reference}", "source": "s", "visibility": "public",
                "supersedes": "{target}", "content": {content}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn the_chain_rules() {
        let (reference, other, id) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let abstract_ = enhancement(
            reference,
            id,
            r#"{"enhancement_type": "abstract", "process": "other", "abstract": "A."}"#,
        );
        let tombstone = enhancement(reference, id, r#"{"enhancement_type": "tombstone"}"#);
        let target = |kind: &str, withdrawn: Option<&str>| Target {
            reference_id: reference,
            enhancement_type: kind.into(),
            superseded_by: None,
            withdrawn_type: withdrawn.map(Into::into),
        };
        let ok = |e: &Enhancement, t: Target| assert_eq!(refusal(e, Some(&t)), None, "{t:?}");
        let refused = |e: &Enhancement, t: Option<Target>, starts: &str| {
            let why = refusal(e, t.as_ref()).expect("refused");
            assert!(why.starts_with(starts), "{why}");
        };
        ok(&abstract_, target("abstract", None));
        ok(&tombstone, target("annotation", None));
        ok(&abstract_, target("tombstone", Some("abstract")));
        let missing = "Superseded enhancement";
        refused(&abstract_, None, missing);
        refused(
            &abstract_,
            Some(Target {
                reference_id: other,
                ..target("abstract", None)
            }),
            missing,
        );
        let superseded = Target {
            superseded_by: Some(Uuid::new_v4()),
            ..target("abstract", None)
        };
        assert!(refusal(&abstract_, Some(&superseded))
            .unwrap()
            .contains("is not the latest in its chain"));
        assert!(refusal(&abstract_, Some(&target("annotation", None)))
            .unwrap()
            .ends_with("is of type annotation; an enhancement of type abstract cannot supersede it."));
        assert!(refusal(&tombstone, Some(&target("tombstone", Some("abstract"))))
            .unwrap()
            .contains("a tombstone cannot supersede it"));
        assert!(refusal(&abstract_, Some(&target("tombstone", Some("annotation"))))
            .unwrap()
            .ends_with("only an enhancement of type annotation may supersede it."));
        let plain = Enhancement {
            supersedes: None,
            ..abstract_.clone()
        };
        assert_eq!(refusal(&plain, None), None, "nothing to check");
    }
}
