//! Where the data lives, how the pools are sized, and why setting the
//! store up can fail.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Where the registry's data lives.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `postgres://…` or `postgresql://…`.
    Postgres(String),
    /// `sqlite://PATH`: a database file (created when missing).
    Sqlite(String),
}

impl DatabaseUrl {
    /// The backend's name, for logs and metrics.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgres",
            Self::Sqlite(_) => "sqlite",
        }
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() || path.contains(":memory:") || path.starts_with("file:") {
                return Err(format!(
                    "{url:?}: give SQLite a file path, e.g. sqlite://model-registry.db (an \
                     in-memory database would be lost and not shared between connections)"
                ));
            }
            return Ok(Self::Sqlite(path.to_owned()));
        }
        // Only the scheme is repeated: the rest may hold a password.
        let scheme = url.split_once("://").map_or("(none)", |(scheme, _)| scheme);
        Err(format!(
            "the database URL's scheme {scheme:?} is not supported: use sqlite://PATH or \
             postgres://USER@HOST/DB"
        ))
    }
}

/// Prints the URL without its password (in the user-info part or a
/// `password` query parameter), so logs never carry secrets.
impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{path}"),
            Self::Postgres(url) => f.write_str(&redact_postgres_url(url)),
        }
    }
}

/// The user-info ends at the last `@`: a password may hold `?`, `/`, `#`
/// or `@` unencoded, so no earlier delimiter may cut it short. An `@` in
/// the query moves the cut further right, which hides more, never less.
fn redact_postgres_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|at| at + 3) else {
        return "postgres://***".to_owned();
    };
    let (scheme, rest) = url.split_at(scheme_end);
    let (credentials, location) = match rest.rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at..]),
        None => (None, rest),
    };
    let mut redacted = scheme.to_owned();
    if let Some(credentials) = credentials {
        match credentials.split_once(':') {
            Some((user, _)) => redacted.push_str(&format!("{user}:***")),
            None => redacted.push_str(credentials),
        }
    }
    let (base, query) = match location.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (location, None),
    };
    redacted.push_str(base);
    if let Some(query) = query {
        let parameters: Vec<String> = query
            .split('&')
            .map(|parameter| match parameter.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => parameter.to_owned(),
            })
            .collect();
        redacted.push('?');
        redacted.push_str(&parameters.join("&"));
    }
    redacted
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Pool sizes and timeouts.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Most reader connections.
    pub max_connections: usize,
    /// Most connections writing at once (PostgreSQL; SQLite has one
    /// writer). Further writers wait for one without holding a connection.
    pub max_writers: usize,
    /// How long a request waits for a free connection or a new one.
    pub acquire_timeout: Duration,
    /// Longest a PostgreSQL statement may run before the database cancels
    /// it: a backstop behind the calls' own deadlines.
    pub statement_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            max_writers: 8,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(35),
        }
    }
}

/// Why the store could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Connecting to the database failed.
    #[error("cannot connect to {url}: {detail}")]
    Connect {
        /// The database (without password).
        url: DatabaseUrl,
        /// What went wrong.
        detail: String,
    },
    /// Another process holds the database's write lock (SQLite).
    #[error("the database {url} is locked by another process: {detail}")]
    Locked {
        /// The database.
        url: DatabaseUrl,
        /// What went wrong.
        detail: String,
    },
    /// A migration failed, or the schema does not fit this binary.
    #[error("migrating {url} failed: {detail}")]
    Migrate {
        /// The database (without password).
        url: DatabaseUrl,
        /// What went wrong.
        detail: String,
    },
    /// Benchmark data could not be written.
    #[error("seeding model {model:?} failed: {detail}")]
    Seed {
        /// The model.
        model: String,
        /// What went wrong.
        detail: String,
    },
    /// A backup could not be written.
    #[error("backup to {} failed: {detail}", to.display())]
    Backup {
        /// The backup file asked for.
        to: std::path::PathBuf,
        /// What went wrong.
        detail: String,
    },
}

#[cfg(test)]
mod tests {
    use super::DatabaseUrl;

    #[test]
    fn database_urls_select_the_backend() {
        assert_eq!(
            "sqlite://model-registry.db".parse::<DatabaseUrl>(),
            Ok(DatabaseUrl::Sqlite("model-registry.db".into()))
        );
        assert_eq!(
            "sqlite:///var/lib/registry.db".parse::<DatabaseUrl>(),
            Ok(DatabaseUrl::Sqlite("/var/lib/registry.db".into()))
        );
        assert!(matches!(
            "postgresql://u@h/db".parse::<DatabaseUrl>(),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!("sqlite://:memory:".parse::<DatabaseUrl>().is_err());
        assert!("mysql://h/db".parse::<DatabaseUrl>().is_err());
    }

    #[test]
    fn passwords_never_reach_the_logs() {
        let url: DatabaseUrl = "postgres://app:s3cret@db:5432/registry".parse().unwrap();
        assert_eq!(url.to_string(), "postgres://app:***@db:5432/registry");
        assert!(!format!("{url:?}").contains("s3cret"));
        let url: DatabaseUrl = "postgres://app@db/registry?sslmode=require&password=s3cret"
            .parse()
            .unwrap();
        assert_eq!(
            url.to_string(),
            "postgres://app@db/registry?sslmode=require&password=***"
        );
        let mistyped = "postgress://app:s3cret@db/registry"
            .parse::<DatabaseUrl>()
            .unwrap_err();
        assert!(!mistyped.contains("s3cret"), "{mistyped}");
        assert!(mistyped.contains("postgress"), "{mistyped}");
    }

    #[test]
    fn a_password_with_url_delimiters_is_redacted_whole() {
        for (url, shown) in [
            (
                "postgres://postgres:Sup3r?Secret@db:5432/registry",
                "postgres://postgres:***@db:5432/registry",
            ),
            (
                "postgres://app:a/b#c@d@db/registry?sslmode=require&password=x?y",
                "postgres://app:***@db/registry?sslmode=require&password=***",
            ),
            (
                "postgresql://app:p%40ss@db/registry",
                "postgresql://app:***@db/registry",
            ),
        ] {
            let parsed: DatabaseUrl = url.parse().unwrap();
            assert_eq!(parsed.to_string(), shown);
            assert_eq!(format!("{parsed:?}"), shown);
        }
    }
}
