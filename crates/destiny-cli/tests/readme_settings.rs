//! The README's tables of settings say what `--help` says: `destiny serve` (the same
//! flags, each with its environment variable and, where the README gives a literal
//! default, the same default) and the runner's variables (`destiny robot run`: each
//! variable read by a flag, with the same default). The flags are defined once, on the
//! repository's `Config` and the runtime's `RunnerSettings`; this keeps the README from
//! drifting away from them.

use std::collections::BTreeMap;
use std::process::Command;

/// One setting: its environment variable and its literal default, if any.
#[derive(Debug, PartialEq, Eq)]
struct Setting {
    env: String,
    default: Option<String>,
}

/// The cells of the rows of the README table whose header line starts with `header`.
fn readme_rows(header: &str) -> Vec<Vec<String>> {
    let readme =
        std::fs::read_to_string(destiny_testkit::python::workspace_root().join("README.md"))
            .expect("README.md");
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in readme.lines() {
        if line.starts_with(header) {
            in_table = true;
            continue;
        }
        if !in_table || line.starts_with("|---") {
            continue;
        }
        if !line.starts_with('|') {
            break;
        }
        rows.push(line.split('|').map(|c| c.trim().to_owned()).collect());
    }
    assert!(!rows.is_empty(), "no README table under {header:?}");
    rows
}

/// The text inside backticks, if the cell is one code span.
fn unquote(cell: &str) -> Option<String> {
    cell.strip_prefix('`')
        .and_then(|c| c.strip_suffix('`'))
        .map(str::to_owned)
}

/// The `destiny serve` table: flag -> variable and literal default.
fn readme_table() -> BTreeMap<String, Setting> {
    readme_rows("| `destiny serve` flag |")
        .into_iter()
        .map(|cells| {
            let flag = unquote(&cells[1]).expect("a flag in backticks");
            let env = unquote(&cells[2]).expect("a variable in backticks");
            // A default in backticks is a literal; prose ("generated, ...") is not compared.
            let default = unquote(&cells[3]).filter(|d| !d.contains('<'));
            (flag, Setting { env, default })
        })
        .collect()
}

/// The flags of `destiny <args> --help`, each with its `[env: …]` and `[default: …]`.
fn help_flags(args: &[&str]) -> BTreeMap<String, Setting> {
    let out = Command::new(env!("CARGO_BIN_EXE_destiny"))
        .args(args)
        .arg("--help")
        .env_clear()
        .output()
        .expect("run destiny --help");
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
    let help = help_flags(&["serve"]);
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

#[test]
fn the_readme_lists_every_runner_variable_with_its_flag_and_default() {
    let help = help_flags(&["robot", "run"]);
    let by_env: BTreeMap<&str, &Setting> = help
        .values()
        .filter(|s| !s.env.is_empty())
        .map(|s| (s.env.as_str(), s))
        .collect();
    let rows = readme_rows("| variable | meaning | default |");
    assert!(rows.len() >= 10, "{rows:?}");
    for cells in &rows {
        let env = unquote(&cells[1]).expect("a variable in backticks");
        let shown = by_env
            .get(env.as_str())
            .unwrap_or_else(|| panic!("{env} is read by no flag of destiny robot run"));
        // A default written as a number or in backticks is a literal.
        let default = unquote(&cells[3]).or_else(|| {
            cells[3]
                .chars()
                .all(|c| c.is_ascii_digit())
                .then(|| cells[3].clone())
        });
        if let Some(default) = default {
            assert_eq!(Some(&default), shown.default.as_ref(), "{env}: default");
        }
    }
    assert_eq!(
        rows.len(),
        by_env.len(),
        "the README lists {} runner variables, destiny robot run reads {:?}",
        rows.len(),
        by_env.keys().collect::<Vec<_>>()
    );
}
