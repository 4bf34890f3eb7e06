//! [`ToyRobot`]: the reference Python toy robot in Rust, for demos, tests and
//! benchmarks.

use std::time::Duration;

use destiny_sdk::models::{
    Annotation, AnnotationContent, AnnotationScheme, EnhancementContent, Reference, ScoreAnnotation,
};
use uuid::Uuid;

use crate::failure::RobotFailure;
use crate::robot::{Context, Outcome, Robot, RobotInfo};

/// The toys a [`ToyRobot`] picks from (the Python toy robot's list).
pub const TOYS: [&str; 17] = [
    "Woody",
    "Jessie",
    "Bullseye",
    "Stinky Pete",
    "Buzz Lightyear",
    "Rex",
    "Mr. Potatohead",
    "Mrs. Potato Head",
    "Bo Peep",
    "Slinky Dog",
    "Etch a Sketch",
    "Hamm",
    "Lenny",
    "Emperor Zurg",
    "Little Green Man 1",
    "Little Green Man n",
    "Little Green Man n+1",
];

/// The `source` of the toy robot's enhancements.
pub const TOY_SOURCE: &str = "Toy Robot";

/// The toy robot: one `annotation` enhancement per reference holding one `score`
/// annotation (scheme `meta:toy`, label `toy`, `data {"toy": <a toy>}`, a score in
/// [0, 1] with two decimals), public, from source `Toy Robot` with this crate's version.
///
/// Random by default; [`with_seed`](Self::with_seed) makes the toy and score a function
/// of the seed and the reference id.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use destiny_robot::{Context, Enhanced, Robot, ToyRobot};
/// use destiny_sdk::models::{Annotation, EnhancementContent, Reference};
/// let robot = ToyRobot::new().with_seed(42);
/// let reference: Reference = destiny_sdk::models::from_json_str(
///     r#"{"id": "3a533776-c9ad-4aac-a089-d654d509490c"}"#).unwrap();
/// let a = robot.enhance(&reference, &Context::new(1)).await.unwrap();
/// let b = robot.enhance(&reference, &Context::new(1)).await.unwrap();
/// assert_eq!(a, b);
/// let Enhanced::Content(EnhancementContent::Annotation(content)) = a else { panic!() };
/// let Annotation::Score(score) = &content.annotations[0] else { panic!() };
/// assert!((0.0..=1.0).contains(&score.score));
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct ToyRobot {
    /// Makes picks deterministic when set.
    seed: Option<u64>,
    /// Pretend work per reference (for demos and tests of slow robots).
    delay: Duration,
}

impl ToyRobot {
    /// A toy robot making random picks, instantly.
    pub fn new() -> Self {
        Self::default()
    }

    /// Picks from the seed and the reference id instead of at random.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sleeps this long per reference, like a robot that calls something slow.
    #[must_use]
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// The toy and score for a reference.
    pub fn pick(&self, reference_id: Uuid) -> (&'static str, f64) {
        let bits = match self.seed {
            Some(seed) => {
                let (hi, lo) = reference_id.as_u64_pair();
                mix(mix(seed ^ hi) ^ lo)
            }
            None => destiny_sdk::backoff::random_u64(),
        };
        let toy = TOYS[(bits >> 32) as usize % TOYS.len()];
        // As Python's round(randint(0, 100) / 100, 2): k / 100 for k in 0..=100.
        let score = (bits % 101) as f64 / 100.0;
        (toy, score)
    }
}

/// SplitMix64's finaliser: a well-mixed function of 64 bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Robot for ToyRobot {
    fn info(&self) -> RobotInfo {
        RobotInfo::new(TOY_SOURCE, env!("CARGO_PKG_VERSION"))
    }

    async fn enhance(&self, reference: &Reference, _ctx: &Context) -> Outcome {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let (toy, score) = self.pick(reference.id);
        let scheme: AnnotationScheme = "meta:toy".parse().map_err(RobotFailure::fatal_batch)?;
        let mut data = serde_json::Map::new();
        data.insert("toy".to_owned(), toy.into());
        Ok(EnhancementContent::Annotation(AnnotationContent {
            annotations: vec![Annotation::Score(ScoreAnnotation {
                scheme,
                label: "toy".to_owned(),
                score,
                data,
            })],
        })
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_picks_are_stable_and_spread() {
        let robot = ToyRobot::new().with_seed(1);
        let ids: Vec<Uuid> = (0..2000).map(|_| Uuid::new_v4()).collect();
        let mut toys = std::collections::HashSet::new();
        let mut scores = std::collections::HashSet::new();
        for id in &ids {
            let (toy, score) = robot.pick(*id);
            assert_eq!(robot.pick(*id), (toy, score));
            assert!((0.0..=1.0).contains(&score));
            assert_eq!(
                (score * 100.0).round() / 100.0,
                score,
                "two decimals: {score}"
            );
            toys.insert(toy);
            scores.insert((score * 100.0).round() as u32);
        }
        assert_eq!(toys.len(), TOYS.len());
        assert!(scores.len() > 90, "{}", scores.len());
        let other = ToyRobot::new().with_seed(2);
        let differ = ids
            .iter()
            .filter(|id| other.pick(**id) != robot.pick(**id))
            .count();
        assert!(differ > 1900, "{differ}");
    }

    #[test]
    fn the_written_line_matches_the_python_toy_robot() {
        let robot = ToyRobot::new().with_seed(9);
        let id: Uuid = "3a533776-c9ad-4aac-a089-d654d509490c".parse().unwrap();
        let reference: Reference =
            destiny_sdk::models::from_json_str(&format!(r#"{{"id": "{id}"}}"#)).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let enhanced = rt
            .block_on(robot.enhance(&reference, &Context::new(1)))
            .unwrap();
        let line = destiny_sdk::jsonl::to_line(&enhanced.into_entry(id, &robot.info())).unwrap();
        let (toy, score) = robot.pick(id);
        let want = format!(
            concat!(
                r#"{{"reference_id":"{}","source":"Toy Robot","visibility":"public","robot_version":"{}","#,
                r#""content":{{"enhancement_type":"annotation","annotations":[{{"scheme":"meta:toy","label":"toy","#,
                r#""annotation_type":"score","score":{},"data":{{"toy":"{}"}}}}]}}}}"#
            ),
            id,
            env!("CARGO_PKG_VERSION"),
            serde_json::to_string(&score).unwrap(),
            toy
        );
        assert_eq!(line, want);
    }
}
