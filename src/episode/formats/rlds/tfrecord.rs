//! TFRecord framing: `u64` little-endian payload length, masked CRC32C of those 8 bytes,
//! the payload, masked CRC32C of the payload.
//!
//! Indexing ([`index_records`]) reads only the 12-byte headers and seeks over payloads, so a
//! multi-gigabyte shard opens in milliseconds; the payload CRC is checked when a record is
//! read ([`read_record`]). A damaged header stops indexing at that record and is reported,
//! while the records before it stay usable.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::episode::{CrcKind, EpisodeError, Result};

/// TFRecord's CRC mask: rotate right by 15 and add a constant.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Where one record's payload lives in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordSpan {
    /// Byte offset of the record header.
    pub offset: u64,
    /// Payload length in bytes.
    pub len: u64,
}

/// Result of indexing one shard: the good records, and the error that stopped indexing
/// early (truncation or a damaged header), if any.
#[derive(Debug)]
pub struct ShardIndex {
    pub records: Vec<RecordSpan>,
    pub error: Option<EpisodeError>,
}

/// Reads the record headers of a TFRecord file, checking each length CRC.
pub fn index_records(path: &Path) -> Result<ShardIndex> {
    let mut file = File::open(path).map_err(|e| EpisodeError::io(path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| EpisodeError::io(path, e))?
        .len();
    let mut records = Vec::new();
    let mut offset = 0u64;
    while offset < file_len {
        let record = records.len();
        let mut header = [0u8; 12];
        if file_len - offset < 12 {
            return Ok(ShardIndex {
                records,
                error: Some(EpisodeError::TruncatedRecord {
                    path: path.to_owned(),
                    record,
                    offset,
                    what: format!("{} header bytes of 12", file_len - offset),
                }),
            });
        }
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(&mut header))
            .map_err(|e| EpisodeError::io(path, e))?;
        let len_bytes: [u8; 8] = header[..8].try_into().unwrap_or_default();
        let stored = u32::from_le_bytes(header[8..12].try_into().unwrap_or_default());
        let computed = masked_crc32c(&len_bytes);
        if stored != computed {
            return Ok(ShardIndex {
                records,
                error: Some(EpisodeError::CrcMismatch {
                    path: path.to_owned(),
                    record,
                    offset,
                    which: CrcKind::Length,
                    stored,
                    computed,
                }),
            });
        }
        let len = u64::from_le_bytes(len_bytes);
        let end = offset
            .checked_add(12)
            .and_then(|o| o.checked_add(len))
            .and_then(|o| o.checked_add(4));
        match end {
            Some(end) if end <= file_len => {
                records.push(RecordSpan { offset, len });
                offset = end;
            }
            _ => {
                return Ok(ShardIndex {
                    records,
                    error: Some(EpisodeError::TruncatedRecord {
                        path: path.to_owned(),
                        record,
                        offset,
                        what: format!(
                            "payload of {len} bytes plus CRC runs past the end of the file ({} bytes left)",
                            file_len - offset - 12
                        ),
                    }),
                });
            }
        }
    }
    Ok(ShardIndex {
        records,
        error: None,
    })
}

/// Reads one record's payload and checks both CRCs.
pub fn read_record(path: &Path, record: usize, span: RecordSpan) -> Result<bytes::Bytes> {
    let mut file = File::open(path).map_err(|e| EpisodeError::io(path, e))?;
    let total = usize::try_from(span.len + 16).map_err(|_| EpisodeError::BadRecord {
        path: path.to_owned(),
        record,
        what: format!("record of {} bytes is too large for this machine", span.len),
    })?;
    let mut buf = vec![0u8; total];
    file.seek(SeekFrom::Start(span.offset))
        .map_err(|e| EpisodeError::io(path, e))?;
    file.read_exact(&mut buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => EpisodeError::TruncatedRecord {
            path: path.to_owned(),
            record,
            offset: span.offset,
            what: "the file is shorter than when it was indexed".to_owned(),
        },
        _ => EpisodeError::io(path, e),
    })?;
    let check = |which, data: &[u8], stored_at: usize| {
        let stored =
            u32::from_le_bytes(buf[stored_at..stored_at + 4].try_into().unwrap_or_default());
        let computed = masked_crc32c(data);
        if stored == computed {
            Ok(())
        } else {
            Err(EpisodeError::CrcMismatch {
                path: path.to_owned(),
                record,
                offset: span.offset,
                which,
                stored,
                computed,
            })
        }
    };
    check(CrcKind::Length, &buf[..8], 8)?;
    let payload_end = 12 + span.len as usize;
    check(CrcKind::Data, &buf[12..payload_end], payload_end)?;
    let mut bytes = bytes::Bytes::from(buf);
    Ok(bytes.split_off(12).split_to(span.len as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[expect(
        clippy::manual_rotate,
        reason = "the oracle spells out TensorFlow's mask independently of the code under test"
    )]
    fn masked_crc_matches_tensorflow_for_known_input() {
        // crc32c("123456789") = 0xE3069283 (the CRC-32C check value); masked by hand.
        let crc = 0xE306_9283u32;
        assert_eq!(crc32c::crc32c(b"123456789"), crc);
        assert_eq!(
            masked_crc32c(b"123456789"),
            ((crc >> 15) | (crc << 17)).wrapping_add(0xa282_ead8)
        );
    }
}
