//! `model-registry-server`: parses the configuration and runs the server or
//! the migrations. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;
use model_registry_server::config::{Cli, Command};
use model_registry_server::store::Store;
use model_registry_server::{server, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.config.log_format);
    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => server::run(cli.config).await,
        Command::Migrate => Store::migrate(&cli.config.database_url)
            .await
            .map(|applied| {
                tracing::info!(database = %cli.config.database_url, migrations = ?applied, "migrations applied");
            })
            .map_err(server::ServerError::from),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %error, "model-registry-server failed");
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
