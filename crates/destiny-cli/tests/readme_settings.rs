//! The README's table of `destiny serve` settings says what `destiny serve --help` says:
//! the same flags, each with its environment variable and, where the README gives a
//! literal default, the same default. The flags are defined once, on the repository's
//! `Config`; this keeps the README from drifting away from them.

use std::collections::BTreeMap;
use std::process::Command;

/// One setting: its environment variable and its literal default, if any.
#[derive(Debug, PartialEq, Eq)]
struct Setting {
    env: String,
    default: Option<String>,
}

/// The rows of the README table whose first header cell is `destiny serve` flag.
fn readme_table() -> BTreeMap<String, Setting> {
    let readme =
        std::fs::read_to_string(destiny_testkit::python::workspace_root().join("README.md"))
            .expect("README.md");
    let mut rows = BTreeMap::new();
    let mut in_table = false;
    for line in readme.lines() {
        if line.starts_with("| `destiny serve` flag |") {
            in_table = true;
            continue;
        }
        if !in_table || line.starts_with("|---") {
            continue;
        }
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let unquote = |cell: &str| {
            cell.strip_prefix('`')
                .and_then(|c| c.strip_suffix('`'))
                .map(str::to_owned)
        };
        let flag = unquote(cells[1]).expect("a flag in backticks");
        let env = unquote(cells[2]).expect("a variable in backticks");
        // A default in backticks is a literal; prose ("generated, ...") is not compared.
        let default = unquote(cells[3]).filter(|d| !d.contains('<'));
        rows.insert(flag, Setting { env, default });
    }
    rows
}

/// The flags of `destiny serve --help`, each with its `[env: …]` and `[default: …]`.
fn help_flags() -> BTreeMap<String, Setting> {
    let out = Command::new(env!("CARGO_BIN_EXE_destiny"))
        .args(["serve", "--help"])
        .env_clear()
        .output()
        .expect("run destiny serve --help");
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).expect("UTF-8 help");
    // Each flag's block: its `--name` line and the description lines under it.
    let mut blocks: Vec<(String, String)> = Vec::new();
    for line in help.lines() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("--") {
            let name = rest.split_whitespace().next().unwrap_or_default();
            blocks.push((format!("--{name}"), String::new()));
        } else if let Some((_, text)) = blocks.last_mut() {
            text.push(' ');
            text.push_str(trimmed);
        }
    }
    let bracketed = |text: &str, key: &str| {
        let start = text.find(key)? + key.len();
        let end = text[start..].find(']')? + start;
        Some(text[start..end].to_owned())
    };
    blocks
        .into_iter()
        .filter(|(flag, _)| flag != "--help")
        .map(|(flag, text)| {
            let env = bracketed(&text, "[env: ")
                .map(|e| e.trim_end_matches('=').to_owned())
                .unwrap_or_default();
            let default = bracketed(&text, "[default: ");
            (flag, Setting { env, default })
        })
        .collect()
}

#[test]
fn the_readme_lists_every_serve_flag_with_its_variable_and_default() {
    let readme = readme_table();
    let help = help_flags();
    assert!(help.len() >= 14, "{help:?}");
    assert_eq!(
        readme.keys().collect::<Vec<_>>(),
        help.keys().collect::<Vec<_>>(),
        "the README table and --help list different flags"
    );
    for (flag, row) in &readme {
        let shown = &help[flag];
        assert_eq!(row.env, shown.env, "{flag}: environment variable");
        if let Some(default) = &row.default {
            assert_eq!(Some(default), shown.default.as_ref(), "{flag}: default");
        }
    }
}
