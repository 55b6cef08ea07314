//! Object name patterns as pg_dump reads them (psql's `\d` rules): unquoted letters fold
//! to lower case, `*` is any run of characters, `?` one character, `.` separates the
//! parts of a qualified name, double quotes keep case and make every character literal
//! (`""` is one quote), `$` is always literal, and other regular-expression characters
//! outside quotes pass through to the server's regular expression. Each part becomes an
//! anchored regular expression the server matches with `~`, as pg_dump does.

/// A pattern cut into anchored regular expressions, one per dotted part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamePattern {
    /// The pattern as the user wrote it, for messages.
    pub text: String,
    /// The parts, outermost first (`db.schema.name` gives three).
    pub parts: Vec<String>,
}

impl NamePattern {
    pub fn parse(text: &str) -> NamePattern {
        let mut parts = Vec::new();
        let mut cur = String::new();
        let mut in_quotes = false;
        let mut chars = text.chars().peekable();
        while let Some(ch) = chars.next() {
            if ch == '"' {
                if in_quotes && chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    in_quotes = !in_quotes;
                }
            } else if !in_quotes && ch.is_ascii_uppercase() {
                cur.push(ch.to_ascii_lowercase());
            } else if !in_quotes && ch == '*' {
                cur.push_str(".*");
            } else if !in_quotes && ch == '?' {
                cur.push('.');
            } else if !in_quotes && ch == '.' {
                parts.push(std::mem::take(&mut cur));
            } else if ch == '$' {
                cur.push_str("\\$");
            } else {
                // Quoted text is literal; `[]` could never be a valid bracket.
                let escape = (in_quotes && "|*+?()[]{}.^\\".contains(ch))
                    || (ch == '[' && chars.peek() == Some(&']'));
                if escape {
                    cur.push('\\');
                }
                cur.push(ch);
            }
        }
        parts.push(cur);
        NamePattern {
            text: text.to_owned(),
            parts: parts.into_iter().map(|p| format!("^({p})$")).collect(),
        }
    }

    /// The last part: the object's own name.
    pub fn name(&self) -> &str {
        self.parts.last().map(String::as_str).unwrap_or("^()$")
    }

    /// The part before the name, when the pattern names one (`schema.name`).
    pub fn qualifier(&self) -> Option<&str> {
        let n = self.parts.len();
        (n >= 2).then(|| self.parts[n - 2].as_str())
    }

    /// The database part, when the pattern is qualified that far (`db.schema.name`
    /// for `levels == 3`); pg_dump accepts only the database it dumps there.
    pub fn database(&self, levels: usize) -> Option<&str> {
        (self.parts.len() == levels).then(|| self.parts[0].as_str())
    }
}

/// Turns `^(name)$` back into the literal name it matches, when it is one (no
/// regular-expression characters): how the database part of a pattern is compared.
pub fn literal(regex: &str) -> Option<String> {
    let inner = regex.strip_prefix("^(")?.strip_suffix(")$")?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '|' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '.' | '^' | '$' => {
                return None
            }
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(p: &str) -> Vec<String> {
        NamePattern::parse(p).parts
    }

    #[test]
    fn folds_case_outside_quotes_only() {
        assert_eq!(parts("Foo"), vec!["^(foo)$"]);
        assert_eq!(parts("\"Foo\""), vec!["^(Foo)$"]);
        assert_eq!(parts("\"My\"\"Tab\""), vec!["^(My\"Tab)$"]);
    }

    #[test]
    fn wildcards_and_dots() {
        assert_eq!(parts("s*.t?"), vec!["^(s.*)$", "^(t.)$"]);
        assert_eq!(parts("\"a.b\".c"), vec!["^(a\\.b)$", "^(c)$"]);
        assert_eq!(parts("db.s.t").len(), 3);
        assert_eq!(parts("\"x*\""), vec!["^(x\\*)$"]);
    }

    #[test]
    fn regex_characters_pass_outside_quotes_and_dollar_is_literal() {
        assert_eq!(parts("t[12]"), vec!["^(t[12])$"]);
        assert_eq!(parts("a$"), vec!["^(a\\$)$"]);
        assert_eq!(parts("\"a(b)\""), vec!["^(a\\(b\\))$"]);
    }

    #[test]
    fn literal_names() {
        assert_eq!(literal("^(mydb)$").as_deref(), Some("mydb"));
        assert_eq!(literal("^(a\\.b)$").as_deref(), Some("a.b"));
        assert_eq!(literal("^(my.*)$"), None);
    }
}
