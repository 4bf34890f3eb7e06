//! The pending-enhancement state machine (spec §3), in one place, and the projection of an
//! enhancement request's status from its pending enhancements.

use destiny_sdk::models::EnhancementRequestStatus;

/// Status of one pending enhancement (one reference to enhance by one robot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PendingStatus {
    /// Waiting for a robot to poll it.
    Pending,
    /// Leased to a robot in a batch until `expires_at`.
    Processing,
    /// The robot reported the batch; its result file is being imported.
    Importing,
    /// Imported; being indexed (immediately completed here: there is no search index).
    Indexing,
    /// Done: the enhancement is stored.
    Completed,
    /// The robot, the import or the result file reported an error.
    Failed,
    /// The lease ran out before the robot reported the batch.
    Expired,
    /// The result was an exact duplicate of an existing enhancement.
    Discarded,
    /// Indexing failed.
    IndexingFailed,
}

impl PendingStatus {
    /// Every status.
    pub const ALL: [Self; 9] = [
        Self::Pending,
        Self::Processing,
        Self::Importing,
        Self::Indexing,
        Self::Completed,
        Self::Failed,
        Self::Expired,
        Self::Discarded,
        Self::IndexingFailed,
    ];

    /// The database and wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Importing => "importing",
            Self::Indexing => "indexing",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Discarded => "discarded",
            Self::IndexingFailed => "indexing_failed",
        }
    }

    /// The SQL literal of the status (`'processing'`), for statements' filters.
    pub const fn sql(self) -> &'static str {
        match self {
            Self::Pending => "'pending'",
            Self::Processing => "'processing'",
            Self::Importing => "'importing'",
            Self::Indexing => "'indexing'",
            Self::Completed => "'completed'",
            Self::Failed => "'failed'",
            Self::Expired => "'expired'",
            Self::Discarded => "'discarded'",
            Self::IndexingFailed => "'indexing_failed'",
        }
    }

    /// Parses the database spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The statuses a pending enhancement may move to from this one; empty for terminal
    /// statuses.
    pub const fn successors(self) -> &'static [Self] {
        match self {
            Self::Pending => &[Self::Processing],
            // Back to `Pending` when the poll that claimed it could not answer (its
            // reference file could not be written): `Db::release_claim`.
            Self::Processing => &[Self::Pending, Self::Importing, Self::Expired, Self::Failed],
            Self::Importing => &[Self::Indexing, Self::Discarded, Self::Failed],
            Self::Indexing => &[Self::Completed, Self::IndexingFailed],
            _ => &[],
        }
    }

    /// Whether `self -> to` is allowed.
    pub const fn can_become(self, to: Self) -> bool {
        let next = self.successors();
        let mut i = 0;
        while i < next.len() {
            if next[i] as u8 == to as u8 {
                return true;
            }
            i += 1;
        }
        false
    }
}

/// One edge of the state machine, checked when it is defined: the constants below are
/// built by a `const fn` that fails to compile for a move [`PendingStatus::successors`]
/// does not allow. Every statement that changes a pending enhancement's status is
/// written by [`Transition::update`] from one of them; the database refuses statuses
/// outside [`PendingStatus::ALL`] (a `CHECK` constraint on PostgreSQL, triggers on
/// SQLite: migration 0004).
///
/// A move the state machine does not allow does not compile:
///
/// ```compile_fail
/// use destiny_repository::lifecycle::{PendingStatus, Transition};
/// const _: Transition = Transition::new(PendingStatus::Completed, PendingStatus::Pending);
/// ```
///
/// ```
/// use destiny_repository::lifecycle::Transition;
/// assert_eq!(
///     Transition::EXPIRE.update("updated_at = $1", "id = $2"),
///     "UPDATE pending_enhancements SET status = 'expired', updated_at = $1 \
///      WHERE status = 'processing' AND id = $2"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    from: PendingStatus,
    to: PendingStatus,
}

impl Transition {
    /// A poll leases work: `pending -> processing`.
    pub const CLAIM: Self = Self::new(PendingStatus::Pending, PendingStatus::Processing);
    /// A poll that could not answer gives its claim back: `processing -> pending`.
    pub const RELEASE: Self = Self::new(PendingStatus::Processing, PendingStatus::Pending);
    /// The robot submitted a result: `processing -> importing`.
    pub const SUBMIT: Self = Self::new(PendingStatus::Processing, PendingStatus::Importing);
    /// The robot reported the batch failed: `processing -> failed`.
    pub const REPORT_FAILED: Self = Self::new(PendingStatus::Processing, PendingStatus::Failed);
    /// The lease ran out: `processing -> expired`.
    pub const EXPIRE: Self = Self::new(PendingStatus::Processing, PendingStatus::Expired);
    /// An enhancement was stored: `importing -> indexing`.
    pub const INDEX: Self = Self::new(PendingStatus::Importing, PendingStatus::Indexing);
    /// Indexed (at once here): `indexing -> completed`.
    pub const COMPLETE: Self = Self::new(PendingStatus::Indexing, PendingStatus::Completed);
    /// The result repeated a stored enhancement: `importing -> discarded`.
    pub const DISCARD: Self = Self::new(PendingStatus::Importing, PendingStatus::Discarded);
    /// The import refused the reference's line, or failed: `importing -> failed`.
    pub const IMPORT_FAILED: Self = Self::new(PendingStatus::Importing, PendingStatus::Failed);

