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
//!
//! Before decoding, it counts the message's top-level fields (a walk over tags and lengths,
//! no allocation) and refuses more than [`MAX_FIELDS_PER_MESSAGE`] with OUT_OF_RANGE. The
//! reason is amplification: an empty `EventRecord` is 2 bytes on the wire and about 170 in
//! memory, so a 4 MiB message of them would decode into some 350 MB; the bound caps one
//! message's decoded records at about 35 MB whatever their encoding.

use std::marker::PhantomData;

use prost::Message;
use prost::bytes::Buf;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::ProstEncoder;

use super::status::{malformed, too_many_fields};

/// Most top-level fields one message may carry (an `IngestRequest`'s records; a
/// `CheckRequest`'s hotzone entries plus its scalars). The smallest useful record is about 27
/// bytes on the wire, so a 4 MiB message of real records stays under it.
pub const MAX_FIELDS_PER_MESSAGE: usize = 200_000;

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
        // The message's bytes as one buffer (tonic's buffer is contiguous: no copy).
        let bytes = buf.copy_to_bytes(buf.remaining());
        if top_level_fields(&bytes).is_some_and(|n| n > MAX_FIELDS_PER_MESSAGE) {
            return Err(too_many_fields(MAX_FIELDS_PER_MESSAGE));
        }
        U::decode(bytes)
            .map(Some)
            .map_err(|e| malformed(&e.to_string()))
    }

    fn buffer_settings(&self) -> BufferSettings {
        settings()
    }
}

/// Top-level fields of an encoded message, counted up to one past the bound; `None` when the
/// bytes are not a sequence of fields (prost then says what is wrong).
fn top_level_fields(mut b: &[u8]) -> Option<usize> {
    let mut n = 0usize;
    while !b.is_empty() {
        let key = prost::encoding::decode_varint(&mut b).ok()?;
        let skip = match key & 7 {
            0 => {
                prost::encoding::decode_varint(&mut b).ok()?;
                0
            }
            1 => 8,
            2 => usize::try_from(prost::encoding::decode_varint(&mut b).ok()?).ok()?,
            5 => 4,
            _ => return None,
        };
        if skip > b.len() {
            return None;
        }
        b = &b[skip..];
        n += 1;
        if n > MAX_FIELDS_PER_MESSAGE {
            break;
        }
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::pb::{EventRecord, IngestRequest};

    #[test]
    fn fields_are_counted_without_decoding() {
        let req = IngestRequest {
            events: vec![EventRecord::default(); 5],
        };
        assert_eq!(top_level_fields(&req.encode_to_vec()), Some(5));
        assert_eq!(top_level_fields(&[]), Some(0));
        assert_eq!(top_level_fields(&[0x0a, 0x05, 0x00]), None); // length past the end
        assert_eq!(top_level_fields(&[0x0b]), None); // wire type 3 (groups): not ours
        let many = IngestRequest {
            events: vec![EventRecord::default(); MAX_FIELDS_PER_MESSAGE + 10],
        };
        assert_eq!(
            top_level_fields(&many.encode_to_vec()),
            Some(MAX_FIELDS_PER_MESSAGE + 1)
        );
    }
}
