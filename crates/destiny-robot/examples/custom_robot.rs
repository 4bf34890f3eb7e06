//! A robot of your own in about 30 lines: flag each reference that has a DOI.
//!
//! DESTINY_REPOSITORY_URL=http://localhost:8000 ROBOT_ID=... ROBOT_SECRET=... \
//!     cargo run -p destiny-robot --example custom_robot
//! (BATCH_SIZE, LEASE, CONCURRENT_BATCHES, ... tune it; Ctrl-C stops it gracefully.)

use destiny_robot::{Context, Outcome, Robot, RobotFailure, RobotInfo, Runner};
use destiny_sdk::models::{
    Annotation, AnnotationContent, BooleanAnnotation, EnhancementContent, ExternalIdentifier,
    Reference,
};

struct DoiFlagger;

impl Robot for DoiFlagger {
    fn info(&self) -> RobotInfo {
        RobotInfo::new("DOI Flagger", env!("CARGO_PKG_VERSION"))
    }

    async fn enhance(&self, reference: &Reference, _ctx: &Context) -> Outcome {
        let ids = reference.identifiers.as_deref().unwrap_or_default();
        if ids.is_empty() {
            return Err(RobotFailure::permanent("the reference has no identifiers"));
        }
        let has_doi = ids
            .iter()
            .any(|id| matches!(id, ExternalIdentifier::Doi(_)));
        let annotation = BooleanAnnotation {
            scheme: "example:doi".parse().map_err(RobotFailure::fatal_batch)?,
            label: "has_doi".to_owned(),
            value: has_doi,
            score: None,
            data: Default::default(),
        };
        let annotations = vec![Annotation::Boolean(annotation)];
        Ok(EnhancementContent::Annotation(AnnotationContent { annotations }).into())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().init();
    let report = Runner::from_env(DoiFlagger)?.run_until_signal().await?;
    println!("{} references enhanced", report.references_enhanced);
    Ok(())
}
