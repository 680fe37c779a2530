//! The protobuf codec of the generated service and client (`build.rs` points
//! `tonic-prost-build` here): prost's own encoder and decoder, with small buffers.
//!
//! tonic's default codec buffers are 8 KiB, allocated for every call twice (the request's
//! decode buffer and the reply's encode buffer), for messages of under 100 bytes (a check
//! and its answer). 8 KiB blocks are too large for the allocator's per-thread caches, so each
//! call paid for two trips through the general heap. A buffer grows when a message needs
//! more (an `Ingest` batch), so large messages still work, with a few more reallocations.
//!
//! The decoder is our own ([`CheckedDecoder`]): prost's, whose errors become INVALID_ARGUMENT
//! with the CAMARA ErrorInfo ([`super::status::malformed`]). tonic's stock decoder answers
//! INTERNAL for bytes that are not the message, and INTERNAL is reserved for our own faults.

use std::marker::PhantomData;

use prost::Message;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::ProstEncoder;

use super::status::malformed;

/// Initial size of the encode and decode buffers: a check request or reply fits.
const BUFFER_BYTES: usize = 512;

/// tonic's default: how much a streaming encoder buffers before it yields.
const YIELD_THRESHOLD: usize = 32 * 1024;

fn settings() -> BufferSettings {
    BufferSettings::new(BUFFER_BYTES, YIELD_THRESHOLD)
}

/// [`tonic_prost::ProstCodec`] with `BUFFER_BYTES` buffers.
#[derive(Debug, Clone)]
pub struct SmallCodec<T, U> {
    _pd: PhantomData<(T, U)>,
}

impl<T, U> Default for SmallCodec<T, U> {
    fn default() -> Self {
        SmallCodec { _pd: PhantomData }
    }
}

impl<T, U> Codec for SmallCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = CheckedDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(settings())
    }

    fn decoder(&mut self) -> Self::Decoder {
        CheckedDecoder { _pd: PhantomData }
    }
}

/// Decodes one protobuf message; bytes that are not one are INVALID_ARGUMENT.
#[derive(Debug)]
pub struct CheckedDecoder<U> {
    _pd: PhantomData<U>,
}

impl<U: Message + Default> Decoder for CheckedDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf)
            .map(Some)
            .map_err(|e| malformed(&e.to_string()))
    }

    fn buffer_settings(&self) -> BufferSettings {
        settings()
    }
}
