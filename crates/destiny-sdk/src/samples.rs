//! Generated references with realistic shapes, deterministic per seed: for demos,
//! benchmarks and tests that need many references without shipping real data.
//!
//! Every identifier type (DOI, ERIC, PubMed, ProQuest, OpenAlex, other), the
//! bibliographic, abstract, location and annotation enhancements, and non-ASCII text
//! appear across a few dozen references.
//!
//! ```
//! use destiny_sdk::samples::ReferenceGenerator;
//! let a: Vec<_> = ReferenceGenerator::new(7).take(3).collect();
//! let b: Vec<_> = ReferenceGenerator::new(7).take(3).collect();
//! assert_eq!(a, b);
//! assert!(a[0].identifiers.as_ref().is_some_and(|ids| !ids.is_empty()));
//! ```

use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::models::{
    AbstractContent, AbstractProcessType, Annotation, AnnotationContent, AuthorPosition,
    Authorship, BibliographicMetadata, BooleanAnnotation, DriverVersion, Enhancement,
    EnhancementContent, ExternalIdentifier, Location, LocationContent, Reference, Visibility,
};

/// SplitMix64: a tiny, well-mixed PRNG; enough for sample data and seeded test
/// documents, not for secrets. The same seed gives the same stream.
///
/// ```
/// let mut a = destiny_sdk::samples::Rng::new(7);
/// let mut b = destiny_sdk::samples::Rng::new(7);
/// assert_eq!(a.below(1000), b.below(1000));
/// assert!(a.below(10) < 10);
/// ```
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A stream seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// One of `items`, which must not be empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A version-4 UUID from the stream.
    fn uuid(&mut self) -> Uuid {
        let bytes = (u128::from(self.next_u64()) << 64 | u128::from(self.next_u64())).to_be_bytes();
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

const GIVEN: &[&str] = &[
    "Amara", "José", "Zeynep", "Søren", "Ngozi", "Hiroshi", "Olga", "Priya", "Łukasz", "Chloé",
    "Mateus", "Aigerim", "Tomás", "Yuki", "Fatima", "Björn", "Ana", "Dmitri", "Nomvula", "Li",
];
const FAMILY: &[&str] = &[
    "Okafor",
    "García",
    "Yılmaz",
    "Kierkegaard",
    "Adeyemi",
    "Tanaka",
    "Ivanova",
    "Sharma",
    "Wiśniewski",
    "Dubois",
    "Silva",
    "Nurlanovna",
    "Muñoz",
    "Sato",
    "Haddad",
    "Lindqvist",
    "Pereira",
    "Смирнов",
    "Dlamini",
    "王",
];
const TOPICS: &[&str] = &[
    "early childhood literacy",
    "cash transfer programmes",
    "school feeding",
    "malaria bed nets",
    "teacher coaching",
    "microfinance",
    "community health workers",
    "climate adaptation",
    "remote learning",
    "conditional scholarships",
    "mental health first aid",
    "water sanitation",
];
const OUTCOMES: &[&str] = &[
    "learning outcomes",
    "household consumption",
    "attendance",
    "child mortality",
    "test scores",
    "wellbeing",
    "employment",
    "food security",
];
const PLACES: &[&str] = &[
    "Kenya",
    "Perú",
    "Türkiye",
    "Việt Nam",
    "Bangladesh",
    "México",
    "Côte d'Ivoire",
    "Nepal",
    "España",
    "Ελλάδα",
];
const PUBLISHERS: &[&str] = &[
    "Elsevier BV",
    "Springer Nature",
    "Wiley",
    "SAGE",
    "Éditions Érès",
    "MDPI",
];
const LICENSES: &[&str] = &["cc-by", "cc-by-nc", "cc0", "publisher-specific-oa"];

/// An endless, seeded stream of references.
#[derive(Debug, Clone)]
pub struct ReferenceGenerator {
    rng: Rng,
    index: u64,
}

impl ReferenceGenerator {
    /// A generator; the same seed gives the same references.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: Rng(seed ^ 0x5EED_D357_1A7F_u64),
            index: 0,
        }
    }

    /// The next reference.
    pub fn generate(&mut self) -> Reference {
        let i = self.index;
        self.index += 1;
        let rng = &mut self.rng;
        let id = rng.uuid();
        let topic = *rng.pick(TOPICS);
        let outcome = *rng.pick(OUTCOMES);
        let place = *rng.pick(PLACES);
        let year = 1995 + rng.below(31) as i64;
        let title = format!("Effects of {topic} on {outcome}: evidence from {place}");

        let mut identifiers = vec![ExternalIdentifier::OpenAlex(
            format!("W{}", 1_000_000_000 + rng.below(4_000_000_000))
                .parse()
                .expect("valid OpenAlex id"),
        )];
        if rng.chance(85) {
            let doi = format!(
                "10.{}/{}.{year}.{}",
                1000 + rng.below(90_000),
                topic.split(' ').next().unwrap_or("x"),
                i
            );
            identifiers.push(ExternalIdentifier::Doi(doi.parse().expect("valid DOI")));
        }
        match i % 5 {
            0 => identifiers.push(ExternalIdentifier::PmId(
                10_000_000 + rng.below(30_000_000) as i64,
            )),
            1 => identifiers.push(ExternalIdentifier::Eric(
                format!(
                    "E{}{}",
                    if rng.chance(50) { 'J' } else { 'D' },
                    100_000 + rng.below(900_000)
                )
                .parse()
                .expect("valid ERIC number"),
            )),
            2 => identifiers.push(ExternalIdentifier::ProQuest(
                format!("{}", 1_000_000_000 + rng.below(999_999_999))
                    .parse()
                    .expect("valid ProQuest id"),
            )),
            3 => identifiers.push(ExternalIdentifier::Other {
                identifier: format!("978-{}-{}", rng.below(10), 10_000 + rng.below(89_999)),
                other_identifier_name: "isbn".to_owned(),
            }),
            _ => {}
        }

        let authors = 1 + rng.below(6) as usize;
        let authorship = (0..authors)
            .map(|a| Authorship {
                display_name: format!("{} {}", rng.pick(GIVEN), rng.pick(FAMILY)),
                orcid: rng.chance(40).then(|| {
                    format!(
                        "https://orcid.org/0000-000{}-{:04}-{:04}",
                        rng.below(3),
                        rng.below(10_000),
                        rng.below(10_000)
                    )
                }),
                position: match a {
                    0 => AuthorPosition::First,
                    _ if a + 1 == authors => AuthorPosition::Last,
                    _ => AuthorPosition::Middle,
                },
            })
            .collect();
        let month = 1 + rng.below(12) as i8;
        let day = 1 + rng.below(28) as i8;
        let date = jiff::civil::date(year as i16, month, day);
        let enhancement = |content: EnhancementContent, source: &str| Enhancement {
            id: None,
            reference_id: id,
            source: source.to_owned(),
            visibility: Visibility::Public,
            robot_version: Some("generated".to_owned()),
            derived_from: None,
            supersedes: None,
            content,
            created_at: None,
        };
        let mut enhancements = vec![enhancement(
            EnhancementContent::Bibliographic(BibliographicMetadata {
                authorship: Some(authorship),
                cited_by_count: Some(rng.below(500) as i64),
                created_date: Some(date),
                updated_date: Some(date),
                publication_date: Some(date),
                publication_year: Some(year),
                publisher: Some((*rng.pick(PUBLISHERS)).to_owned()),
                title: Some(title.clone()),
                pagination: None,
                publication_venue: None,
            }),
            "openalex",
        )];
        if rng.chance(80) {
            let abstract_ = format!(
                "We study {topic} in {place} ({year}). Using a randomised design with {} participants, \
                 we estimate effects on {outcome}. Results suggest an effect of {:.2} standard deviations; \
                 naïve comparisons overstate it — a caveat for policy.",
                100 + rng.below(20_000),
                rng.unit() * 0.6 - 0.1,
            );
            enhancements.push(enhancement(
                EnhancementContent::Abstract(AbstractContent {
                    process: AbstractProcessType::Uninverted,
                    abstract_,
                }),
                "openalex",
            ));
        }
        if rng.chance(70) {
            let mut extra = Map::new();
            extra.insert(
                "display_name".into(),
                Value::String(format!("Journal of {}", capitalise(outcome))),
            );
            extra.insert("issn_l".into(), Value::Null);
            let landing = format!("https://example.org/works/{id}");
            enhancements.push(enhancement(
                EnhancementContent::Location(LocationContent {
                    locations: vec![Location {
                        is_oa: Some(rng.chance(50)),
                        version: Some(*rng.pick(&[
                            DriverVersion::Published,
                            DriverVersion::Accepted,
                            DriverVersion::Submitted,
                        ])),
                        landing_page_url: Some(landing.parse().expect("valid URL")),
                        pdf_url: rng.chance(30).then(|| {
                            format!("https://example.org/works/{id}.pdf")
                                .parse()
                                .expect("valid URL")
                        }),
                        license: rng.chance(60).then(|| (*rng.pick(LICENSES)).to_owned()),
                        extra: Some(extra),
                    }],
                }),
                "openalex",
            ));
        }
        if rng.chance(60) {
            let annotations = (0..1 + rng.below(3))
                .map(|_| {
                    let score = (rng.unit() * 10_000.0).round() / 10_000.0;
                    let label = capitalise(rng.pick::<&str>(TOPICS));
                    let mut data = Map::new();
                    data.insert("score".into(), json!(score));
                    data.insert("display_name".into(), Value::String(label.clone()));
                    Annotation::Boolean(BooleanAnnotation {
                        scheme: "openalex:topic".parse().expect("valid scheme"),
                        label,
                        value: true,
                        score: None,
                        data,
                    })
                })
                .collect();
            enhancements.push(enhancement(
                EnhancementContent::Annotation(AnnotationContent { annotations }),
                "openalex",
            ));
        }
        Reference {
            visibility: Visibility::Public,
            id,
            identifiers: Some(identifiers),
            enhancements: Some(enhancements),
        }
    }
}

