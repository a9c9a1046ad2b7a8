//! Named connection profiles, so `modelreg --profile prod models` needs no
//! URL, token or CA flags. They live in a TOML file (`$MODEL_REGISTRY_CONFIG`,
//! else `$XDG_CONFIG_HOME/modelreg/config.toml`, else
//! `~/.config/modelreg/config.toml`):
//!
//! ```toml
//! [profiles.prod]
//! url = "https://registry.example.com:50051"
//! token_file = "/home/me/.config/modelreg/prod.token"
//! ca_file = "/etc/ssl/registry-ca.pem"
//! ```
//!
//! A flag or environment variable given explicitly wins over the profile.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use model_registry_client::Error;
use serde::Deserialize;

/// The config file's contents.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// One named profile.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The registry's URL.
    pub url: Option<String>,
    /// A file holding the bearer token (read when the profile is used, so
    /// the token itself is not in the config file).
    pub token_file: Option<PathBuf>,
    /// The CA that signed the server's certificate.
    pub ca_file: Option<PathBuf>,
    /// Client certificate for mutual TLS.
    pub client_cert: Option<PathBuf>,
    /// Its private key.
    pub client_key: Option<PathBuf>,
}

impl Profile {
    /// The bearer token from `token_file`, trimmed.
    pub fn token(&self) -> Result<Option<String>, Error> {
        self.token_file
            .as_deref()
            .map(|path| {
                std::fs::read_to_string(path)
                    .map(|token| token.trim().to_owned())
                    .map_err(|source| Error::File {
                        path: path.display().to_string(),
                        source,
                    })
            })
            .transpose()
    }
}

/// Where the config file is looked for.
pub fn config_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MODEL_REGISTRY_CONFIG") {
        return Some(PathBuf::from(path));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".config")))?;
    Some(base.join("modelreg").join("config.toml"))
}

/// The profile `name` from the config file.
pub fn load(name: &str) -> Result<Profile, Error> {
    let path = config_path().ok_or_else(|| {
        Error::InvalidInput(
            "no config file: set MODEL_REGISTRY_CONFIG or HOME to use --profile".to_owned(),
        )
    })?;
    let text = std::fs::read_to_string(&path).map_err(|source| Error::File {
        path: path.display().to_string(),
        source,
    })?;
    let config: Config = toml::from_str(&text)
        .map_err(|error| Error::InvalidInput(format!("{}: {}", path.display(), error.message())))?;
    config.profiles.get(name).cloned().ok_or_else(|| {
        let known: Vec<&str> = config.profiles.keys().map(String::as_str).collect();
        Error::InvalidInput(format!(
            "{} has no profile {name:?} (it has: {})",
            path.display(),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        ))
    })
}
