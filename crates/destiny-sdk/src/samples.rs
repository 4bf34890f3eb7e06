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
    Authorship, BibliographicMetadata, BooleanAnnotation, DateTime, DriverVersion, Enhancement,
    EnhancementContent, ExternalIdentifier, FullTextContent, LinkedDataContent, Location,
    LocationContent, Pagination, PublicationVenue, PublicationVenueType, Reference,
    TombstoneContent, Visibility,
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
    today: bool,
}

impl ReferenceGenerator {
    /// A generator; the same seed gives the same references.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: Rng(seed ^ 0x5EED_D357_1A7F_u64),
            index: 0,
            today: false,
        }
    }

    /// Also today's shapes (SDK 0.17.6), as today's repository hands references to robots:
    /// `url` identifiers, DOIs with non-ASCII letters and punctuation, bibliographic
    /// `pagination` and `publication_venue`, `linked_data`, `full_text` and (superseding
    /// the location) `tombstone` enhancements, and every enhancement with an `id` and a
    /// `created_at`. SDK 0.7.4 cannot read these; the default output stays 2025's.
    pub fn today(mut self) -> Self {
        self.today = true;
        self
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
        if self.today {
            self.add_today_shapes(id, i, &mut identifiers, &mut enhancements);
        }
        Reference {
            visibility: Visibility::Public,
            id,
            identifiers: Some(identifiers),
            enhancements: Some(enhancements),
        }
    }

    fn add_today_shapes(
        &mut self,
        id: Uuid,
        i: u64,
        identifiers: &mut Vec<ExternalIdentifier>,
        enhancements: &mut Vec<Enhancement>,
    ) {
        let rng = &mut self.rng;
        identifiers.push(ExternalIdentifier::Url(
            format!("https://Example.org/works/{id}?v=1")
                .parse()
                .expect("valid URL"),
        ));
        let doi = *rng.pick(&[
            "https://doi.org/10.18730/9WQ$D",
            "10.1000/édition",
            "DOI: 10.123456789/ünïcödé\u{2010}dash",
            "10.5555/a<b>#c",
        ]);
        identifiers.push(ExternalIdentifier::Doi(
            format!("{doi}.{i}").parse().expect("valid DOI"),
        ));
        let day = 1 + rng.below(28);
        let created_at: DateTime = format!("2026-0{}-{day:02}T12:00:00Z", 1 + rng.below(9))
            .parse()
            .expect("valid datetime");
        for e in enhancements.iter_mut() {
            e.id = Some(rng.uuid());
            e.created_at = Some(created_at.clone());
            if let EnhancementContent::Bibliographic(b) = &mut e.content {
                let first = 1 + rng.below(300);
                b.pagination = Some(Box::new(Pagination {
                    volume: Some(format!("{}", 1 + rng.below(60))),
                    issue: rng
                        .chance(70)
                        .then(|| (*rng.pick(&["1", "2", "Spring", "S1"])).to_owned()),
                    first_page: Some(first.to_string()),
                    last_page: Some((first + rng.below(30)).to_string()),
                }));
                b.publication_venue = Some(Box::new(PublicationVenue {
                    display_name: b.publisher.clone(),
                    venue_type: Some(*rng.pick(&[
                        PublicationVenueType::Journal,
                        PublicationVenueType::Repository,
                        PublicationVenueType::Conference,
                    ])),
                    issn: Some(vec![format!(
                        "{:04}-{:04}",
                        rng.below(10_000),
                        rng.below(10_000)
                    )]),
                    issn_l: None,
                    host_organization_name: b.publisher.clone(),
                }));
            }
        }
        let location = enhancements
            .iter()
            .find(|e| matches!(e.content, EnhancementContent::Location(_)))
            .and_then(|e| e.id);
        let template = enhancements[0].clone();
        let mut add = |content: EnhancementContent, supersedes: Option<Uuid>, rng: &mut Rng| {
            enhancements.push(Enhancement {
                id: Some(rng.uuid()),
                supersedes,
                content,
                ..template.clone()
            });
        };
        if rng.chance(50) {
            let concept = rng.below(40);
            let mut data = Map::new();
            data.insert(
                "@context".into(),
                json!("https://vocab.example.org/esea/context.jsonld"),
            );
            data.insert(
                "@id".into(),
                json!(format!("https://vocab.example.org/esea/c{concept}")),
            );
            data.insert("label".into(), json!(format!("Concept {concept}")));
            add(
                EnhancementContent::LinkedData(LinkedDataContent {
                    vocabulary_uri: "https://vocab.example.org/esea/"
                        .parse()
                        .expect("valid URL"),
                    data,
                }),
                None,
                rng,
            );
        }
        if rng.chance(30) {
            let checksum: String = (0..4).map(|_| format!("{:016x}", rng.next_u64())).collect();
            add(
                EnhancementContent::FullText(FullTextContent {
                    file_url: format!("https://example.org/works/{id}.pdf")
                        .parse()
                        .expect("valid URL"),
                    byte_size: Some(10_000 + rng.below(5_000_000) as i64),
                    sha256_checksum: Some(checksum),
                    mime_type: "application/pdf".to_owned(),
                    version: Some(DriverVersion::Accepted),
                    is_oa: Some(rng.chance(50)),
                    license: Some((*rng.pick(LICENSES)).to_owned()),
                    source: Some("unpaywall".to_owned()),
                    source_url: None,
                    retrieved_at: Some(created_at.clone()),
                }),
                None,
                rng,
            );
        }
        if let Some(location) = location.filter(|_| rng.chance(10)) {
            add(
                EnhancementContent::Tombstone(TombstoneContent {
                    reason: Some("Location withdrawn by the publisher.".to_owned()),
                }),
                Some(location),
                rng,
            );
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

    #[test]
    fn today_adds_every_new_shape_and_reads_back() {
        let mut contents = std::collections::BTreeSet::new();
        let mut kinds = std::collections::BTreeSet::new();
        for r in ReferenceGenerator::new(7).today().take(200) {
            let line = jsonl::to_line(&r).unwrap();
            let back: Reference = jsonl::parse_line(&line).unwrap();
            assert_eq!(back, r);
            kinds.extend(
                r.identifiers()
                    .iter()
                    .map(|i| i.identifier_type().to_owned()),
            );
            for e in r.enhancements() {
                contents.insert(e.content.enhancement_type().to_owned());
                assert!(e.id.is_some() && e.created_at.is_some());
            }
            assert!(r.doi().is_some());
        }
        assert!(kinds.contains("url"), "{kinds:?}");
        for kind in ["linked_data", "full_text", "tombstone"] {
            assert!(contents.contains(kind), "{kind} in {contents:?}");
        }
    }
}
