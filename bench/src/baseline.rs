//! The ceiling: an in-process tonic server that does nothing but answer
//! with a response captured from the real server (same size and shape),
//! over the same transport settings (TCP_NODELAY, the same codec). The real
//! server's rate as a fraction of this one's is the number to quote: it
//! holds on a shared, noisy machine where absolute rates do not.

use std::net::SocketAddr;

use model_registry_api::v1 as pb;
use model_registry_api::v1::registry_service_server::{RegistryService, RegistryServiceServer};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use crate::runner::Client;
use crate::scenario::{Dataset, best, get_production, list};

/// Responses captured from the real server, one per operation measured.
#[derive(Debug, Clone)]
pub struct Canned {
    production: pb::GetProductionModelResponse,
    version: pb::GetModelVersionResponse,
    list: pb::ListModelVersionsResponse,
    best: pb::GetBestModelVersionResponse,
    register: pb::RegisterModelResponse,
    set_alias: pb::SetModelAliasResponse,
    rollback: pb::RollbackModelAliasResponse,
}

impl Canned {
    /// Captures one real response of every read, and of the changes from
    /// calls already made (`register`, `set_alias`, `rollback` answers are
    /// reproduced by reading the version they return).
    pub async fn capture(client: &Client, dataset: &Dataset) -> Result<Self, Status> {
        let mut client = client.clone();
        let production = client
            .get_production_model(get_production(dataset))
            .await?
            .into_inner();
        let version = client
            .get_model_version(pb::GetModelVersionRequest {
                model_name: dataset.model.clone(),
                version: dataset.versions,
                ..Default::default()
            })
            .await?
            .into_inner();
        let list = client
            .list_model_versions(list(dataset))
            .await?
            .into_inner();
        let best = client
            .get_best_model_version(best(dataset))
            .await?
            .into_inner();
        let model_version = version.model_version.clone();
        // As long as a real one, so the ceiling answers the same bytes.
        let consistency_token = "v1.4294967396".to_owned();
        Ok(Self {
            production,
            register: pb::RegisterModelResponse {
                model_version: model_version.clone(),
                consistency_token: consistency_token.clone(),
            },
            set_alias: pb::SetModelAliasResponse {
                model_version: model_version.clone(),
                previous_version: Some(1),
                unchanged: false,
                consistency_token: consistency_token.clone(),
            },
            rollback: pb::RollbackModelAliasResponse {
                model_version,
                rolled_back_version: 2,
                consistency_token,
            },
            version,
            list,
            best,
        })
    }
}

fn answer<T: Clone>(canned: &T) -> Result<Response<T>, Status> {
    Ok(Response::new(canned.clone()))
}

#[tonic::async_trait]
impl RegistryService for Canned {
    async fn get_production_model(
        &self,
        _: Request<pb::GetProductionModelRequest>,
    ) -> Result<Response<pb::GetProductionModelResponse>, Status> {
        answer(&self.production)
    }

    async fn get_model_version(
        &self,
        _: Request<pb::GetModelVersionRequest>,
    ) -> Result<Response<pb::GetModelVersionResponse>, Status> {
        answer(&self.version)
    }

    async fn list_model_versions(
        &self,
        _: Request<pb::ListModelVersionsRequest>,
    ) -> Result<Response<pb::ListModelVersionsResponse>, Status> {
        answer(&self.list)
    }

    async fn get_best_model_version(
        &self,
        _: Request<pb::GetBestModelVersionRequest>,
    ) -> Result<Response<pb::GetBestModelVersionResponse>, Status> {
        answer(&self.best)
    }

    async fn register_model(
        &self,
        _: Request<pb::RegisterModelRequest>,
    ) -> Result<Response<pb::RegisterModelResponse>, Status> {
        answer(&self.register)
    }

    async fn set_model_alias(
        &self,
        _: Request<pb::SetModelAliasRequest>,
    ) -> Result<Response<pb::SetModelAliasResponse>, Status> {
        answer(&self.set_alias)
    }

    async fn rollback_model_alias(
        &self,
        _: Request<pb::RollbackModelAliasRequest>,
    ) -> Result<Response<pb::RollbackModelAliasResponse>, Status> {
        answer(&self.rollback)
    }
}

/// Serves `canned` on a free loopback port until the process ends; its URL.
///
/// The server gets a runtime of its own on its own threads, as the real
/// server has its own process: sharing the load generator's scheduler
/// would make the ceiling lower than it is.
pub fn start(canned: Canned) -> std::io::Result<String> {
    let (bound, address) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("baseline".to_owned())
        .spawn(move || {
            let serving = async move {
                let incoming = TcpIncoming::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?
                    .with_nodelay(Some(true));
                let _ = bound.send(incoming.local_addr());
                Server::builder()
                    .add_service(
                        RegistryServiceServer::new(canned)
                            .max_decoding_message_size(16 * 1024 * 1024)
                            .max_encoding_message_size(16 * 1024 * 1024),
                    )
                    .serve_with_incoming(incoming)
                    .await
                    .map_err(std::io::Error::other)
            };
            let outcome = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .and_then(|runtime| runtime.block_on(serving));
            if let Err(error) = outcome {
                eprintln!("model-registry-bench: the baseline server failed: {error}");
            }
        })?;
    let address = address
        .recv()
        .map_err(|_| std::io::Error::other("the baseline server did not start"))??;
    Ok(format!("http://{address}"))
}
