//! JSON for people and scripts, in one shape: the canonical protobuf JSON
//! mapping (camelCase names, 64-bit integers as strings, enum names, RFC 3339
//! times, unset fields left out), exactly what grpcurl and Python's
//! `json_format` print. The mapping itself comes from `prost-reflect`, driven
//! by the API's own descriptor set, so no field is mapped by hand.
//!
//! `google.protobuf.Struct` (a version's free-form `metadata`) converts to
//! and from a JSON object here, once, for the server and every client.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value};

/// Why a message could not be written as JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonError {
    /// A number JSON cannot hold (NaN or an infinity) inside a `Struct`.
    NonFiniteNumber(f64),
    /// The message is not part of this API's descriptor set.
    UnknownMessage(String),
    /// The mapping refused the message (e.g. a timestamp out of range).
    Mapping(String),
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NonFiniteNumber(n) => write!(f, "contains the non-finite number {n}"),
            Self::UnknownMessage(name) => write!(f, "{name} is not a message of this API"),
            Self::Mapping(why) => write!(f, "cannot be written as JSON: {why}"),
        }
    }
}

impl std::error::Error for JsonError {}

/// The API's messages, for the mapping. `None` only if the descriptor set
/// compiled into this crate were corrupt, which its tests rule out.
static POOL: LazyLock<Option<DescriptorPool>> =
    LazyLock::new(|| DescriptorPool::decode(crate::FILE_DESCRIPTOR_SET).ok());

/// `message` in the canonical protobuf JSON mapping.
pub fn to_json<M: prost::Name>(message: &M) -> Result<serde_json::Value, JsonError> {
    let unknown = || JsonError::UnknownMessage(M::full_name());
    let descriptor = POOL
        .as_ref()
        .and_then(|pool| pool.get_message_by_name(&M::full_name()))
        .ok_or_else(unknown)?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .map_err(|e| JsonError::Mapping(e.to_string()))?;
    dynamic
        .serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new())
        .map(integral_numbers)
        .map_err(|e| JsonError::Mapping(e.to_string()))
}

/// Largest integer a double holds exactly (2^53).
const EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

/// A double that holds an integer, as that integer: `2000`, not `2000.0`,
/// as Go's protojson (grpcurl) and a JSON author write it. `Struct`
/// numbers are doubles on the wire, so a training job's `"samples": 2000`
/// would otherwise come back as `2000.0`.
fn integral_number(n: f64) -> serde_json::Value {
    if n.fract() == 0.0 && n.abs() <= EXACT_INTEGER {
        // Exact: |n| <= 2^53 fits an i64 and the cast loses nothing.
        serde_json::Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}

/// `value` with every integral double written as an integer.
fn integral_numbers(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => n
            .as_f64()
            .map_or(serde_json::Value::Number(n), integral_number),
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(integral_numbers).collect())
        }
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, integral_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

/// A `google.protobuf.Struct` as a JSON object; a non-finite number, which
/// JSON cannot hold, is refused.
pub fn struct_to_json(
    object: &Struct,
) -> Result<serde_json::Map<String, serde_json::Value>, JsonError> {
    object
        .fields
        .iter()
        .map(|(key, value)| Ok((key.clone(), value_to_json(value)?)))
        .collect()
}

/// A `google.protobuf.Value` as JSON; a non-finite number is refused.
pub fn value_to_json(value: &Value) -> Result<serde_json::Value, JsonError> {
    Ok(match &value.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(b)) => serde_json::Value::Bool(*b),
        Some(Kind::StringValue(s)) => serde_json::Value::String(s.clone()),
        Some(Kind::NumberValue(n)) if !n.is_finite() => {
            return Err(JsonError::NonFiniteNumber(*n));
        }
        Some(Kind::NumberValue(n)) => integral_number(*n),
        Some(Kind::StructValue(s)) => serde_json::Value::Object(struct_to_json(s)?),
        Some(Kind::ListValue(list)) => serde_json::Value::Array(
            list.values
                .iter()
                .map(value_to_json)
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// A JSON object as a `google.protobuf.Struct`.
pub fn json_to_struct(object: serde_json::Map<String, serde_json::Value>) -> Struct {
    Struct {
        fields: object
            .into_iter()
            .map(|(k, v)| (k, json_to_value(v)))
            .collect::<BTreeMap<_, _>>(),
    }
}

/// JSON as a `google.protobuf.Value`.
pub fn json_to_value(value: serde_json::Value) -> Value {
    let kind = match value {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(b),
        // Every JSON number is a finite double or an integer a double
        // approximates, which is what `Struct` holds.
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Kind::StringValue(s),
        serde_json::Value::Array(items) => Kind::ListValue(ListValue {
            values: items.into_iter().map(json_to_value).collect(),
        }),
        serde_json::Value::Object(map) => Kind::StructValue(json_to_struct(map)),
    };
    Value { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1 as pb;
    use serde_json::json;

    #[test]
    fn metadata_survives_the_round_trip_through_json() {
        let original = json!({"threshold": 0.5, "labels": ["stay", "churn"], "nested": {"ok": true, "none": null}});
        let object = original.as_object().cloned().unwrap_or_default();
        let back = struct_to_json(&json_to_struct(object)).map(serde_json::Value::Object);
        assert_eq!(back, Ok(original));
    }

    #[test]
    fn integers_in_metadata_come_back_as_integers() {
        let original = json!({"samples": 2000, "negative": -3, "ratio": 0.5, "nested": [7, 1.25]});
        let object = original.as_object().cloned().unwrap_or_default();
        let back = struct_to_json(&json_to_struct(object)).map(serde_json::Value::Object);
        assert_eq!(back, Ok(original));
        let version = pb::ModelVersion {
            metadata: Some(json_to_struct(
                json!({"samples": 2000})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            )),
            metrics: [("auc".to_owned(), 1.0)].into(),
            ..Default::default()
        };
        let text = to_json(&version).map(|v| v.to_string()).unwrap_or_default();
        assert!(text.contains(r#""samples":2000}"#), "{text}");
        assert!(text.contains(r#""auc":1}"#), "as grpcurl prints it: {text}");
        // Beyond 2^53 a double is not an exact integer: left as a double.
        assert_eq!(integral_number(1e300), json!(1e300));
    }

    #[test]
    fn non_finite_numbers_are_refused() {
        let value = Struct {
            fields: BTreeMap::from([(
                "x".to_owned(),
                Value {
                    kind: Some(Kind::NumberValue(f64::INFINITY)),
                },
            )]),
        };
        assert_eq!(
            struct_to_json(&value),
            Err(JsonError::NonFiniteNumber(f64::INFINITY))
        );
    }

    #[test]
    fn messages_use_the_canonical_mapping() {
        let version = pb::ModelVersion {
            model_name: "churn".into(),
            version: 13,
            status: pb::ModelStatus::Active as i32,
            metrics: [("auc".to_owned(), 0.91)].into(),
            created_at: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 120_000_000,
            }),
            metadata: Some(json_to_struct(
                json!({"classes": ["stay", "churn"]})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            )),
            ..Default::default()
        };
        assert_eq!(
            to_json(&version),
            Ok(json!({
                "modelName": "churn",
                "version": "13",
                "status": "MODEL_STATUS_ACTIVE",
                "metrics": {"auc": 0.91},
                "createdAt": "2023-11-14T22:13:20.120Z",
                "metadata": {"classes": ["stay", "churn"]},
            }))
        );
    }
}
