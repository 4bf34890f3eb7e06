//! The syntax of `simple_query_string` (Lucene's `SimpleQueryParser`, which
//! Elasticsearch runs): terms, `"phrases"`, `prefix*`, `+` (and), `|` (or), `-` (not)
//! and parentheses, combined left to right with no precedence between `+` and `|`, as
//! Lucene does (`a | b + c` is `(a | b) + c`). Fuzziness and slop (`~`) are refused.
//!
//! On keyword fields (the only text fields of the percolation mapping) the keyword
//! analyzer keeps a term or phrase whole, so there is no text analysis to do here.

/// A parsed `simple_query_string`.
#[derive(Debug, Clone, PartialEq)]
pub enum Simple {
    /// Nothing was given: matches no document.
    Empty,
    /// A value equal to this text (a term or a phrase, both kept whole).
    Exact(String),
    /// A value starting with this text (`prefix*`).
    Prefix(String),
    /// Not this (`-`): every document but those it matches.
    Not(Box<Simple>),
    /// Both.
    And(Box<Simple>, Box<Simple>),
    /// Either.
    Or(Box<Simple>, Box<Simple>),
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    And,
    Or,
}

/// Parses `text`; `and` makes whitespace mean `+` (`default_operator: and`).
///
/// # Errors
/// A problem with the text, as a sentence.
pub fn parse(text: &str, and: bool) -> Result<Simple, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut at = 0;
    let default = if and { Op::And } else { Op::Or };
    let parsed = group(&chars, &mut at, default, false)?;
    Ok(parsed.unwrap_or(Simple::Empty))
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn ends_term(c: char) -> bool {
    is_space(c) || matches!(c, '+' | '|' | '"' | '(' | ')')
}

/// Clauses up to the end (or the `)` closing this group), folded left to right.
fn group(chars: &[char], at: &mut usize, default: Op, inner: bool) -> Result<Option<Simple>, String> {
    let mut top: Option<Simple> = None;
    let mut op: Option<Op> = None;
    let mut nots = 0usize;
    while *at < chars.len() {
        let c = chars[*at];
        let branch = match c {
            c if is_space(c) => {
                *at += 1;
                continue;
            }
            '+' => {
                *at += 1;
                if top.is_some() {
                    op = Some(Op::And);
                }
                continue;
            }
            '|' => {
                *at += 1;
                if top.is_some() {
                    op = Some(Op::Or);
                }
                continue;
            }
            '-' => {
                *at += 1;
                nots += 1;
                continue;
            }
            ')' => {
                *at += 1;
                if inner {
                    return Ok(top);
                }
                continue;
            }
            '(' => {
                *at += 1;
                group(chars, at, default, true)?
            }
            '"' => {
                *at += 1;
                let text = until_quote(chars, at);
                if chars.get(*at) == Some(&'~') {
                    return Err("phrase slop (`\"…\"~N`) is not supported here.".into());
                }
                Some(Simple::Exact(text))
            }
            _ => Some(term(chars, at)?),
        };
        let Some(mut branch) = branch else {
            nots = 0;
            continue;
        };
        if nots % 2 == 1 {
            branch = Simple::Not(Box::new(branch));
        }
        nots = 0;
        top = Some(match top {
            None => branch,
            Some(left) => match op.unwrap_or(default) {
                Op::And => Simple::And(Box::new(left), Box::new(branch)),
                Op::Or => Simple::Or(Box::new(left), Box::new(branch)),
            },
        });
        op = None;
    }
    Ok(top)
}

/// A phrase's text up to its closing quote (or the end), escapes resolved.
fn until_quote(chars: &[char], at: &mut usize) -> String {
    let mut text = String::new();
    while *at < chars.len() {
        let c = chars[*at];
        *at += 1;
        match c {
            '\\' if *at < chars.len() => {
                text.push(chars[*at]);
                *at += 1;
            }
            '"' => break,
            c => text.push(c),
        }
    }
    text
}

/// A term up to the next separator: `prefix*` is a prefix; `~` (fuzziness) is refused.
fn term(chars: &[char], at: &mut usize) -> Result<Simple, String> {
    let mut text = String::new();
    let mut escaped_end = false;
    while *at < chars.len() && !ends_term(chars[*at]) {
        let c = chars[*at];
        *at += 1;
        match c {
            '\\' if *at < chars.len() => {
                text.push(chars[*at]);
                *at += 1;
                escaped_end = true;
                continue;
            }
            '~' => return Err(format!("fuzziness (`{text}~`) is not supported here.")),
            c => text.push(c),
        }
        escaped_end = false;
    }
    if !escaped_end {
        if let Some(stem) = text.strip_suffix('*') {
            return Ok(Simple::Prefix(stem.to_owned()));
        }
    }
    Ok(Simple::Exact(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(s: &str) -> Box<Simple> {
        Box::new(Simple::Exact(s.into()))
    }

    #[test]
    fn the_syntax_as_lucene_reads_it() {
        let cases: Vec<(&str, bool, Simple)> = vec![
            ("", false, Simple::Empty),
            ("include", false, Simple::Exact("include".into())),
            ("a b", false, Simple::Or(exact("a"), exact("b"))),
            ("a b", true, Simple::And(exact("a"), exact("b"))),
            ("a + b", false, Simple::And(exact("a"), exact("b"))),
            (
                "a | b + c",
                false,
                Simple::And(Box::new(Simple::Or(exact("a"), exact("b"))), exact("c")),
            ),
            (
                "a + (b | c)",
                false,
                Simple::And(exact("a"), Box::new(Simple::Or(exact("b"), exact("c")))),
            ),
            ("-a", false, Simple::Not(exact("a"))),
            ("--a", false, Simple::Exact("a".into())),
            ("\"in scope\"", false, Simple::Exact("in scope".into())),
            ("incl*", false, Simple::Prefix("incl".into())),
            ("incl\\*", false, Simple::Exact("incl*".into())),
            ("classifier:flag", false, Simple::Exact("classifier:flag".into())),
            ("well-known", false, Simple::Exact("well-known".into())),
        ];
        for (text, and, want) in cases {
            assert_eq!(parse(text, and).unwrap(), want, "{text:?} (and: {and})");
        }
    }

    #[test]
    fn fuzziness_and_slop_are_refused() {
        assert!(parse("colour~1", false).unwrap_err().contains("fuzziness"));
        assert!(parse("\"a b\"~2", false).unwrap_err().contains("slop"));
    }
}
