//! The tokens file: TOML, one `[[principal]]` table per principal, holding
//! only the SHA-256 of each token. `model-registry-server hash-token`
//! prints such a table, so a file made only of its output is valid:
//!
//! ```toml
//! [[principal]]
//! name = "ci"
//! role = "trainer"
//! token_sha256 = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
//!
//! [[principal]]
//! name = "release-bot"
//! role = "deployer"
//! token_sha256 = "…"
//! aliases = ["staging", "canary"]     # optional: the only aliases it may change
//! model_prefixes = ["churn"]          # optional: the only models it may change
//!
//! [[principal]]
//! name = "deployer.example.com"       # a client certificate's CN or DNS name
//! role = "deployer"
//! client_certificate = true
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{Principal, digests_equal, oidc};
use crate::domain::access::{Grant, Role};
use crate::domain::{AliasName, DomainResult, ModelName, secret};

/// Why a tokens file cannot be used. Never contains a token.
#[derive(Debug, thiserror::Error)]
pub enum TokensFileError {
    /// The file cannot be read.
    #[error("cannot read the tokens file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("the tokens file {path} is not valid: {detail}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong (entry and field).
        detail: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    #[serde(default)]
    principal: Vec<Entry>,
    #[serde(default)]
    issuer: Vec<oidc::IssuerEntry>,
    #[serde(default)]
    rule: Vec<oidc::RuleEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    role: String,
    token_sha256: Option<String>,
    #[serde(default)]
    client_certificate: bool,
    aliases: Option<Vec<String>>,
    model_prefixes: Option<Vec<String>>,
}

/// The principals of a tokens file, by token digest and certificate name.
#[derive(Debug, Default)]
pub struct PrincipalTable {
    tokens: Vec<([u8; 32], Principal)>,
    certificates: BTreeMap<String, Principal>,
    /// Identity providers whose tokens are accepted, and their rules.
    pub trust: oidc::Trust,
}

