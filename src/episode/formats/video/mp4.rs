//! The MP4 container, in pure Rust (`re_mp4`, Rerun's demuxer): the video track's codec and
//! configuration, and its sample table in decode order with each sample's presentation
//! time, keyframe flag and byte range. Samples are read from the file on demand, one at a
//! time, after checking that their byte range lies inside the file.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// The codec of a video track, with what its decoder needs from the sample entry.
#[derive(Debug, Clone)]
pub enum Codec {
    /// H.264 / AVC: parameter sets and the length-prefix size of each NAL unit.
    H264 {
        sps_pps: Vec<Vec<u8>>,
        nal_length_bytes: usize,
    },
    Av1,
    /// A codec with no Rust decoder here (HEVC, VP9, ...), by its common name.
    Other(String),
}

impl Codec {
    /// The codec's name as FFmpeg and LeRobot's `info.json` call it.
    pub fn name(&self) -> &str {
        match self {
            Self::H264 { .. } => "h264",
            Self::Av1 => "av1",
            Self::Other(n) => n,
        }
    }
}

/// One sample (a compressed frame), in decode order.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Presentation time in track time units (the first frame at 0).
    pub pts: i64,
    pub is_sync: bool,
    pub offset: u64,
    pub size: u64,
}

/// The video track of an MP4 file.
#[derive(Debug)]
pub struct Mp4Video {
    pub codec: Codec,
    pub width_px: u32,
    pub height_px: u32,
    /// Time units per second.
    pub timescale: u64,
    /// In decode order.
    pub samples: Vec<Sample>,
    /// Duration of the last sample, time units (for the end time).
    pub last_duration: u64,
    file: File,
    file_len: u64,
}

/// Boxes whose payload is more boxes (ISO/IEC 14496-12), with the bytes before the first
/// child: `meta` is a full box (4 bytes of version and flags), `stsd` a full box with an
/// entry count, and visual sample entries carry 78 bytes of fields before their boxes
/// (QuickTime's `meta`, with no version and flags, is told apart by its first bytes).
fn children_offset(kind: &[u8; 4]) -> Option<u64> {
    match kind {
        b"moov" | b"trak" | b"mdia" | b"minf" | b"stbl" | b"edts" | b"dinf" | b"mvex" | b"moof"
        | b"traf" | b"udta" | b"mfra" => Some(0),
        b"meta" => Some(4),
        b"stsd" => Some(8),
        b"avc1" | b"avc3" | b"av01" | b"hvc1" | b"hev1" | b"vp08" | b"vp09" => Some(78),
        _ => None,
    }
}

/// Most boxes one container may hold, and how deep they may nest.
const MAX_BOXES: usize = 1 << 20;
const MAX_BOX_DEPTH: u32 = 16;

/// Walks the box tree between `start` and `end`: every box at least its header long and
/// inside its parent, a size of 0 ("to the end of the file") only at the top level.
fn check_boxes<R: Read + Seek>(r: &mut R, start: u64, end: u64, depth: u32) -> Result<(), String> {
    if depth > MAX_BOX_DEPTH {
        return Err(format!("boxes nested more than {MAX_BOX_DEPTH} deep"));
    }
    let mut pos = start;
    let mut count = 0usize;
    let io = |e: std::io::Error| e.to_string();
    while pos < end {
        count += 1;
        if count > MAX_BOXES {
            return Err(format!("more than {MAX_BOXES} boxes in one container"));
        }
        if end - pos < 8 {
            return Err(format!("a box header at byte {pos} is cut off"));
        }
        let mut head = [0u8; 8];
        r.seek(SeekFrom::Start(pos)).map_err(io)?;
        r.read_exact(&mut head).map_err(io)?;
        let small = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let kind = [head[4], head[5], head[6], head[7]];
        let (size, header) = match small {
            1 => {
                let mut large = [0u8; 8];
                r.read_exact(&mut large).map_err(io)?;
                (u64::from_be_bytes(large), 16)
            }
            0 if depth == 0 => (end - pos, 8),
            0 => {
                return Err(format!(
                    "box `{}` at byte {pos} has size 0 inside another box",
                    String::from_utf8_lossy(&kind)
                ));
            }
            n => (u64::from(n), 8),
        };
        if size < header || size > end - pos {
            return Err(format!(
                "box `{}` at byte {pos} claims {size} bytes where {} remain",
                String::from_utf8_lossy(&kind),
                end - pos
            ));
        }
        if let Some(mut skip) = children_offset(&kind) {
            if &kind == b"meta" && size >= header + 8 {
                // ISO `meta` is a full box; QuickTime's has its children right away.
                let mut next = [0u8; 8];
                r.seek(SeekFrom::Start(pos + header)).map_err(io)?;
                r.read_exact(&mut next).map_err(io)?;
                if next[..4] != [0, 0, 0, 0] {
                    skip = 0;
                }
            }
            let first = pos + header + skip;
            if first <= pos + size {
                check_boxes(r, first, pos + size, depth + 1)?;
            }
        }
        pos += size;
    }
    Ok(())
}

