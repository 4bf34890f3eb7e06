//! What the demo shows: progress bars (on stderr, with rates as whole numbers), the
//! lines that say what happens, and the closing summary, as a table or, with `--json`,
//! as one JSON object on stdout (the other lines then go to stderr).

use indicatif::{ProgressState, ProgressStyle};
use serde_json::{Map, Value};

/// Where the demo's lines go.
#[derive(Debug, Clone, Copy)]
pub(super) struct Report {
    /// `--json`: stdout carries the summary's JSON only.
    pub json: bool,
}

impl Report {
    /// A line saying what happens: stdout, or stderr under `--json`.
    pub fn say(self, line: &str) {
        if self.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }

    /// Prints `summary`: a table, or its JSON object.
    pub fn summary(self, summary: &Summary) {
        if self.json {
            println!("{}", Value::Object(summary.json.clone()));
        } else {
            println!();
            for (name, value) in &summary.rows {
                println!("  {name:<24} {value}");
            }
        }
    }
}

/// The closing summary: rows for people, and the same figures as JSON fields.
#[derive(Debug, Default)]
pub(super) struct Summary {
    rows: Vec<(String, String)>,
    json: Map<String, Value>,
}

impl Summary {
    /// A row `name  text`, and the fields `json` holds.
    pub fn row(&mut self, name: &str, text: String, json: &[(&str, Value)]) -> &mut Self {
        self.rows.push((name.to_owned(), text));
        for (key, value) in json {
            self.json.insert((*key).to_owned(), value.clone());
        }
        self
    }

    /// A JSON field without a row of its own.
    pub fn field(&mut self, key: &str, value: Value) -> &mut Self {
        self.json.insert(key.to_owned(), value);
        self
    }
}

/// A bar style from `template`, which may use `{rate}`: items per second, whole.
pub(super) fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("a valid template")
        .with_key(
            "rate",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}/s", whole(state.per_sec()));
            },
        )
}

/// A rate as a whole number: `2015`.
pub(super) fn whole(rate: f64) -> String {
    format!("{:.0}", if rate.is_finite() { rate.max(0.0) } else { 0.0 })
}

#[cfg(test)]
mod tests {
    use super::whole;

    #[test]
    fn rates_are_whole_numbers() {
        for (rate, text) in [
            (2_015.195_9, "2015"),
            (0.4, "0"),
            (999.5, "1000"),
            (f64::NAN, "0"),
            (-3.0, "0"),
        ] {
            assert_eq!(whole(rate), text, "{rate}");
        }
    }
}
