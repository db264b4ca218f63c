//! Frames by timestamp from the Rust decoders: the sample table says which sample is shown
//! at each time, so a timestamp is matched against the container's presentation times
//! before anything is decoded, and decoding only has to run from the keyframe before that
//! sample until its picture comes out.
//!
//! The cursor remembers how far it has fed the decoder: the next frame of a forward step is
//! one more sample (or none, when it is already waiting in the decoder's reorder buffer). It
//! restarts at a keyframe only when the target lies behind what was already handed out, or
//! when a keyframe lies between the decoder's position and the target (starting there is
//! cheaper than decoding up to it).

use std::path::Path;

use super::mp4::{Codec, Mp4Video};
use super::{FrameDecoder, VideoInfo, av1::Av1Decoder, h264::H264Decoder};
use crate::episode::RgbImage;

pub struct NativeCursor {
    mp4: Mp4Video,
    decoder: Box<dyn FrameDecoder>,
    /// (presentation time, decode index), sorted by time.
    by_pts: Vec<(i64, usize)>,
    /// Next sample to feed, in decode order.
    next_feed: usize,
    /// The decoder has been fed from a keyframe on and can go on.
    active: bool,
    /// Everything fed has been flushed out (the end of the stream was reached).
    flushed: bool,
    /// Presentation time of the last picture handed out since the restart.
    last_out: Option<i64>,
    /// Half a frame period plus a little, in track time units: how far a timestamp may be
    /// from a frame's and still name it.
    match_tolerance: i64,
    info: VideoInfo,
}

impl NativeCursor {
    /// Opens the container; `Ok(Err(codec))` when it holds a codec decoded only by FFmpeg.
    pub fn open(path: &Path) -> Result<Result<Self, String>, String> {
        let mp4 = Mp4Video::open(path)?;
        let (decoder, name): (Box<dyn FrameDecoder>, _) = match &mp4.codec {
            Codec::H264 {
                sps_pps,
                nal_length_bytes,
            } => (
                Box::new(H264Decoder::new(sps_pps.clone(), *nal_length_bytes)?),
                "openh264",
            ),
            Codec::Av1 => (Box::new(Av1Decoder::new()?), "rav1d"),
            Codec::Other(c) => return Ok(Err(c.clone())),
        };
        let mut by_pts: Vec<(i64, usize)> = mp4
            .samples
            .iter()
            .enumerate()
            .map(|(i, s)| (s.pts, i))
            .collect();
        by_pts.sort_unstable();
        let span = match (by_pts.first(), by_pts.last()) {
            (Some(a), Some(b)) if b.0 > a.0 => Some(mp4.seconds(b.0 - a.0)),
            _ => None,
        };
        let fps = span.map(|s| (by_pts.len() - 1) as f64 / s);
        let duration_s = by_pts
            .last()
            .map(|l| mp4.seconds(l.0.saturating_add(mp4.last_duration as i64)));
        let period = fps.map_or(mp4.timescale as f64 / 30.0, |f| mp4.timescale as f64 / f);
        let match_tolerance = (0.5 * period + 1e-4 * mp4.timescale as f64).round() as i64;
        let info = VideoInfo {
            codec: mp4.codec.name().to_owned(),
            width_px: mp4.width_px,
            height_px: mp4.height_px,
            fps,
            duration_s,
            decoder: name,
        };
        Ok(Ok(Self {
            mp4,
            decoder,
            by_pts,
            next_feed: 0,
            active: false,
            flushed: false,
            last_out: None,
            match_tolerance,
            info,
        }))
    }

    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// Frames whose presentation time lies in `[start_s, end_s)`.
    pub fn frames_between(&self, start_s: f64, end_s: f64) -> usize {
        let ts = self.mp4.timescale as f64;
        let (a, b) = ((start_s * ts).round() as i64, (end_s * ts).round() as i64);
        let lo = self.by_pts.partition_point(|&(p, _)| p < a);
        let hi = self.by_pts.partition_point(|&(p, _)| p < b);
        hi.saturating_sub(lo)
    }

    /// The presentation time of the frame shown at `target_s`, nanoseconds from the start of
    /// the file (what a player such as Rerun's seeks to).
    pub fn pts_nanos_at(&self, target_s: f64) -> Result<i64, String> {
        let (pts, _) = self.sample_at(target_s)?;
        let ts = i128::from(self.mp4.timescale.max(1));
        Ok(((i128::from(pts) * 1_000_000_000 + ts / 2) / ts) as i64)
    }

