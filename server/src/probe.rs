//! `model-registry-server probe`: one gRPC health check against a running
//! server, for container health checks and exec probes where no other
//! client exists (the image has no shell). Exits 0 only for SERVING.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Why a probe did not find the service SERVING.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// No answer: nothing listens, the port speaks TLS, or it timed out.
    #[error("no health answer from {address}: {detail}")]
    NoAnswer {
        /// Where it asked.
        address: SocketAddr,
        /// What happened.
        detail: String,
    },
    /// The server answered with another status.
    #[error("{service:?} is {status} at {address}")]
    NotServing {
        /// Where it asked.
        address: SocketAddr,
        /// The service name asked about.
        service: String,
        /// What the server said.
        status: String,
    },
}

/// The address a local probe dials for a server listening on `listen`: a
/// wildcard listen address is reached on loopback.
pub fn local_address(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// Asks the plaintext health service at `address` about `service`
/// ("" for readiness, `liveness` for liveness) within `timeout`.
pub async fn check(
    address: SocketAddr,
    service: &str,
    timeout: Duration,
) -> Result<(), ProbeError> {
    let no_answer = |detail: String| ProbeError::NoAnswer { address, detail };
    let asked = async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| no_answer(e.to_string()))?
            .connect_timeout(timeout)
            .connect()
            .await
            .map_err(|e| no_answer(crate::telemetry::error_chain(&e)))?;
        HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .map_err(|status| {
                no_answer(format!(
                    "{}: {} (a TLS port cannot be probed in plaintext: probe the --health-listen port)",
                    status.code(),
                    status.message()
                ))
            })
    };
    let answer = tokio::time::timeout(timeout, asked)
        .await
        .map_err(|_| no_answer(format!("no answer within {timeout:?}")))??;
    let status = answer.into_inner().status();
    if status == ServingStatus::Serving {
        Ok(())
    } else {
        Err(ProbeError::NotServing {
            address,
            service: service.to_owned(),
            status: status.as_str_name().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listen_address_is_probed_on_loopback() {
        let probe = |listen: &str| local_address(listen.parse().unwrap()).to_string();
        assert_eq!(probe("0.0.0.0:8081"), "127.0.0.1:8081");
        assert_eq!(probe("[::]:8081"), "[::1]:8081");
        assert_eq!(probe("10.1.2.3:8081"), "10.1.2.3:8081");
    }
}
