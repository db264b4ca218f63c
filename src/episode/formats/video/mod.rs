//! Video frames by timestamp, for LeRobot's MP4 cameras, decoded in Rust by default:
//! the MP4 container through `re_mp4` ([`mp4`]), H.264 through OpenH264 ([`h264`]), AV1
//! through rav1d ([`av1`]), colour conversion in [`yuv`]. No system library is needed.
//! Codecs with no Rust decoder here (HEVC, VP9) go to FFmpeg when the app is built with the
//! `ffmpeg` cargo feature; otherwise the error says which feature and packages they need.
//!
//! [`VideoCursor`] keeps one open file and decoder and reads forward ([`native`]): stepping
//! through an episode decodes each sample once; a jump backwards, or past a keyframe,
//! restarts at the keyframe before the target. A timestamp names the frame whose
//! presentation time is nearest, within half a frame period (LeRobot's own loader picks
//! the nearest frame the same way); anything else is a [`VideoError`] saying where the
//! nearest frame is, or where the video ends.

use std::path::{Path, PathBuf};

mod av1;
#[cfg(feature = "ffmpeg")]
mod ffmpeg;
mod h264;
mod mp4;
mod native;
pub mod yuv;

use crate::episode::RgbImage;

/// What went wrong reading a video.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoError(pub String);

impl std::fmt::Display for VideoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type VResult<T> = Result<T, VideoError>;

/// Facts about a video stream.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// Codec name as FFmpeg calls it (`h264`, `av1`, `hevc`).
    pub codec: String,
    pub width_px: u32,
    pub height_px: u32,
    /// Average frame rate, when it can be told.
    pub fps: Option<f64>,
    /// Stream duration in seconds, when it can be told.
    pub duration_s: Option<f64>,
    /// Which decoder reads it (`openh264`, `rav1d`, `ffmpeg`).
    pub decoder: &'static str,
}

/// The first plane of a frame as stored, before any colour conversion: for depth videos,
/// the quantised codes (LeRobot: 12-bit grey HEVC, codes 0..=4095).
#[derive(Debug, Clone, PartialEq)]
pub struct LumaSamples {
    pub width_px: u32,
    pub height_px: u32,
    /// Bits per sample as decoded (8, 10, 12 or 16).
    pub bit_depth: u8,
    /// Row-major, `width_px * height_px` samples.
    pub samples: Vec<u16>,
}

/// Where decoded pictures go: their presentation time (track units) and planes.
pub(crate) type PictureSink<'a> = &'a mut dyn FnMut(i64, &yuv::YuvPlanes<'_>);

/// A decoder fed one compressed sample at a time, in decode order.
pub(crate) trait FrameDecoder: Send {
    /// Forgets every reference picture (the next sample fed is a keyframe).
    fn reset(&mut self) -> Result<(), String>;
    /// Decodes one sample; pictures that are ready go to `out`, in display order.
    fn feed(&mut self, sample: &[u8], pts: i64, out: PictureSink<'_>) -> Result<(), String>;
    /// Hands out every picture still held (the end of the stream).
    fn flush(&mut self, out: PictureSink<'_>) -> Result<(), String>;
}

/// Which decoder to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoders {
    /// The Rust decoders, FFmpeg for other codecs when built in.
    Auto,
    /// FFmpeg for everything (for comparisons; needs the `ffmpeg` feature).
    Ffmpeg,
}

enum Backend {
    Native(Box<native::NativeCursor>),
    #[cfg(feature = "ffmpeg")]
    Ffmpeg(Box<ffmpeg::FfmpegCursor>),
}

/// One open video file, read forward.
pub struct VideoCursor {
    path: PathBuf,
    backend: Backend,
}

impl std::fmt::Debug for VideoCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoCursor")
            .field("path", &self.path)
            .field("info", self.info())
            .finish_non_exhaustive()
    }
}

/// Whether this build can decode codecs with no Rust decoder (through FFmpeg).
pub const FFMPEG_BUILT_IN: bool = cfg!(feature = "ffmpeg");

/// What to do to read a codec this build cannot.
fn needs_ffmpeg(codec: &str) -> VideoError {
    VideoError(format!(
        "{codec} video: this build decodes H.264 and AV1 only; {codec} needs FFmpeg: {}",
        needs_ffmpeg_text()
    ))
}

/// How to get FFmpeg decoding.
fn needs_ffmpeg_text() -> &'static str {
    "rebuild with `cargo run --features ffmpeg` after installing FFmpeg's development libraries \
     (Debian/Ubuntu: libavcodec-dev libavformat-dev libswscale-dev clang; macOS: brew install ffmpeg)"
}

/// Why a codec named in metadata (LeRobot's `video.codec`) cannot be decoded by this build,
/// with what to do; `None` when it can (or when only opening the file will tell).
pub fn undecodable_here(codec: &str) -> Option<String> {
    let c = codec.to_ascii_lowercase();
    let rust = matches!(
        c.as_str(),
        "h264" | "avc1" | "av1" | "libdav1d" | "libaom-av1"
    );
    (!rust && !FFMPEG_BUILT_IN).then(|| needs_ffmpeg(&c).0)
}

impl VideoCursor {
    /// Opens `path` and its video track, with the Rust decoders where they apply.
    pub fn open(path: &Path) -> VResult<Self> {
        Self::open_with(path, Decoders::Auto)
    }

