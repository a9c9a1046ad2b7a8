//! Claim rules: which verified tokens become which principal. A rule names
//! an issuer and patterns for claims (all must match); the first rule that
//! matches gives the principal's name (a template over the claims), its
//! role and its limits.

use serde_json::{Map, Value};

use crate::domain::access::Grant;
use crate::domain::pattern::Pattern;

/// The longest principal name a template may produce (as for static
/// principals).
const MAX_PRINCIPAL_LENGTH: usize = 256;

/// A principal name with `{claim}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Claim(String),
}

impl Template {
    /// Parses `text`; braces must pair and name a claim.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return Err(format!("{text:?} has a `}}` without its `{{`"));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("{text:?} has a `{{` without its `}}`"))?;
            let claim = &rest[open + 1..open + close];
            if claim.is_empty() || claim.contains('{') {
                return Err(format!(
                    "{text:?}: `{{…}}` must name one claim, e.g. {{sub}}"
                ));
            }
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_owned()));
            }
            pieces.push(Piece::Claim(claim.to_owned()));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        if pieces.is_empty() || text.trim().is_empty() {
            return Err("must not be empty".to_owned());
        }
        Ok(Self(pieces))
    }

    /// The name when the template has no placeholder.
    pub fn literal(&self) -> Option<&str> {
        match self.0.as_slice() {
            [Piece::Text(text)] => Some(text),
            _ => None,
        }
    }

    /// The name for `claims`, or which claim cannot fill it.
    pub fn render(&self, claims: &Map<String, Value>) -> Result<String, String> {
        let mut name = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(text) => name.push_str(text),
                Piece::Claim(claim) => match claims.get(claim).and_then(scalar) {
                    Some(value) => name.push_str(&value),
                    None => {
                        return Err(format!(
                            "the principal template needs claim {claim:?}, which the token \
                             lacks or holds as a list"
                        ));
                    }
                },
            }
        }
        if name.len() > MAX_PRINCIPAL_LENGTH || name.chars().any(char::is_control) {
            return Err(format!(
                "the principal name would be longer than {MAX_PRINCIPAL_LENGTH} bytes or hold \
                 control characters"
            ));
        }
        Ok(name)
    }
}

/// A string, number or boolean claim as text.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// One `[[rule]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The `[[issuer]]` name its tokens must come from.
    pub issuer: String,
    /// Claim → patterns, any of which may match (a list claim such as
    /// `groups` matches when one of its members does). All claims must.
    pub claims: Vec<(String, Vec<Pattern>)>,
    /// The principal's name.
    pub principal: Template,
    /// Role and limits.
    pub grant: Grant,
}

impl Rule {
    /// The principal's name when the rule matches a token of `issuer`
    /// with `claims`, or why it does not.
    pub fn apply(&self, issuer: &str, claims: &Map<String, Value>) -> Result<String, String> {
        if self.issuer != issuer {
            return Err(format!("it is for issuer {:?}", self.issuer));
        }
        for (claim, patterns) in &self.claims {
            let values: Vec<String> = match claims.get(claim) {
                Some(Value::Array(items)) => items.iter().filter_map(scalar).collect(),
                Some(value) => scalar(value).into_iter().collect(),
                None => Vec::new(),
            };
            if values.is_empty() {
                return Err(format!("the token has no claim {claim:?}"));
            }
            let matched = values
                .iter()
                .any(|value| patterns.iter().any(|pattern| pattern.matches(value)));
            if !matched {
                let expected: Vec<String> = patterns.iter().map(ToString::to_string).collect();
                return Err(format!(
                    "claim {claim:?} is {values:?}, not {}",
                    expected.join(" or ")
                ));
            }
        }
        self.principal.render(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_from_claims_and_say_what_is_missing() {
        let template = Template::parse("gha:{repository}@{ref}").unwrap();
        let claims: Map<String, Value> = serde_json::from_str(
            r#"{"repository": "acme/churn", "ref": "refs/heads/main", "groups": ["a"]}"#,
        )
        .unwrap();
        assert_eq!(
            template.render(&claims).unwrap(),
            "gha:acme/churn@refs/heads/main"
        );
        let lacking = Template::parse("{groups}").unwrap().render(&claims);
        assert!(lacking.unwrap_err().contains("\"groups\""));
        assert!(Template::parse("gha:{repository").is_err());
        assert!(Template::parse("gha:}x").is_err());
        assert!(Template::parse("{}").is_err());
        assert_eq!(Template::parse("bot").unwrap().literal(), Some("bot"));
    }
}
