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
    pub fn as_str(self) -> &'static str {
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

    /// Parses the database spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The statuses a pending enhancement may move to from this one; empty for terminal
    /// statuses.
    pub fn successors(self) -> &'static [Self] {
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
    pub fn can_become(self, to: Self) -> bool {
        self.successors().contains(&to)
    }

    /// The statuses from which `to` may be reached (used in `WHERE status IN (...)`).
    pub fn predecessors(to: Self) -> Vec<Self> {
        Self::ALL.into_iter().filter(|s| s.can_become(to)).collect()
    }

    /// Whether no transition leaves this status.
    pub fn is_terminal(self) -> bool {
        self.successors().is_empty()
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
        assert_eq!(
            P::predecessors(P::Failed),
            vec![P::Processing, P::Importing]
        );
        assert_eq!(
            transition_error(P::Expired, P::Importing),
            "Cannot transition from status 'expired' to 'importing'"
        );
    }

    #[test]
    fn request_status_projection() {
        assert_eq!(project_request_status([]), R::Received);
        assert_eq!(
            project_request_status([P::Pending, P::Expired]),
            R::Received
        );
        assert_eq!(
            project_request_status([P::Pending, P::Completed]),
            R::Processing
        );
        assert_eq!(
            project_request_status([P::Importing, P::Failed]),
            R::Processing
        );
        assert_eq!(
            project_request_status([P::Completed, P::Expired]),
            R::Completed
        );
        assert_eq!(project_request_status([P::Failed, P::Failed]), R::Failed);
        assert_eq!(
            project_request_status([P::Failed, P::Completed]),
            R::PartialFailed
        );
        assert_eq!(
            project_request_status([P::Discarded, P::Completed]),
            R::PartialFailed
        );
    }
}