/// Refuses a tokens file others than its owner may write: whoever can add
/// a line can make themselves an admin.
#[cfg(unix)]
fn refuse_shared_writes(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| format!("cannot read its permissions: {e}"))?
        .permissions()
        .mode();
    if mode & 0o022 != 0 {
        return Err(format!(
            "it is writable by {} (mode {:o}), and whoever can add a line can make themselves \
             an admin; chmod go-w it (e.g. chmod 600)",
            if mode & 0o002 != 0 {
                "everyone"
            } else {
                "its group"
            },
            mode & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_shared_writes(_path: &Path) -> Result<(), String> {
    Ok(())
}

impl PrincipalTable {
    /// Reads and checks the file at `path`.
    pub fn read(path: &Path) -> Result<Self, TokensFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokensFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |detail: String| TokensFileError::Invalid {
            path: path.to_path_buf(),
            detail,
        };
        refuse_shared_writes(path).map_err(invalid)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let table = Self::parse_in(&text, dir).map_err(invalid)?;
        // Authentication on with nobody allowed in would look healthy and
        // refuse every call: refuse the file instead.
        if table.is_empty() {
            return Err(invalid(
                "it names no principal, so every call would fail UNAUTHENTICATED; add \
                 [[principal]] entries (printf %s \"$TOKEN\" | model-registry-server \
                 hash-token --principal NAME --role ROLE >> FILE)"
                    .to_owned(),
            ));
        }
        Ok(table)
    }

    /// Parses a file's text; files it names are read from the working
    /// directory.
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::parse_in(text, Path::new("."))
    }

    /// Parses a file's text; files it names are read from `dir`.
    pub fn parse_in(text: &str, dir: &Path) -> Result<Self, String> {
        // toml's messages quote the offending line, which could hold a
        // secret pasted by mistake: keep only the location.
        let file: TokensFile = toml::from_str(text).map_err(|e| match e.span() {
            Some(span) => format!(
                "not a tokens file (TOML error near line {}): {}",
                text[..span.start.min(text.len())].lines().count().max(1),
                e.message()
            ),
            None => format!("not a tokens file: {}", e.message()),
        })?;
        let mut table = Self::default();
        let mut names = BTreeSet::new();
        for (index, entry) in file.principal.into_iter().enumerate() {
            let at = format!("principal {} ({:?})", index + 1, entry.name);
            if entry.name.trim().is_empty() || entry.name.len() > 256 {
                return Err(format!("{at}: name must be 1 to 256 characters"));
            }
            if !names.insert(entry.name.clone()) {
                return Err(format!("{at}: the name appears twice"));
            }
            let principal = Principal {
                name: entry.name.clone(),
                grant: parse_grant(&at, &entry.role, entry.aliases, entry.model_prefixes)?,
                source: None,
            };
            match (entry.token_sha256, entry.client_certificate) {
                (Some(hex), false) => {
                    let digest = secret::from_hex_32(&hex).ok_or_else(|| {
                        format!("{at}: token_sha256 must be 64 hexadecimal characters")
                    })?;
                    if table.tokens.iter().any(|(d, _)| digests_equal(d, &digest)) {
                        return Err(format!("{at}: the same token is listed twice"));
                    }
                    table.tokens.push((digest, principal));
                }
                (None, true) => {
                    table.certificates.insert(entry.name, principal);
                }
                _ => {
                    return Err(format!(
                        "{at}: give either token_sha256 or client_certificate = true"
                    ));
                }
            }
        }
        table.trust = oidc::Trust::parse(file.issuer, file.rule, dir, &names, parse_grant)?;
        Ok(table)
    }

    /// How many principals the file names (static ones; each identity
    /// provider's tokens name theirs).
    pub fn len(&self) -> usize {
        self.tokens.len() + self.certificates.len()
    }

    /// Whether the file lets nobody in: no principal, no identity provider.
    pub fn is_empty(&self) -> bool {
        self.len() == 0 && self.trust.is_empty()
    }

    /// The principal holding `token`. Every entry is compared, in constant
    /// time, so timing tells nothing about which digest came close.
    pub fn by_token(&self, token: &str) -> Option<Principal> {
        self.by_digest(&hash_token(token))
    }

    /// The principal of the token whose digest is `digest`, compared with
    /// every entry in constant time.
    pub fn by_digest(&self, digest: &[u8; 32]) -> Option<Principal> {
        let digest = *digest;
        let mut found = None;
        for (candidate, principal) in &self.tokens {
            if digests_equal(candidate, &digest) {
                found = Some(principal.clone());
            }
        }
        found
    }

    /// The certificate principal named `name`.
    pub fn by_certificate_name(&self, name: &str) -> Option<Principal> {
        self.certificates.get(name).cloned()
    }
}

/// A role and limits as a `[[principal]]` or `[[rule]]` entry gives them,
/// checked; `at` names the entry in errors.
fn parse_grant(
    at: &str,
    role: &str,
    aliases: Option<Vec<String>>,
    model_prefixes: Option<Vec<String>>,
) -> Result<Grant, String> {
    let role: Role = role.parse().map_err(|e| format!("{at}: {e}"))?;
    if let Some(aliases) = &aliases {
        for alias in aliases {
            AliasName::movable("aliases", alias).map_err(|e| format!("{at}: {e}"))?;
        }
    }
    if let Some(prefixes) = &model_prefixes {
        for prefix in prefixes {
            if prefix.is_empty() {
                return Err(format!(
                    "{at}: model_prefixes holds \"\", which grants every model; leave \
                     model_prefixes out to grant every model, or name the prefixes"
                ));
            }
            ModelName::parse("model_prefixes", prefix).map_err(|e| format!("{at}: {e}"))?;
        }
    }
    Ok(Grant {
        role,
        aliases: aliases.map(|a| a.into_iter().collect()),
        model_prefixes,
    })
}

/// The SHA-256 of a token.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The `[[principal]]` entry of `token` for the tokens file.
pub fn hash_token_entry(token: &str, name: &str, role: Role) -> String {
    let hex = secret::hex(&hash_token(token));
    let name = toml::Value::String(name.to_owned());
    format!("\n[[principal]]\nname = {name}\nrole = \"{role}\"\ntoken_sha256 = \"{hex}\"\n")
}

/// The fewest bits of entropy `hash-token` accepts in a token.
pub const MIN_TOKEN_BITS: f64 = 128.0;

/// A generous estimate of a token's entropy in bits: its length times the
/// bits of a character drawn from the classes it uses (lower case, upper
/// case, digits, punctuation), where the classes count for no more than
/// twice the distinct characters it holds (so `aaaa…` is worth little).
/// `reader-secret` scores about 54; 32 random bytes in hex or base64, 160
/// and more.
pub fn token_entropy_bits(token: &str) -> f64 {
    let has = |test: fn(&char) -> bool| token.chars().any(|c| test(&c));
    let classes = [
        (has(char::is_ascii_lowercase), 26.0),
        (has(char::is_ascii_uppercase), 26.0),
        (has(char::is_ascii_digit), 10.0),
        (has(char::is_ascii_punctuation), 32.0),
        (has(|c| !c.is_ascii()), 64.0),
    ];
    let alphabet: f64 = classes
        .iter()
        .filter(|(used, _)| *used)
        .map(|(_, n)| n)
        .sum();
    let distinct = token
        .chars()
        .collect::<std::collections::BTreeSet<_>>()
        .len() as f64;
    let per_character = alphabet.min(2.0 * distinct).max(1.0).log2();
    token.chars().count() as f64 * per_character
}

/// A new random token of 256 bits (URL-safe base64, 43 characters).
pub fn generate_token() -> DomainResult<String> {
    use base64::Engine;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret::random_32()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// No text panics the parser, and a secret pasted anywhere into a
        /// file never comes back in the error that refuses it.
        #[test]
        fn any_file_parses_or_is_refused_without_quoting_a_secret(
            before in "\\PC{0,200}",
            after in "\\PC{0,200}",
            secret in "[A-Za-z0-9]{24}",
        ) {
            let _ = PrincipalTable::parse(&format!("{before}{after}"));
            let secret = format!("S3cret{secret}");
            let text = format!("{before}\n{secret}\n{after}");
            if let Err(refusal) = PrincipalTable::parse(&text) {
                proptest::prop_assert!(!refusal.contains(&secret), "{refusal}");
            }
        }
    }

    #[test]
    fn guessable_tokens_score_under_the_minimum_and_generated_ones_over_it() {
        for weak in [
            "reader-secret",
            "t0ken",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "password123",
        ] {
            assert!(token_entropy_bits(weak) < MIN_TOKEN_BITS, "{weak}");
        }
        for _ in 0..100 {
            let token = generate_token().unwrap();
            assert_eq!(token.len(), 43);
            assert!(token_entropy_bits(&token) >= MIN_TOKEN_BITS, "{token}");
        }
        let hex: String = generate_token()
            .unwrap()
            .bytes()
            .map(|b| format!("{b:02x}"))
            .take(32)
            .collect();
        assert!(token_entropy_bits(&hex) >= MIN_TOKEN_BITS, "{hex}");
    }

    #[test]
    fn a_file_that_names_no_principal_is_refused_at_start_and_on_reload() {
        let dir = std::env::temp_dir().join(format!("tokens-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokens.toml");
        std::fs::write(
            &path,
            "# Append one entry per token (hash-token prints them).\n",
        )
        .unwrap();
        let refused = PrincipalTable::read(&path).unwrap_err().to_string();
        assert!(refused.contains("names no principal"), "{refused}");
        assert!(
            refused.contains("hash-token"),
            "says how to fix it: {refused}"
        );
        std::fs::write(&path, hash_token_entry("s3cret", "ci", Role::Trainer)).unwrap();
        assert_eq!(PrincipalTable::read(&path).unwrap().len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_prefix_must_be_a_model_name_prefix_and_never_empty() {
        for (prefixes, refusal) in [
            (r#"[""]"#, "grants every model"),
            (r#"["churn", ""]"#, "grants every model"),
            (r#"["Churn*"]"#, "not a valid model name"),
        ] {
            let text = format!(
                "{}model_prefixes = {prefixes}\n",
                hash_token_entry("s3cret-ci", "ci", Role::Trainer)
            );
            let refused = PrincipalTable::parse(&text).unwrap_err();
            assert!(refused.contains(refusal), "{prefixes}: {refused}");
        }
        let text = format!(
            "{}model_prefixes = [\"team-a-\"]\n",
            hash_token_entry("s3cret-ci", "ci", Role::Trainer)
        );
        assert_eq!(PrincipalTable::parse(&text).unwrap().len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_may_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("tokens-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokens.toml");
        std::fs::write(&path, hash_token_entry("s3cret", "ci", Role::Trainer)).unwrap();
        for (mode, who) in [(0o666, "everyone"), (0o620, "its group")] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let refused = PrincipalTable::read(&path).unwrap_err().to_string();
            assert!(
                refused.contains(who) && refused.contains("chmod"),
                "{refused}"
            );
        }
        for mode in [0o600, 0o644, 0o400] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(PrincipalTable::read(&path).unwrap().len(), 1, "{mode:o}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_made_of_hash_token_entries_is_valid() {
        let text = format!(
            "{}{}",
            hash_token_entry("s3cret-ci", "ci", Role::Trainer),
            hash_token_entry("s3cret-ops", "ops \"team\"", Role::Admin)
        );
        let table = PrincipalTable::parse(&text).unwrap();
        assert_eq!(table.len(), 2);
        assert_eq!(
            table.by_token("s3cret-ci").unwrap().grant.role,
            Role::Trainer
        );
        assert_eq!(table.by_token("s3cret-ops").unwrap().name, "ops \"team\"");
        assert!(table.by_token("s3cret").is_none());
        assert!(!text.contains("s3cret"), "only digests are written");
    }

    #[test]
    fn limits_and_certificate_principals_are_read() {
        let table = PrincipalTable::parse(
            r#"
            [[principal]]
            name = "release-bot"
            role = "deployer"
            token_sha256 = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
            aliases = ["staging", "canary"]
            model_prefixes = ["churn"]

            [[principal]]
            name = "deployer.example.com"
            role = "deployer"
            client_certificate = true
            "#,
        )
        .unwrap();
        let bot = table.by_token("password").unwrap();
        assert_eq!(bot.grant.aliases.unwrap().len(), 2);
        assert_eq!(bot.grant.model_prefixes.unwrap(), ["churn"]);
        assert!(table.by_certificate_name("deployer.example.com").is_some());
        assert!(table.by_certificate_name("release-bot").is_none());
    }

    #[test]
    fn bad_files_say_what_is_wrong_without_quoting_secrets() {
        for (text, expected) in [
            (
                "[[principal]]\nname = \"a\"\nrole = \"root\"\ntoken_sha256 = \"00\"",
                "not a role",
            ),
            (
                "[[principal]]\nname = \"a\"\nrole = \"reader\"\ntoken_sha256 = \"xyz\"",
                "64 hexadecimal",
            ),
            (
                "[[principal]]\nname = \"a\"\nrole = \"reader\"",
                "either token_sha256",
            ),
            (
                "[[principal]]\nname = \"a\"\nrole = \"reader\"\npassword = \"hunter2\"",
                "line",
            ),
            ("token = hunter2", "TOML error"),
        ] {
            let error = PrincipalTable::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
        let twice = format!(
            "{}{}",
            hash_token_entry("t", "a", Role::Reader),
            hash_token_entry("t", "b", Role::Reader)
        );
        assert!(PrincipalTable::parse(&twice).unwrap_err().contains("twice"));
    }

    #[test]
    fn issuers_and_rules_are_checked_whole() {
        let issuer = "[[issuer]]\nname = \"gha\"\nissuer = \"https://token.actions.githubusercontent.com\"\naudience = \"registry\"\n";
        let rule = "[[rule]]\nissuer = \"gha\"\nprincipal = \"gha:{repository}\"\nrole = \"trainer\"\nclaims = { repository = \"acme/*\" }\n";
        let table = PrincipalTable::parse(&format!("{issuer}{rule}")).unwrap();
        assert!(
            !table.is_empty(),
            "a file with only an identity provider lets callers in"
        );
        for (text, expected) in [
            (issuer.to_owned(), "no [[rule]] names it"),
            (rule.to_owned(), "not an [[issuer]] name"),
            (
                format!("{}{rule}", issuer.replace("https://", "http://")),
                "over HTTPS only",
            ),
            (format!("{issuer}algorithms = [\"HS256\"]\n{rule}"), "HMAC"),
            (
                format!("{issuer}algorithms = [\"none\"]\n{rule}"),
                "not a JOSE",
            ),
            (
                format!(
                    "{issuer}{}",
                    rule.replace("gha:{repository}", "gha:{repository")
                ),
                "without its",
            ),
            (
                format!("{issuer}{}", rule.replace("\"trainer\"", "\"root\"")),
                "not a role",
            ),
            (
                format!(
                    "{issuer}{}",
                    rule.replace("acme/*\" }", "acme/*\" }\nmodel_prefixes = [\"\"]")
                ),
                "grants every model",
            ),
            (
                format!(
                    "{}{issuer}{}",
                    hash_token_entry("t", "ci", Role::Reader),
                    rule.replace("gha:{repository}", "ci")
                ),
                "static principal",
            ),
            (
                format!("{issuer}jwks_file = \"/nonexistent/jwks.json\"\n{rule}"),
                "jwks_file",
            ),
        ] {
            let error = PrincipalTable::parse(&text).unwrap_err();
            assert!(error.contains(expected), "{text}\n→ {error}");
        }
    }
}