    /// Opens `path` with the decoders asked for.
    pub fn open_with(path: &Path, decoders: Decoders) -> VResult<Self> {
        if !path.is_file() {
            return Err(VideoError("no such file".into()));
        }
        let backend = match decoders {
            Decoders::Ffmpeg => Self::ffmpeg(path, None)?,
            Decoders::Auto => match native::NativeCursor::open(path) {
                Ok(Ok(c)) => Backend::Native(Box::new(c)),
                // A container we read, a codec we do not decode.
                Ok(Err(codec)) => Self::ffmpeg(path, Some(&codec))?,
                Err(e) => return Err(VideoError(e)),
            },
        };
        Ok(Self {
            path: path.to_owned(),
            backend,
        })
    }

    #[cfg(feature = "ffmpeg")]
    fn ffmpeg(path: &Path, _codec: Option<&str>) -> VResult<Backend> {
        Ok(Backend::Ffmpeg(Box::new(ffmpeg::FfmpegCursor::open(path)?)))
    }

    #[cfg(not(feature = "ffmpeg"))]
    fn ffmpeg(_path: &Path, codec: Option<&str>) -> VResult<Backend> {
        Err(match codec {
            Some(c) => needs_ffmpeg(c),
            None => VideoError(
                "FFmpeg decoding was asked for but this build has no `ffmpeg` feature".into(),
            ),
        })
    }

    pub fn info(&self) -> &VideoInfo {
        match &self.backend {
            Backend::Native(c) => c.info(),
            #[cfg(feature = "ffmpeg")]
            Backend::Ffmpeg(c) => c.info(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many frames are presented in `[start_s, end_s)` (seconds from the start of the
    /// file), from the sample table; `None` where only decoding could tell (FFmpeg).
    pub fn frames_between(&self, start_s: f64, end_s: f64) -> Option<usize> {
        match &self.backend {
            Backend::Native(c) => Some(c.frames_between(start_s, end_s)),
            #[cfg(feature = "ffmpeg")]
            Backend::Ffmpeg(_) => None,
        }
    }

    /// The stored samples of the first plane of the frame shown at `target_s` (a depth
    /// video's codes). Depth videos are high-bit-depth grey (LeRobot writes 12-bit HEVC),
    /// which the Rust decoders here do not produce: they need the `ffmpeg` feature.
    pub fn luma_at(&mut self, target_s: f64) -> VResult<LumaSamples> {
        if !target_s.is_finite() || target_s < 0.0 {
            return Err(VideoError(format!("invalid timestamp {target_s}")));
        }
        match &mut self.backend {
            Backend::Native(c) => Err(VideoError(format!(
                "{} video: samples for depth are read through FFmpeg only (high-bit-depth grey); {}",
                c.info().codec,
                needs_ffmpeg_text()
            ))),
            #[cfg(feature = "ffmpeg")]
            Backend::Ffmpeg(c) => c.luma_at(target_s),
        }
    }

    /// The presentation time (nanoseconds from the start of the file) of the frame shown at
    /// `target_s`, from the sample table; `None` where only decoding could tell (FFmpeg).
    pub fn pts_nanos_at(&self, target_s: f64) -> Option<VResult<i64>> {
        match &self.backend {
            Backend::Native(c) => Some(c.pts_nanos_at(target_s).map_err(VideoError)),
            #[cfg(feature = "ffmpeg")]
            Backend::Ffmpeg(_) => None,
        }
    }

    /// The RGB frame shown at `target_s` (seconds from the start of the file).
    pub fn frame_at(&mut self, target_s: f64) -> VResult<RgbImage> {
        if !target_s.is_finite() || target_s < 0.0 {
            return Err(VideoError(format!("invalid timestamp {target_s}")));
        }
        match &mut self.backend {
            Backend::Native(c) => c.frame_at(target_s).map_err(VideoError),
            #[cfg(feature = "ffmpeg")]
            Backend::Ffmpeg(c) => c.frame_at(target_s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_non_video_files_are_errors() {
        let e = VideoCursor::open(Path::new("/nonexistent/x.mp4")).unwrap_err();
        assert!(e.0.contains("no such file"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("junk.mp4");
        std::fs::write(&p, b"this is not a video at all").unwrap();
        assert!(VideoCursor::open(&p).is_err());
    }

    /// A `moov` child of size 0 made the demuxer loop forever (found by fuzzing); every
    /// sample video still opens.
    #[test]
    fn boxes_of_size_zero_inside_moov_are_errors_not_hangs() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("zero.mp4");
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&24u32.to_be_bytes());
        bytes.extend_from_slice(b"ftypisom\0\0\0\0isomiso2");
        bytes.extend_from_slice(&16u32.to_be_bytes());
        bytes.extend_from_slice(b"moov");
        bytes.extend_from_slice(&0u32.to_be_bytes());
        bytes.extend_from_slice(b"mvhd");
        std::fs::write(&p, &bytes).unwrap();
        let e = VideoCursor::open(&p).unwrap_err();
        assert!(e.0.contains("size 0"), "{e}");
        let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/sample_episodes");
        for f in [
            "sim_lerobot_v21/videos/chunk-000/observation.images.agentview/episode_000000.mp4",
            "sim_lerobot_v30_av1/videos/observation.images.agentview/chunk-000/file-000.mp4",
        ] {
            VideoCursor::open(&Path::new(samples).join(f)).unwrap();
        }
    }

    #[test]
    fn codecs_without_a_rust_decoder_name_the_feature() {
        let e = needs_ffmpeg("hevc");
        assert!(
            e.0.contains("--features ffmpeg") && e.0.contains("hevc"),
            "{e}"
        );
    }
}
