//! What every error response carries besides its code and message: the
//! request id as `google.rpc.RequestInfo` (next to whatever details the
//! error had, e.g. `google.rpc.BadRequest`). Also the one rewrite of a
//! code the transport chose: tonic answers a message over the size limit
//! with OUT_OF_RANGE, which this service never uses itself; callers are
//! told RESOURCE_EXHAUSTED, the code gRPC documents for it.

use base64::Engine;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use http::{HeaderMap, HeaderValue};
use prost::Message;
use tonic::Code;

const STATUS: &str = "grpc-status";
const MESSAGE: &str = "grpc-message";
const DETAILS: &str = "grpc-status-details-bin";
const REQUEST_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RequestInfo";

/// gRPC binary headers are base64 with or without padding.
const BINARY_HEADER: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Adds the request id to the error in `headers` (a trailers-only
/// response) and returns its final code.
pub fn complete(headers: &mut HeaderMap, code: Code, request_id: &str) -> Code {
    let code = if code == Code::OutOfRange {
        headers.insert(STATUS, HeaderValue::from(Code::ResourceExhausted as i32));
        Code::ResourceExhausted
    } else {
        code
    };
    let mut status = headers
        .get(DETAILS)
        .and_then(|v| BINARY_HEADER.decode(v.as_bytes()).ok())
        .and_then(|bytes| tonic_types::pb::Status::decode(bytes.as_slice()).ok())
        .unwrap_or_else(|| tonic_types::pb::Status {
            code: code as i32,
            message: headers
                .get(MESSAGE)
                .and_then(|v| v.to_str().ok())
                .map(percent_decode)
                .unwrap_or_default(),
            details: Vec::new(),
        });
    status.code = code as i32;
    status.details.push(prost_types::Any {
        type_url: REQUEST_INFO_TYPE.to_owned(),
        value: tonic_types::pb::RequestInfo {
            request_id: request_id.to_owned(),
            serving_data: String::new(),
        }
        .encode_to_vec(),
    });
    if let Ok(value) = HeaderValue::from_str(&BINARY_HEADER.encode(status.encode_to_vec())) {
        headers.insert(DETAILS, value);
    }
    code
}

/// `grpc-message` is percent-encoded on the wire.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use tonic::Status;
    use tonic_types::StatusExt;

    use super::*;

    fn headers_of(status: Status) -> HeaderMap {
        status.into_http::<tonic::body::Body>().headers().clone()
    }

    fn reread(headers: &HeaderMap) -> Status {
        Status::from_header_map(headers).unwrap()
    }

    #[test]
    fn the_request_id_joins_the_details_an_error_already_had() {
        let status = Status::from(crate::domain::DomainError::invalid(
            "model_name",
            "is required",
        ));
        let mut headers = headers_of(status);
        assert_eq!(
            complete(&mut headers, Code::InvalidArgument, "req-1"),
            Code::InvalidArgument
        );
        let details = reread(&headers).get_error_details();
        assert_eq!(details.request_info().unwrap().request_id, "req-1");
        assert_eq!(
            details.bad_request().unwrap().field_violations[0].field,
            "model_name"
        );
    }

    #[test]
    fn a_plain_error_gets_details_and_size_limits_are_resource_exhausted() {
        let mut headers = headers_of(Status::out_of_range(
            "decoded message length too large: 99%",
        ));
        assert_eq!(
            complete(&mut headers, Code::OutOfRange, "req-2"),
            Code::ResourceExhausted
        );
        let status = reread(&headers);
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(
            status
                .get_error_details()
                .request_info()
                .unwrap()
                .request_id,
            "req-2"
        );
    }
}
