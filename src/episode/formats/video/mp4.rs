//! The MP4 container, in pure Rust (`re_mp4`, Rerun's demuxer): the video track's codec and
//! configuration, and its sample table in decode order with each sample's presentation
//! time, keyframe flag and byte range. Samples are read from the file on demand, one at a
//! time, after checking that their byte range lies inside the file.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
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

/// Most bytes one compressed frame may take (a 16384 x 16384 intra frame fits easily).
const MAX_SAMPLE_BYTES: u64 = 256 << 20;

impl Mp4Video {
    /// Reads the container's index (not the frames) and picks its video track.
    pub fn open(path: &Path) -> Result<Self, String> {
        let mut file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
        let file_len = file.metadata().map_err(|e| e.to_string())?.len();
        let mp4 = re_mp4::Mp4::read(&mut file, file_len)
            .map_err(|e| format!("not a readable MP4 container ({e})"))?;
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
