//! The Python SDK's reference files and signature vectors in `../shared/fixtures`,
//! read where they are and never copied into the project.

use std::path::PathBuf;

/// The path of a shared fixture (`<workspace>/../shared/fixtures/<name>`).
///
/// # Panics
/// If the fixture is missing, saying where it was looked for.
pub fn fixture(name: &str) -> PathBuf {
    let path = crate::python::workspace_root()
        .join("../shared/fixtures")
        .join(name);
    assert!(
        path.exists(),
        "the shared fixture {} is missing: these tests read `../shared/fixtures` beside \
         the project checkout",
        path.display()
    );
    path
}

/// The text of a shared fixture.
///
/// # Panics
/// As [`fixture`], or when it cannot be read.
pub fn fixture_text(name: &str) -> String {
    let path = fixture(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the shared fixture {}: {e}", path.display()))
}
