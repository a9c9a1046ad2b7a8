//! Globs over names and identities: a claim's expected value in an
//! identity provider's rules, a certificate identity a signature trust
//! entry accepts.

/// An expected value: exact, or a glob where `*` matches any run of
/// characters (`/` included) and `?` any one character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    /// The pattern `text`.
    pub fn new(text: &str) -> Self {
        Self(text.to_owned())
    }

    /// Whether `value` matches, whole.
    pub fn matches(&self, value: &str) -> bool {
        glob(self.0.as_bytes(), value.as_bytes())
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Iterative glob matching with one backtracking point, linear in
/// practice: a hostile claim cannot make it explode.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_values() {
        let p = Pattern::new("repo:acme/*:ref:refs/heads/main");
        assert!(p.matches("repo:acme/churn:ref:refs/heads/main"));
        assert!(p.matches("repo:acme/a/b:ref:refs/heads/main"));
        assert!(!p.matches("repo:acme/churn:ref:refs/heads/main2"));
        assert!(!p.matches("xrepo:acme/churn:ref:refs/heads/main"));
        assert!(Pattern::new("v?").matches("v1"));
        assert!(!Pattern::new("v?").matches("v12"));
        assert!(Pattern::new("*").matches(""));
        assert!(!Pattern::new("main").matches("Main"));
    }

    #[test]
    fn a_hostile_value_does_not_make_matching_explode() {
        let pattern = Pattern::new(&"*a".repeat(50));
        let value = "a".repeat(10_000) + "b";
        assert!(!pattern.matches(&value));
    }
}
