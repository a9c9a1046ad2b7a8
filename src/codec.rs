//! The codec of the generated stubs: prost encoding, and decoding that
//! reports a message it cannot read as INVALID_ARGUMENT (the sender's
//! encoding mistake: invalid UTF-8 in a string, nesting past prost's
//! recursion limit, a truncated field) instead of tonic-prost's INTERNAL.
//! prost's error text names the message and field at fault.

use std::marker::PhantomData;

use prost::Message;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::{ProstCodec, ProstEncoder};

/// A prost codec whose decode errors are INVALID_ARGUMENT.
#[derive(Debug, Clone)]
pub struct RegistryCodec<T, U> {
    inner: ProstCodec<T, U>,
}

impl<T, U> Default for RegistryCodec<T, U> {
    fn default() -> Self {
        Self {
            inner: ProstCodec::default(),
        }
    }
}

impl<T, U> Codec for RegistryCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = CheckedDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        self.inner.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        CheckedDecoder {
            _message: PhantomData,
        }
    }
}

/// Decodes with prost; a failure is the sender's INVALID_ARGUMENT.
#[derive(Debug, Clone)]
pub struct CheckedDecoder<U> {
    _message: PhantomData<U>,
}

impl<U: Message + Default> Decoder for CheckedDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf).map(Some).map_err(|error| {
            Status::invalid_argument(format!(
                "the message cannot be decoded ({error}): strings must be valid UTF-8 and \
                 values nested at most 100 levels deep"
            ))
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}
