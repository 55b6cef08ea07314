//! Filter files (`--filter FILE`), the format pg_dump and pg_restore 17 read: one rule a
//! line, `include|exclude OBJECT_TYPE PATTERN`, blank lines and `#` comments ignored.
//!
//! A pattern runs to the first blank outside double quotes, so a quoted name may hold
//! blanks, `#` or even line breaks; the quotes stay in the pattern (the pattern rules
//! decide what they mean). After the pattern only a comment may follow. The tools decide
//! which object types and directions they accept ([`Rule::unsupported`]).

use std::path::Path;

/// The object types a filter file names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectType {
    Extension,
    ForeignData,
    Function,
    Index,
    Schema,
    Table,
    TableAndChildren,
    TableData,
    TableDataAndChildren,
    Trigger,
}

impl ObjectType {
    const NAMES: [(&'static str, ObjectType); 10] = [
        ("extension", ObjectType::Extension),
        ("foreign_data", ObjectType::ForeignData),
        ("function", ObjectType::Function),
        ("index", ObjectType::Index),
        ("schema", ObjectType::Schema),
        ("table", ObjectType::Table),
        ("table_and_children", ObjectType::TableAndChildren),
        ("table_data", ObjectType::TableData),
        ("table_data_and_children", ObjectType::TableDataAndChildren),
        ("trigger", ObjectType::Trigger),
    ];

    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, t)| *t == self)
            .map_or("?", |(n, _)| n)
    }

    fn parse(word: &str) -> Option<ObjectType> {
        Self::NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(word))
            .map(|(_, t)| *t)
    }
}

/// One line of a filter file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub include: bool,
    pub object: ObjectType,
    pub pattern: String,
    /// 1-based line where the rule starts, for messages.
    pub line: usize,
}

impl Rule {
    /// The error for a rule a tool does not take, e.g. `exclude table_data` in rrestore.
    pub fn unsupported(&self, path: &Path, tool: &str) -> FilterError {
        FilterError::new(
            path,
            self.line,
            format!(
                "{tool} does not support \"{} {}\"",
                if self.include { "include" } else { "exclude" },
                self.object.name()
            ),
        )
    }
}

/// A filter file that cannot be read or parsed: names the file and the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FilterError {
    pub message: String,
}

impl FilterError {
    fn new(path: &Path, line: usize, detail: String) -> FilterError {
        FilterError {
            message: format!(
                "invalid filter file \"{}\", line {line}: {detail}",
                path.display()
            ),
        }
    }
}

/// Reads and parses a filter file ("-" is standard input, as in pg_dump).
pub fn read(path: &Path) -> Result<Vec<Rule>, FilterError> {
    let text = if path == Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map(|_| s)
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|e| FilterError {
        message: format!("could not read filter file \"{}\": {e}", path.display()),
    })?;
    parse(&text, path)
}

/// Parses the text of a filter file; `path` is only used in messages.
pub fn parse(text: &str, path: &Path) -> Result<Vec<Rule>, FilterError> {
    let mut rules = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    loop {
        // Start of a line: skip blanks, then a comment or an empty line.
        skip_blanks(&mut chars);
        match chars.peek() {
            None => break,
            Some('\n') => {
                chars.next();
                line += 1;
                continue;
            }
            Some('#') => {
                skip_to_line_end(&mut chars);
                continue;
            }
            _ => {}
        }
        let start = line;
        let err = |detail: String| FilterError::new(path, start, detail);
        let direction = word(&mut chars);
        let include = if direction.eq_ignore_ascii_case("include") {
            true
        } else if direction.eq_ignore_ascii_case("exclude") {
            false
        } else {
            return Err(err(format!(
                "expected \"include\" or \"exclude\", found \"{direction}\""
            )));
        };
        skip_blanks(&mut chars);
        let type_word = word(&mut chars);
        if type_word.is_empty() {
            return Err(err("missing object type".into()));
        }
        let object = ObjectType::parse(&type_word).ok_or_else(|| {
            let names: Vec<&str> = ObjectType::NAMES.iter().map(|(n, _)| *n).collect();
            err(format!(
                "unknown object type \"{type_word}\" (expected one of {})",
                names.join(", ")
            ))
        })?;
        skip_blanks(&mut chars);
        let mut pattern = String::new();
        let mut quoted = false;
        while let Some(&c) = chars.peek() {
            if !quoted && (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '#') {
                break;
            }
            if c == '"' {
                quoted = !quoted;
            }
            if c == '\n' {
                line += 1;
            }
            pattern.push(c);
            chars.next();
        }
        if quoted {
            return Err(err("unterminated quoted name in the pattern".into()));
        }
        if pattern.is_empty() {
            return Err(err(format!(
                "missing pattern after \"{direction} {type_word}\""
            )));
        }
        skip_blanks(&mut chars);
        match chars.peek() {
            None | Some('\n') | Some('#') => skip_to_line_end(&mut chars),
            Some(_) => {
                let rest: String = chars.clone().take_while(|c| *c != '\n').collect();
                return Err(err(format!(
                    "unexpected text after the pattern: \"{}\"",
                    rest.trim_end()
                )));
            }
        }
        rules.push(Rule {
            include,
            object,
            pattern,
            line: start,
        });
    }
    Ok(rules)
}

fn skip_blanks(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while chars.next_if(|c| matches!(c, ' ' | '\t' | '\r')).is_some() {}
}

/// Skips the rest of the line, not its line break (the main loop counts that).
fn skip_to_line_end(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while chars.next_if(|c| *c != '\n').is_some() {}
}

fn word(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
    let mut w = String::new();
    while let Some(c) = chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_') {
        w.push(c);
    }
    if w.is_empty() {
        // Name what stands there instead, for the message.
        w.extend(chars.clone().take_while(|c| !c.is_whitespace()));
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Vec<(bool, ObjectType, String, usize)> {
        parse(text, Path::new("f.txt"))
            .unwrap()
            .into_iter()
            .map(|r| (r.include, r.object, r.pattern, r.line))
            .collect()
    }

    #[test]
    fn rules_comments_and_quotes() {
        let text = "# leading comment\n\
                    include table app.t*   # trailing comment\n\
                    \n\
                    EXCLUDE Table_Data \"Sales\".\"Q 1\"\n\
                    \tinclude schema \"a#b\"\n\
                    exclude table \"multi\nline\"\n\
                    include extension citext";
        assert_eq!(
            rules(text),
            vec![
                (true, ObjectType::Table, "app.t*".into(), 2),
                (false, ObjectType::TableData, "\"Sales\".\"Q 1\"".into(), 4),
                (true, ObjectType::Schema, "\"a#b\"".into(), 5),
                (false, ObjectType::Table, "\"multi\nline\"".into(), 6),
                (true, ObjectType::Extension, "citext".into(), 8),
            ]
        );
    }

    #[test]
    fn bad_lines_name_the_file_and_line() {
        for (text, needle) in [
            (
                "include table t\nkeep table t",
                "line 2: expected \"include\"",
            ),
            ("include tables t", "unknown object type \"tables\""),
            ("include table", "line 1: missing pattern"),
            (
                "exclude schema s extra",
                "unexpected text after the pattern: \"extra\"",
            ),
            ("include table \"open", "unterminated quoted name"),
            ("include", "missing object type"),
        ] {
            let err = parse(text, Path::new("f.txt")).unwrap_err().to_string();
            assert!(err.contains("\"f.txt\""), "{err}");
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }
}