    /// The edge `from -> to`; a `const` use of a move the state machine does not allow
    /// fails to compile.
    ///
    /// # Panics
    /// At compile time in a `const`; at run time otherwise.
    pub const fn new(from: PendingStatus, to: PendingStatus) -> Self {
        assert!(from.can_become(to), "not a transition of the state machine");
        Self { from, to }
    }

    /// The status reached.
    pub const fn to(self) -> PendingStatus {
        self.to
    }

    /// `UPDATE pending_enhancements SET status = '<to>', <set> WHERE status = '<from>'
    /// AND <filter>` (`filter` may end in a `RETURNING` clause).
    pub fn update(self, set: &str, filter: &str) -> String {
        format!(
            "UPDATE pending_enhancements SET status = {}, {set} WHERE status = {} AND {filter}",
            self.to.sql(),
            self.from.sql()
        )
    }
}

/// The error text the real repository gives for a refused transition.
pub fn transition_error(from: PendingStatus, to: PendingStatus) -> String {
    format!(
        "Cannot transition from status '{}' to '{}'",
        from.as_str(),
        to.as_str()
    )
}

/// The `detail` of results refused because the batch's work is no longer `processing`:
/// `current` is the status it is in, read back (`None` or unknown: it expired, and its
/// retry was handed out again).
pub fn refused_results(current: Option<&str>, to: PendingStatus) -> String {
    let from = current
        .and_then(PendingStatus::parse)
        .unwrap_or(PendingStatus::Expired);
    format!("Cannot process results: {}", transition_error(from, to))
}

/// The status of an enhancement request, projected from the statuses of its pending
/// enhancements (spec §2): `expired` ones are ignored (their retries stand for them).
pub fn project_request_status(
    statuses: impl IntoIterator<Item = PendingStatus>,
) -> EnhancementRequestStatus {
    use PendingStatus as P;
    let mut seen = std::collections::HashSet::new();
    for s in statuses {
        if s != P::Expired {
            seen.insert(s);
        }
    }
    if seen.is_empty() || seen.iter().all(|s| *s == P::Pending) {
        return EnhancementRequestStatus::Received;
    }
    if seen
        .iter()
        .any(|s| matches!(s, P::Pending | P::Processing | P::Importing | P::Indexing))
    {
        return EnhancementRequestStatus::Processing;
    }
    if seen.iter().all(|s| *s == P::Completed) {
        return EnhancementRequestStatus::Completed;
    }
    if seen.iter().all(|s| *s == P::Failed) {
        return EnhancementRequestStatus::Failed;
    }
    EnhancementRequestStatus::PartialFailed
}

#[cfg(test)]
mod tests {
    use super::*;
    use EnhancementRequestStatus as R;
    use PendingStatus as P;

    #[test]
    fn only_the_spec_transitions_are_allowed() {
        let allowed = [
            (P::Pending, P::Processing),
            (P::Processing, P::Pending),
            (P::Processing, P::Importing),
            (P::Processing, P::Expired),
            (P::Processing, P::Failed),
            (P::Importing, P::Indexing),
            (P::Importing, P::Discarded),
            (P::Importing, P::Failed),
            (P::Indexing, P::Completed),
            (P::Indexing, P::IndexingFailed),
        ];
        for from in P::ALL {
            for to in P::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
            }
            assert_eq!(P::parse(from.as_str()), Some(from));
        }
        for status in P::ALL {
            assert_eq!(status.sql(), format!("'{}'", status.as_str()));
        }
        // The database's list of statuses (migration 0004) is this one.
        for migration in [
            include_str!("../migrations/sqlite/0004_status_check.sql"),
            include_str!("../migrations/postgres/0004_status_check.sql"),
        ] {
            let lists: Vec<&str> = migration
                .split("IN (")
                .skip(1)
                .filter_map(|rest| rest.split(')').next())
                .collect();
            assert!(!lists.is_empty());
            for list in lists {
                let listed: Vec<&str> = list.split(',').map(str::trim).collect();
                let ours: Vec<&str> = P::ALL.iter().map(|s| s.sql()).collect();
                assert_eq!(listed, ours);
            }
        }
        assert_eq!(
            transition_error(P::Expired, P::Importing),
            "Cannot transition from status 'expired' to 'importing'"
        );
    }

    #[test]
    fn request_status_projection() {
        let cases: [(&[P], R); 8] = [
            (&[], R::Received),
            (&[P::Pending, P::Expired], R::Received),
            (&[P::Pending, P::Completed], R::Processing),
            (&[P::Importing, P::Failed], R::Processing),
            (&[P::Completed, P::Expired], R::Completed),
            (&[P::Failed, P::Failed], R::Failed),
            (&[P::Failed, P::Completed], R::PartialFailed),
            (&[P::Discarded, P::Completed], R::PartialFailed),
        ];
        for (statuses, expected) in cases {
            assert_eq!(
                project_request_status(statuses.iter().copied()),
                expected,
                "{statuses:?}"
            );
        }
    }
}
