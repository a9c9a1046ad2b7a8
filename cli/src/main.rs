//! `modelreg`: the Model Registry from the shell. Tables for people,
//! `--output json` for scripts; exit code 0 on success, and on failure a
//! one-line `error: …` naming the cause with an exit code per kind of error.

mod commands;
mod fetch;
mod import;
mod jq;
mod legacy;
mod manifest;
mod output;
mod printer;
mod profile;
mod target;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser};
use commands::Command;
use model_registry_client::{ClientOptions, Error, RegistryClient, TlsOptions, TokenProvider};
use output::Format;
use printer::Printer;
use tonic::Code;

const EXIT_CODES: &str = "\
Exit codes: 0 success; 1 other failure; 2 invalid arguments (INVALID_ARGUMENT);
3 not found (NOT_FOUND); 4 refused by the current state (FAILED_PRECONDITION,
ABORTED, ALREADY_EXISTS); 5 server or database unavailable (UNAVAILABLE);
6 not authenticated (UNAUTHENTICATED); 7 not allowed (PERMISSION_DENIED).";

/// Command-line client of the Model Registry.
#[derive(Debug, Parser)]
#[command(name = "modelreg", version, about, after_help = EXIT_CODES)]
struct Cli {
    /// The registry's gRPC endpoint.
    #[arg(
        long,
        env = "MODEL_REGISTRY_URL",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    url: String,
    /// Bearer token sent with every call. (It may start with a dash, as
    /// one generated token in 64 does.)
    #[arg(
        long,
        env = "MODEL_REGISTRY_TOKEN",
        hide_env_values = true,
        allow_hyphen_values = true,
        global = true
    )]
    token: Option<String>,
    /// File holding the bearer token, read again whenever it changes (a
    /// Kubernetes projected service-account token, a CI job's token).
    #[arg(
        long,
        env = "MODEL_REGISTRY_TOKEN_FILE",
        conflicts_with = "token",
        global = true
    )]
    token_file: Option<PathBuf>,
    /// Shell command printing the bearer token (a cloud CLI, a vault
    /// agent); run again shortly before a JWT it printed expires.
    #[arg(
        long,
        env = "MODEL_REGISTRY_TOKEN_COMMAND",
        conflicts_with_all = ["token", "token_file"],
        global = true
    )]
    token_command: Option<String>,
    /// In a GitHub Actions job (with `permissions: id-token: write`): use
    /// the job's OIDC token for this audience (the registry's), requested
    /// again shortly before it expires.
    #[arg(
        long,
        env = "MODEL_REGISTRY_GITHUB_ACTIONS_AUDIENCE",
        conflicts_with_all = ["token", "token_file", "token_command"],
        global = true
    )]
    github_actions_audience: Option<String>,
    /// PEM file of the CA that signed the server's certificate (https://
    /// URLs trust the system's roots without it).
    #[arg(long, env = "MODEL_REGISTRY_CA_FILE", global = true)]
    ca_file: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (with --client-key).
    #[arg(
        long,
        env = "MODEL_REGISTRY_CLIENT_CERT",
        requires = "client_key",
        global = true
    )]
    client_cert: Option<PathBuf>,
    /// PEM private key of --client-cert.
    #[arg(
        long,
        env = "MODEL_REGISTRY_CLIENT_KEY",
        requires = "client_cert",
        global = true
    )]
    client_key: Option<PathBuf>,
    /// Name expected on the server's certificate, when not the URL's host.
    #[arg(long, env = "MODEL_REGISTRY_TLS_DOMAIN", global = true)]
    tls_domain: Option<String>,
    /// Seconds each call may take.
    #[arg(
        long,
        env = "MODEL_REGISTRY_TIMEOUT",
        default_value_t = 30.0,
        global = true
    )]
    timeout: f64,
    /// Compress requests and answers with gzip (large registrations and
    /// listings over slow links).
    #[arg(long, env = "MODEL_REGISTRY_GZIP", global = true)]
    gzip: bool,
    /// Read at least the change whose `consistencyToken` this is (printed
    /// in the JSON of `promote`, `rollback` and `alias`), whichever replica
    /// answers: export it after a change to read it back through replicas.
    #[arg(long, env = "MODEL_REGISTRY_CONSISTENCY_TOKEN", global = true)]
    consistency_token: Option<String>,
    /// Output format.
    #[arg(
        long,
        short = 'o',
        value_enum,
        env = "MODEL_REGISTRY_OUTPUT",
        default_value = "table",
        global = true
    )]
    output: Format,
    /// Print only identifiers, one per line: version numbers, event ids or
    /// model names (for `xargs` and shell loops).
    #[arg(long, short = 'q', global = true, conflicts_with = "jq")]
    quiet: bool,
    /// A jq filter applied to the JSON document before printing it (as `gh
    /// --jq`): strings print raw, other values as JSON. Implies `-o json`.
    #[arg(long, global = true, value_name = "EXPR")]
    jq: Option<String>,
    /// A named profile (URL, token file, CA) from the config file
    /// ($MODEL_REGISTRY_CONFIG, else ~/.config/modelreg/config.toml); flags
    /// and environment variables given explicitly win over it.
    #[arg(long, env = "MODEL_REGISTRY_PROFILE", global = true)]
    profile: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[tokio::main]
async fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    let cli = match with_profile(cli, &matches) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "error: {error}");
            return ExitCode::from(exit_code(&error));
        }
    };
    let url = cli.url.clone();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let mut stderr = std::io::stderr();
            // UNAVAILABLE without a request id never reached the server:
            // say which server.
            if error.is_unavailable() && error.request_id().is_none() {
                let _ = writeln!(stderr, "error: cannot reach {url}: {error}");
            } else if let Some(hint) = plaintext_to_tls_hint(&url, &error) {
                let _ = writeln!(stderr, "error: {error}\nhint: {hint}");
            } else {
                let _ = writeln!(stderr, "error: {error}");
            }
            ExitCode::from(exit_code(&error))
        }
    }
}

/// Fills what the command line and environment left at their defaults from
/// `--profile`.
fn with_profile(mut cli: Cli, matches: &clap::ArgMatches) -> Result<Cli, Error> {
    let Some(name) = cli.profile.clone() else {
        return Ok(cli);
    };
    let profile = profile::load(&name)?;
    let unset = |id: &str| {
        matches!(
            matches.value_source(id),
            None | Some(clap::parser::ValueSource::DefaultValue)
        )
    };
    if unset("url")
        && let Some(url) = profile.url.clone()
    {
        cli.url = url;
    }
    if unset("token")
        && cli.token_file.is_none()
        && cli.token_command.is_none()
        && cli.github_actions_audience.is_none()
        && let Some(token) = profile.token()?
    {
        cli.token = Some(token);
    }
    if unset("ca_file") && profile.ca_file.is_some() {
        cli.ca_file = profile.ca_file.clone();
    }
    if unset("client_cert") && unset("client_key") && profile.client_cert.is_some() {
        cli.client_cert = profile.client_cert.clone();
        cli.client_key = profile.client_key.clone();
    }
    Ok(cli)
}

/// A plaintext (`http://`) call that failed in the transport, with no
/// answer from the registry, is most often a TLS server: say so. The TLS
/// port closes the connection; depending on whether the request was on its
/// way then, the client reports UNKNOWN, INTERNAL or CANCELLED.
fn plaintext_to_tls_hint(url: &str, error: &Error) -> Option<String> {
    let address = url.strip_prefix("http://")?;
    let transport = matches!(
        error.code(),
        Some(Code::Unknown | Code::Internal | Code::Cancelled)
    ) && error.request_id().is_none()
        && error.to_string().contains("transport error");
    transport.then(|| {
        format!(
            "if the server serves TLS, use --url https://{address} (with --ca-file for a private CA)"
        )
    })
}

/// The renewing token source the flags ask for.
fn token_provider(cli: &Cli) -> Option<TokenProvider> {
    if let Some(audience) = &cli.github_actions_audience {
        return Some(TokenProvider::GitHubActions {
            audience: audience.clone(),
        });
    }
    cli.token_command
        .as_ref()
        .map(|command| TokenProvider::Command(vec!["sh".into(), "-c".into(), command.clone()]))
}

/// The exit status for `error`, as the README documents it.
fn exit_code(error: &Error) -> u8 {
    match error.code() {
        Some(Code::InvalidArgument) => 2,
        Some(Code::NotFound) => 3,
        Some(Code::FailedPrecondition | Code::Aborted | Code::AlreadyExists) => 4,
        Some(Code::Unavailable) => 5,
        Some(Code::Unauthenticated) => 6,
        Some(Code::PermissionDenied) => 7,
        Some(_) => 1,
        None if error.is_invalid_argument() => 2,
        None if matches!(error, Error::Verification(_)) => 8,
        None => 1,
    }
}

async fn run(cli: Cli) -> Result<(), Error> {
    if let Command::Completions { shell } = cli.command {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "modelreg", &mut script);
        let _ = std::io::stdout().write_all(&script);
        return Ok(());
    }
    let mut options = ClientOptions {
        token: cli.token.clone(),
        token_file: cli.token_file.clone(),
        token_provider: token_provider(&cli),
        timeout: Duration::try_from_secs_f64(cli.timeout).ok(),
        gzip: cli.gzip,
        ..ClientOptions::default()
    };
    if cli.ca_file.is_some() || cli.client_cert.is_some() || cli.tls_domain.is_some() {
        let mut tls = match &cli.ca_file {
            Some(ca_file) => TlsOptions::from_ca_file(ca_file)?,
            None => TlsOptions::default(),
        };
        if let (Some(cert), Some(key)) = (&cli.client_cert, &cli.client_key) {
            tls = tls.with_client_identity(cert, key)?;
        }
        tls.domain = cli.tls_domain.clone();
        options.tls = Some(tls);
    }
    // A bad filter is refused before anything is asked of the server.
    let filter = cli
        .jq
        .as_deref()
        .map(jq::Filter::parse)
        .transpose()
        .map_err(|why| Error::InvalidInput(format!("--jq: {why}")))?;
    let client = RegistryClient::connect_with(cli.url.clone(), options).await?;
    if let Some(token) = &cli.consistency_token {
        client.observe_consistency_token(token);
    }
    let printer = Printer::new(cli.output, cli.quiet, filter);
    commands::run(cli.command, &client, &printer).await?;
    // A filter failing on the answer fails the command once it is printed.
    printer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
