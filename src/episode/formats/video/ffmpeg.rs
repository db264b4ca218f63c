//! The FFmpeg decoder (cargo feature `ffmpeg`): libavformat demuxing, libavcodec decoding,
//! libswscale colour conversion, for the codecs with no Rust decoder here (HEVC, VP9, ...).
//!
//! [`FfmpegCursor`] keeps one open demuxer and decoder per file and reads forward: stepping
//! through an episode decodes each packet once. A jump backwards, or more than
//! [`MAX_FORWARD_S`] ahead, seeks to the keyframe before the target and decodes from there;
//! when the first picture after a seek is already past the target (an open-GOP keyframe
//! whose leading pictures cannot be decoded from it, as in lerobot's HEVC depth), it seeks
//! further back, then to the start.
//! The frame returned is the first whose presentation time is within half a frame period of
//! the target.
//!
//! AV1 is refused here: rav1d exports dav1d's C API from this binary, and FFmpeg's libdav1d
//! calls would be resolved to it. AV1 always goes to rav1d.

use std::path::{Path, PathBuf};
use std::sync::Once;

use ffmpeg_next as ffmpeg;

use super::{LumaSamples, VResult, VideoError, VideoInfo};
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
        to_rgb(&self.decoded_at(target_s)?)
    }

    /// The first plane's samples as stored (a depth video's codes), for the frame shown
    /// at `target_s`.
    pub fn luma_at(&mut self, target_s: f64) -> VResult<LumaSamples> {
        to_luma(&self.decoded_at(target_s)?)
    }

    /// The decoded frame shown at `target_s`, in the decoder's own pixel format.
    fn decoded_at(&mut self, target_s: f64) -> VResult<ffmpeg::frame::Video> {
        if !target_s.is_finite() || target_s < 0.0 {
            return Err(VideoError(format!("invalid timestamp {target_s}")));
        }
        let half_period = 0.5 / self.info.fps.unwrap_or(30.0).max(1e-3);
        let mut forward_ok = match self.last_pts_s {
            Some(last) => target_s > last && target_s - last <= MAX_FORWARD_S,
            None => false,
        };
        // How far before the target each seek lands. MP4 indexes keyframes by decode time,
        // so a seek can land on an open-GOP keyframe (HEVC CRA) shown *after* the target,
        // whose leading pictures the decoder must drop; then seek further back.
        let mut seek_back_s = [0.0, 1.0, 4.0, f64::INFINITY].into_iter();
        'seek: loop {
            let seeked = !forward_ok;
            if seeked {
                let back = seek_back_s.next().unwrap_or(f64::INFINITY);
                self.seek((target_s - back).max(0.0))?;
            }
            let mut first = seeked;
            let mut last_seen = None;
            while let Some((t, frame)) = self.next_frame()? {
                self.last_pts_s = Some(t);
                last_seen = Some(t);
                let overshot = t > target_s + half_period + 1e-6;
                if first && overshot && target_s > 0.0 && seek_back_s.len() > 0 {
                    forward_ok = false;
                    continue 'seek;
                }
                first = false;
                if t + half_period >= target_s {
                    if (t - target_s).abs() > half_period + 1e-6 {
                        return Err(VideoError(format!(
                            "no frame at {target_s:.4} s: the nearest is at {t:.4} s"
                        )));
                    }
                    return Ok(frame);
                }
            }
            return Err(VideoError(match last_seen.or(self.info.duration_s) {
                Some(end) => format!(
                    "no frame at {target_s:.4} s: the video ends at {end:.4} s (shorter than its table)"
                ),
                None => format!("no frame at {target_s:.4} s: the video has no frames"),
            }));
        }
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

/// The first plane of a decoded frame as 16-bit samples with their bit depth: the grey
/// plane of `gray*` formats, the luma plane of planar YUV. Depth videos (LeRobot's 12-bit
/// grey HEVC) keep their codes exactly; no colour conversion or scaling touches them.
fn to_luma(frame: &ffmpeg::frame::Video) -> VResult<LumaSamples> {
    use ffmpeg::format::Pixel as P;
    let fmt = frame.format();
    let bits: u8 = match fmt {
        P::GRAY8
        | P::YUV420P
        | P::YUV422P
        | P::YUV444P
        | P::YUVJ420P
        | P::YUVJ422P
        | P::YUVJ444P
        | P::NV12 => 8,
        P::GRAY10LE | P::YUV420P10LE | P::YUV422P10LE | P::YUV444P10LE => 10,
        P::GRAY12LE | P::YUV420P12LE | P::YUV422P12LE | P::YUV444P12LE => 12,
        P::GRAY16LE | P::YUV420P16LE | P::YUV422P16LE | P::YUV444P16LE => 16,
        other => {
            return Err(VideoError(format!(
                "pixel format {other:?} has no single sample plane this reader takes as depth"
            )));
        }
    };
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let stride = frame.stride(0);
    let data = frame.data(0);
    let bytes_per = if bits == 8 { 1 } else { 2 };
    let row = w * bytes_per;
    if stride < row || data.len() < stride.saturating_mul(h.saturating_sub(1)) + row {
        return Err(VideoError("decoded plane smaller than its frame".into()));
    }
    let mut samples = Vec::with_capacity(w * h);
    for y in 0..h {
        let line = &data[y * stride..y * stride + row];
        if bytes_per == 1 {
            samples.extend(line.iter().map(|&b| u16::from(b)));
        } else {
            samples.extend(
                line.chunks_exact(2)
                    .map(|b| u16::from_le_bytes([b[0], b[1]])),
            );
        }
    }
    Ok(LumaSamples {
        width_px: frame.width(),
        height_px: frame.height(),
        bit_depth: bits,
        samples,
    })
}