/// Most bytes one compressed frame may take (a 16384 x 16384 intra frame fits easily).
const MAX_SAMPLE_BYTES: u64 = 256 << 20;

impl Mp4Video {
    /// Reads the container's index (not the frames) and picks its video track.
    pub fn open(path: &Path) -> Result<Self, String> {
        let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
        let file_len = file.metadata().map_err(|e| e.to_string())?.len();
        let mut reader = BufReader::new(file);
        // re_mp4 loops forever on a child box of size 0 (found by fuzzing): the box tree is
        // checked first.
        check_boxes(&mut reader, 0, file_len, 0)
            .map_err(|e| format!("not a readable MP4 container ({e})"))?;
        reader.rewind().map_err(|e| e.to_string())?;
        // re_mp4 indexes its sample tables without checking them (a chunk index past the
        // chunk offsets panics, found by fuzzing): a panic is a damaged file.
        let mp4 = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            re_mp4::Mp4::read(&mut reader, file_len)
        }))
        .map_err(|_| {
            "not a readable MP4 container (its sample tables are inconsistent)".to_owned()
        })?
        .map_err(|e| format!("not a readable MP4 container ({e})"))?;
        let file = reader.into_inner();
        let track = mp4
            .tracks()
            .values()
            .find(|t| t.kind == Some(re_mp4::TrackKind::Video))
            .ok_or("no video track")?;
        let stsd = &track.trak(&mp4).mdia.minf.stbl.stsd.contents;
        let codec = match stsd {
            re_mp4::StsdBoxContent::Avc1(avc1) => {
                let c = &avc1.avcc.contents;
                Codec::H264 {
                    sps_pps: c
                        .sequence_parameter_sets
                        .iter()
                        .chain(&c.picture_parameter_sets)
                        .map(|n| n.bytes.clone())
                        .collect(),
                    nal_length_bytes: usize::from(c.length_size_minus_one & 3) + 1,
                }
            }
            re_mp4::StsdBoxContent::Av01(_) => Codec::Av1,
            re_mp4::StsdBoxContent::Hvc1(_) | re_mp4::StsdBoxContent::Hev1(_) => {
                Codec::Other("hevc".into())
            }
            re_mp4::StsdBoxContent::Vp09(_) => Codec::Other("vp9".into()),
            re_mp4::StsdBoxContent::Vp08(_) => Codec::Other("vp8".into()),
            _ => Codec::Other("unknown".into()),
        };
        if track.timescale == 0 {
            return Err("video track has no time scale".into());
        }
        if track.width == 0 || track.height == 0 {
            return Err("video track has no frame size".into());
        }
        let samples = track
            .samples
            .iter()
            .map(|s| Sample {
                pts: s.composition_timestamp,
                is_sync: s.is_sync,
                offset: s.offset,
                size: s.size,
            })
            .collect();
        Ok(Self {
            codec,
            width_px: u32::from(track.width),
            height_px: u32::from(track.height),
            timescale: track.timescale,
            samples,
            last_duration: track.samples.last().map_or(0, |s| s.duration),
            file,
            file_len,
        })
    }

    /// Seconds of `pts` time units.
    pub fn seconds(&self, pts: i64) -> f64 {
        pts as f64 / self.timescale as f64
    }

    /// The bytes of sample `i` (decode order), checked against the file's length.
    pub fn read_sample(&mut self, i: usize) -> Result<Vec<u8>, String> {
        let s = *self
            .samples
            .get(i)
            .ok_or_else(|| format!("no sample {i}"))?;
        let end = s.offset.checked_add(s.size);
        if s.size > MAX_SAMPLE_BYTES || end.is_none_or(|e| e > self.file_len) {
            return Err(format!(
                "sample {i} claims {} bytes at offset {} of a {}-byte file (truncated or damaged)",
                s.size, s.offset, self.file_len
            ));
        }
        let mut buf = vec![0u8; s.size as usize];
        self.file
            .seek(SeekFrom::Start(s.offset))
            .and_then(|_| self.file.read_exact(&mut buf))
            .map_err(|e| format!("cannot read sample {i}: {e}"))?;
        Ok(buf)
    }
}
