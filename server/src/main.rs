//! `model-registry-server`: parses the configuration and runs the server or
//! the migrations. Everything else lives in the library.

use std::io::{Read, Write};
use std::process::ExitCode;

use clap::Parser;
use model_registry_server::config::{Cli, Command};
use model_registry_server::store::{self, Store};
use model_registry_server::{probe, server, telemetry};

// glibc's allocator contends on its arena locks between the runtime's
// workers and SQLite's blocking threads; mimalloc keeps per-thread heaps
// (measured in BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.config.log_format);
    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::HashToken {
            principal,
            role,
            generate_to,
        } => return hash_token(&principal, role, generate_to.as_deref()),
        Command::CheckToken => return check_token(&cli.config).await,
        Command::Serve => server::run(cli.config).await,
        Command::Probe {
            service,
            address,
            timeout,
        } => {
            let address = address.unwrap_or_else(|| {
                probe::local_address(cli.config.health_listen.unwrap_or(cli.config.listen))
            });
            return match probe::check(address, &service, timeout).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    let _ = writeln!(std::io::stderr(), "{error}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Migrate => server::migrate_when_reachable(&cli.config)
            .await
            .map(|applied| {
                tracing::info!(database = %cli.config.database_url, migrations = ?applied, "migrations applied");
            }),
        // Seeding a fresh benchmark database migrates it first, as serving would.
        Command::Seed { model, versions } => async {
            Store::migrate(&cli.config.database_url).await?;
            store::seed(&cli.config.database_url, &model, versions).await
        }
        .await
            .map(|added| {
                let _ = writeln!(std::io::stdout(), "added {added} versions to {model}");
            })
            .map_err(server::ServerError::from),
        Command::Backup { to } => store::backup(&cli.config.database_url, &to)
            .await
            .map(|summary| {
                // The summary is the command's output; logs stay on stderr.
                let _ = writeln!(
                    std::io::stdout(),
                    "backed up {} models, {} versions and events up to id {} to {} ({} bytes)",
                    summary.models,
                    summary.versions,
                    summary.last_event_id,
                    summary.path.display(),
                    summary.bytes
                );
            })
            .map_err(server::ServerError::from),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, with every cause: the log is where operators look.
            tracing::error!("{}", telemetry::error_chain(&error));
            ExitCode::FAILURE
        }
    }
}

/// Prints the tokens-file entry of the token read from standard input.
fn hash_token(
    principal: &str,
    role: model_registry_server::domain::access::Role,
    generate_to: Option<&std::path::Path>,
) -> ExitCode {
    use model_registry_server::auth;
    if principal.trim().is_empty() {
        eprintln!("error: give a non-empty --principal");
        return ExitCode::FAILURE;
    }
    let token = match generate_to {
        Some(path) => {
            let token = match auth::generate_token() {
                Ok(token) => token,
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::FAILURE;
                }
            };
            if let Err(error) = write_new_secret(path, &token) {
                eprintln!(
                    "error: cannot write the token to {}: {error}",
                    path.display()
                );
                return ExitCode::FAILURE;
            }
            token
        }
        None => {
            let mut token = String::new();
            if let Err(error) = std::io::stdin().read_to_string(&mut token) {
                eprintln!("error: cannot read the token from standard input: {error}");
                return ExitCode::FAILURE;
            }
            // `echo "$TOKEN" |` adds a newline that is not part of the token.
            token.trim().to_owned()
        }
    };
    if token.is_empty() {
        eprintln!("error: give the token on standard input, or --generate-to FILE");
        return ExitCode::FAILURE;
    }
    let bits = auth::token_entropy_bits(&token);
    if bits < auth::MIN_TOKEN_BITS {
        eprintln!(
            "error: this token holds about {bits:.0} bits of entropy; at least {:.0} are needed \
             (it could be guessed): let --generate-to FILE make one, or use 32 random bytes \
             (openssl rand -hex 32)",
            auth::MIN_TOKEN_BITS
        );
        return ExitCode::FAILURE;
    }
    let token = token.as_str();
    let entry = model_registry_server::auth::hash_token_entry(token, principal, role);
    if std::io::stdout().write_all(entry.as_bytes()).is_err() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Explains what the tokens file makes of the token on standard input.
async fn check_token(config: &model_registry_server::config::Config) -> ExitCode {
    use model_registry_server::auth::{Authenticator, Credential};
    let Some(path) = &config.auth_tokens else {
        eprintln!("error: give the tokens file with --auth-tokens");
        return ExitCode::FAILURE;
    };
    let authenticator = match Authenticator::from_file(path) {
        Ok(authenticator) => authenticator,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut token = String::new();
    if let Err(error) = std::io::stdin().read_to_string(&mut token) {
        eprintln!("error: cannot read the token from standard input: {error}");
        return ExitCode::FAILURE;
    }
    let token = token.trim();
    let mut out = String::new();
    let mut headers = http::HeaderMap::new();
    if let Ok(value) = http::HeaderValue::from_str(&format!("Bearer {token}")) {
        headers.insert(http::header::AUTHORIZATION, value);
    }
    if let Ok((principal, Credential::Token(_))) = authenticator
        .authenticate_credential(&headers, None::<&[Vec<u8>]>)
        .await
    {
        out += &format!("a static token of [[principal]] {:?}\n", principal.name);
        out += &describe_grant(&principal.grant);
        let _ = std::io::stdout().write_all(out.as_bytes());
        return ExitCode::SUCCESS;
    }
    authenticator.fetch_issuer_keys().await;
    let verdict = authenticator.check_token(token).await;
    if let Some(issuer) = &verdict.issuer {
        out += &format!("issuer: {issuer}\n");
    }
    if let Some(claims) = &verdict.claims {
        let pretty = serde_json::to_string_pretty(claims).unwrap_or_default();
        out += &format!("verified claims: {pretty}\n");
    }
    for (rule, why) in &verdict.rules_tried {
        out += &format!("rule {rule}: no match: {why}\n");
    }
    let accepted = match &verdict.outcome {
        Ok((principal, _)) => {
            if let Some(rule) = verdict.rule {
                out += &format!("rule {rule}: matches\n");
            }
            out += &format!("principal: {}\n", principal.name);
            out += &describe_grant(&principal.grant);
            true
        }
        Err(rejection) => {
            out += &format!("refused: {rejection}\n");
            false
        }
    };
    let _ = std::io::stdout().write_all(out.as_bytes());
    if accepted {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// A grant's role and limits, one per line.
fn describe_grant(grant: &model_registry_server::domain::access::Grant) -> String {
    let aliases = match &grant.aliases {
        Some(aliases) => aliases.iter().cloned().collect::<Vec<_>>().join(", "),
        None => "any".to_owned(),
    };
    let prefixes = match &grant.model_prefixes {
        Some(prefixes) => prefixes.join(", "),
        None => "any".to_owned(),
    };
    format!(
        "role: {}\naliases: {aliases}\nmodel prefixes: {prefixes}\n",
        grant.role
    )
}

/// Writes `secret` to a new file at `path` that only its owner may read.
fn write_new_secret(path: &std::path::Path, secret: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")
}
