//! The FFmpeg decoder (cargo feature `ffmpeg`): libavformat demuxing, libavcodec decoding,
//! libswscale colour conversion, for the codecs with no Rust decoder here (HEVC, VP9, ...).
//!
//! [`FfmpegCursor`] keeps one open demuxer and decoder per file and reads forward: stepping
//! through an episode decodes each packet once. A jump backwards, or more than
//! [`MAX_FORWARD_S`] ahead, seeks to the keyframe before the target and decodes from there.
//! The frame returned is the first whose presentation time is within half a frame period of
//! the target.
//!
//! AV1 is refused here: rav1d exports dav1d's C API from this binary, and FFmpeg's libdav1d
//! calls would be resolved to it. AV1 always goes to rav1d.

use std::path::{Path, PathBuf};
use std::sync::Once;

use ffmpeg_next as ffmpeg;

use super::{VResult, VideoError, VideoInfo};
use crate::episode::RgbImage;

/// How far ahead of the last decoded frame a target may be and still be reached by decoding
/// forward instead of seeking (seconds).
const MAX_FORWARD_S: f64 = 2.0;

impl From<ffmpeg::Error> for VideoError {
    fn from(e: ffmpeg::Error) -> Self {
        Self(format!("ffmpeg: {e}"))
    }
}

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // Registers nothing on FFmpeg >= 4 but sets up logging; quiet: errors come back as
        // values, not as lines on stderr.
        let _ = ffmpeg::init();
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Fatal);
    });
}

/// One open video file, read forward.
pub struct FfmpegCursor {
    path: PathBuf,
    input: ffmpeg::format::context::Input,
    decoder: ffmpeg::decoder::Video,
    stream_index: usize,
    time_base_s: f64,
    info: VideoInfo,
    /// Presentation time of the last frame handed out by the decoder, seconds.
    last_pts_s: Option<f64>,
    /// The decoder has been sent end-of-stream (nothing more to read until a seek).
    drained: bool,
    /// Decoded frames not yet consumed, oldest first (the decoder can emit several per packet).
    pending: std::collections::VecDeque<(f64, ffmpeg::frame::Video)>,
}

impl std::fmt::Debug for FfmpegCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FfmpegCursor")
            .field("path", &self.path)
            .field("info", &self.info)
            .field("last_pts_s", &self.last_pts_s)
            .finish_non_exhaustive()
    }
}

fn rational(r: ffmpeg::Rational) -> Option<f64> {
    (r.denominator() != 0 && r.numerator() != 0)
        .then(|| f64::from(r.numerator()) / f64::from(r.denominator()))
}

impl FfmpegCursor {
    /// Opens `path` and its best video stream.
    pub fn open(path: &Path) -> VResult<Self> {
        init();
        if !path.is_file() {
            return Err(VideoError("no such file".into()));
        }
        let input = ffmpeg::format::input(&path)
            .map_err(|e| VideoError(format!("not a readable video container ({e})")))?;
        let stream = input
            .streams()
            .best(ffmpeg::media::Type::Video)
            .ok_or_else(|| VideoError("no video stream".into()))?;
        let stream_index = stream.index();
        let time_base_s = rational(stream.time_base())
            .ok_or_else(|| VideoError("video stream has no time base".into()))?;
        let fps = rational(stream.avg_frame_rate()).or_else(|| rational(stream.rate()));
        let duration_s = (stream.duration() > 0).then(|| stream.duration() as f64 * time_base_s);
        let ctx = ffmpeg::codec::context::Context::from_parameters(stream.parameters())?;
        let codec_id = ctx.id();
        if codec_id == ffmpeg::codec::Id::AV1 {
            // rav1d exports dav1d's C API from this binary; FFmpeg's libdav1d would have its
            // calls resolved to those symbols (a crash). AV1 always goes to rav1d.
            return Err(VideoError(
                "AV1 is decoded by rav1d in this app, never by FFmpeg (FFmpeg's libdav1d cannot share the process with rav1d)".into(),
            ));
        }
        let decoder = ctx.decoder().video().map_err(|e| {
            VideoError(format!(
                "no decoder for codec {codec_id:?} in this FFmpeg build ({e})"
            ))
        })?;
        if decoder.width() == 0 || decoder.height() == 0 {
            return Err(VideoError("video stream has no frame size".into()));
        }
        let info = VideoInfo {
            codec: format!("{codec_id:?}").to_lowercase(),
            width_px: decoder.width(),
            height_px: decoder.height(),
            fps,
            duration_s,
            decoder: "ffmpeg",
        };
        Ok(Self {
            path: path.to_owned(),
            input,
            decoder,
            stream_index,
            time_base_s,
            info,
            last_pts_s: None,
            drained: false,
            pending: Default::default(),
        })
    }

    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// Seeks to the keyframe at or before `target_s` and resets the decoder.
    fn seek(&mut self, target_s: f64) -> VResult<()> {
        // `seek` on the input context takes AV_TIME_BASE (microsecond) units.
        let ts = (target_s.max(0.0) * f64::from(ffmpeg::ffi::AV_TIME_BASE)) as i64;
        self.input.seek(ts, ..ts)?;
        self.decoder.flush();
        self.pending.clear();
        self.last_pts_s = None;
        self.drained = false;
        Ok(())
    }