impl Iterator for ReferenceGenerator {
    type Item = Reference;

    fn next(&mut self) -> Option<Reference> {
        Some(self.generate())
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonl;
    use crate::models::ExternalIdentifier as X;

    #[test]
    fn generated_references_are_valid_varied_and_deterministic() {
        let refs: Vec<Reference> = ReferenceGenerator::new(42).take(60).collect();
        let mut kinds = std::collections::BTreeSet::new();
        let mut contents = std::collections::BTreeSet::new();
        let mut non_ascii = false;
        for r in &refs {
            assert_eq!(r.id.get_version_num(), 4);
            let line = jsonl::to_line(r).unwrap();
            non_ascii |= !line.is_ascii();
            // Every line reads back to the same reference: the generator makes only valid models.
            let back: Reference = jsonl::parse_line(&line).unwrap();
            assert_eq!(&back, r);
            for id in r.identifiers.as_deref().unwrap_or_default() {
                kinds.insert(id.identifier_type().to_owned());
                assert!(!matches!(id, X::Unknown(_)));
            }
            for e in r.enhancements.as_deref().unwrap_or_default() {
                contents.insert(e.content.enhancement_type().to_owned());
            }
        }
        assert_eq!(kinds.len(), 6, "{kinds:?}");
        assert_eq!(contents.len(), 4, "{contents:?}");
        assert!(non_ascii);
        let again: Vec<Reference> = ReferenceGenerator::new(42).take(60).collect();
        assert_eq!(again, refs);
        let other: Vec<Reference> = ReferenceGenerator::new(43).take(60).collect();
        assert_ne!(other, refs);
    }
}