    /// The sample shown at `target_s`: its presentation time and decode index.
    fn sample_at(&self, target_s: f64) -> Result<(i64, usize), String> {
        let target = (target_s * self.mp4.timescale as f64).round() as i64;
        let i = self.by_pts.partition_point(|&(p, _)| p < target);
        let nearest = [i.checked_sub(1), Some(i)]
            .into_iter()
            .flatten()
            .filter_map(|k| self.by_pts.get(k).copied())
            .min_by_key(|&(p, _)| p.abs_diff(target));
        let Some((pts, d)) = nearest else {
            return Err(format!(
                "no frame at {target_s:.4} s: the video has no frames"
            ));
        };
        if pts.abs_diff(target) > self.match_tolerance.unsigned_abs() {
            let last = self.by_pts.last().map_or(0, |l| l.0);
            return Err(if target > last {
                format!(
                    "no frame at {target_s:.4} s: the video ends at {:.4} s (shorter than its table)",
                    self.info.duration_s.unwrap_or(self.mp4.seconds(last))
                )
            } else {
                format!(
                    "no frame at {target_s:.4} s: the nearest is at {:.4} s",
                    self.mp4.seconds(pts)
                )
            });
        }
        Ok((pts, d))
    }

    /// The keyframe at or before decode index `d` (the first sample when none is marked).
    fn keyframe_before(&self, d: usize) -> usize {
        (0..=d)
            .rev()
            .find(|&k| self.mp4.samples[k].is_sync)
            .unwrap_or(0)
    }

    fn restart(&mut self, keyframe: usize) -> Result<(), String> {
        self.decoder.reset()?;
        self.next_feed = keyframe;
        self.active = true;
        self.flushed = false;
        self.last_out = None;
        Ok(())
    }

    pub fn frame_at(&mut self, target_s: f64) -> Result<RgbImage, String> {
        let (want, d) = self.sample_at(target_s)?;
        let k = self.keyframe_before(d);
        let ahead = self.last_out.is_none_or(|l| l < want);
        let reachable = d < self.next_feed || k <= self.next_feed;
        if !(self.active && !self.flushed && ahead && reachable) {
            self.restart(k)?;
        }
        let result = self.decode_until(want);
        if result.is_err() {
            // The decoder's state is unknown after a failure: start afresh next time.
            self.active = false;
        }
        result?.ok_or_else(|| {
            format!(
                "no frame at {target_s:.4} s: the decoder gave no picture for it (damaged or truncated video)"
            )
        })
    }

    /// Feeds samples until the picture shown at `want` comes out.
    fn decode_until(&mut self, want: i64) -> Result<Option<RgbImage>, String> {
        let mut catch = Catch {
            want,
            last_out: self.last_out,
            found: None,
        };
        while catch.found.is_none() {
            if self.next_feed < self.mp4.samples.len() {
                let i = self.next_feed;
                let data = self.mp4.read_sample(i)?;
                let pts = self.mp4.samples[i].pts;
                self.next_feed += 1;
                self.decoder
                    .feed(&data, pts, &mut |t, p| catch.take(t, p))
                    .map_err(|e| format!("{e} (sample {i}, at {:.4} s)", self.mp4.seconds(pts)))?;
            } else if !self.flushed {
                self.flushed = true;
                self.decoder.flush(&mut |t, p| catch.take(t, p))?;
            } else {
                break;
            }
            if catch.found.is_none() && catch.last_out.is_some_and(|l| l > want) {
                return Err(format!(
                    "the decoder skipped the frame at {:.4} s",
                    self.mp4.seconds(want)
                ));
            }
        }
        self.last_out = catch.last_out;
        catch.found.transpose()
    }
}

/// Watches the pictures coming out of the decoder for the one wanted, converting only it.
struct Catch {
    want: i64,
    last_out: Option<i64>,
    found: Option<Result<RgbImage, String>>,
}

impl Catch {
    fn take(&mut self, t: i64, planes: &super::yuv::YuvPlanes<'_>) {
        self.last_out = Some(t);
        if t == self.want && self.found.is_none() {
            self.found = Some(planes.to_rgb());
        }
    }
}