    /// Decodes the next frame in presentation order; `None` at the end of the stream.
    fn next_frame(&mut self) -> VResult<Option<(f64, ffmpeg::frame::Video)>> {
        loop {
            if let Some(f) = self.pending.pop_front() {
                return Ok(Some(f));
            }
            let mut frame = ffmpeg::frame::Video::empty();
            if self.decoder.receive_frame(&mut frame).is_ok() {
                let pts = frame.timestamp().or(frame.pts()).unwrap_or(0);
                let t = pts as f64 * self.time_base_s;
                self.pending.push_back((t, frame));
                continue;
            }
            if self.drained {
                return Ok(None);
            }
            // Feed the next packet of our stream.
            let mut fed = false;
            for (stream, packet) in self.input.packets() {
                if stream.index() == self.stream_index {
                    self.decoder.send_packet(&packet).map_err(|e| {
                        VideoError(format!("corrupt packet at pts {:?}: {e}", packet.pts()))
                    })?;
                    fed = true;
                    break;
                }
            }
            if !fed {
                self.decoder.send_eof()?;
                self.drained = true;
            }
        }
    }

    /// The RGB frame shown at `target_s` (seconds from the start of the file), decoding
    /// forward from the current position or seeking first.
    pub fn frame_at(&mut self, target_s: f64) -> VResult<RgbImage> {
        if !target_s.is_finite() || target_s < 0.0 {
            return Err(VideoError(format!("invalid timestamp {target_s}")));
        }
        let half_period = 0.5 / self.info.fps.unwrap_or(30.0).max(1e-3);
        let forward_ok = match self.last_pts_s {
            Some(last) => target_s > last && target_s - last <= MAX_FORWARD_S,
            None => false,
        };
        if !forward_ok {
            self.seek(target_s)?;
        }
        let mut last_seen = None;
        while let Some((t, frame)) = self.next_frame()? {
            self.last_pts_s = Some(t);
            last_seen = Some(t);
            if t + half_period >= target_s {
                if (t - target_s).abs() > half_period + 1e-6 {
                    return Err(VideoError(format!(
                        "no frame at {target_s:.4} s: the nearest is at {t:.4} s"
                    )));
                }
                return to_rgb(&frame);
            }
        }
        Err(VideoError(match last_seen.or(self.info.duration_s) {
            Some(end) => format!(
                "no frame at {target_s:.4} s: the video ends at {end:.4} s (shorter than its table)"
            ),
            None => format!("no frame at {target_s:.4} s: the video has no frames"),
        }))
    }
}

/// Converts a decoded frame (any pixel format) to packed 8-bit RGB.
fn to_rgb(frame: &ffmpeg::frame::Video) -> VResult<RgbImage> {
    let (w, h) = (frame.width(), frame.height());
    let mut scaler = ffmpeg::software::scaling::Context::get(
        frame.format(),
        w,
        h,
        ffmpeg::format::Pixel::RGB24,
        w,
        h,
        ffmpeg::software::scaling::Flags::BILINEAR | ffmpeg::software::scaling::Flags::ACCURATE_RND,
    )?;
    let mut rgb = ffmpeg::frame::Video::empty();
    scaler.run(frame, &mut rgb)?;
    let stride = rgb.stride(0);
    let row = w as usize * 3;
    let data = rgb.data(0);
    let mut pixels = Vec::with_capacity(row * h as usize);
    for y in 0..h as usize {
        pixels.extend_from_slice(&data[y * stride..y * stride + row]);
    }
    Ok(RgbImage {
        width_px: w,
        height_px: h,
        pixels,
    })
}
