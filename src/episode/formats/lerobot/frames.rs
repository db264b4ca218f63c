//! The frames of an open LeRobot episode ([`LeRobotFrames`]): each camera's pixels (a video
//! file read forward by timestamp, images stored in the parquet, or a depth camera drawn in
//! grey) and its depth (the sidecar's PNG frames or a lerobot depth video turned into
//! metres). Built by [`super::episode`], read through [`FrameSource`].

use std::path::PathBuf;
use std::sync::Mutex;

use super::depth;
use super::info::Field;
use crate::episode::formats::video::{self, VideoCursor, VideoError};
use crate::episode::formats::{FrameContext, decode_depth_u16, decode_rgb};
use crate::episode::{DepthImage, EncodedFrame, EpisodeError, FrameSource, Result, RgbImage};

/// One video file of an episode, opened on first use and read forward.
pub(super) struct VideoFile {
    pub(super) path: PathBuf,
    /// Start of this episode inside the file (v3), seconds.
    pub(super) from_s: f64,
    pub(super) cursor: Mutex<Option<Box<VideoCursor>>>,
}

impl VideoFile {
    pub(super) fn new((path, from_s): (PathBuf, f64)) -> Self {
        Self {
            path,
            from_s,
            cursor: Mutex::new(None),
        }
    }

    /// Runs `f` on the open cursor, opening it first.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut VideoCursor, f64) -> std::result::Result<T, VideoError>,
    ) -> std::result::Result<T, String> {
        let mut guard = self.cursor.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(Box::new(VideoCursor::open(&self.path).map_err(|e| e.0)?));
        }
        let c = guard.as_mut().expect("opened above");
        f(c, self.from_s).map_err(|e| e.0)
    }
}

pub(super) enum Pixels {
    Video(VideoFile),
    /// Encoded images stored in the parquet (`dtype: image`).
    Inline(Vec<bytes::Bytes>),
    /// A depth camera with no picture of its own: its codes drawn in grey, near is bright.
    DepthCodes,
}

pub(super) enum DepthSource {
    None,
    /// The sidecar's PNG frames: (path template, depth key, scale to metres, invalid value).
    Png(String, String, f32, u16),
    /// A LeRobot depth video (`is_depth_map`) and its code-to-metres table.
    Video {
        file: VideoFile,
        table_m: Vec<f32>,
    },
}

pub(super) struct Stream {
    pub(super) name: String,
    pub(super) size: Option<(u32, u32)>,
    pub(super) pixels: Pixels,
    pub(super) depth: DepthSource,
}

pub(super) struct LeRobotFrames {
    pub(super) root: PathBuf,
    pub(super) info_path: PathBuf,
    pub(super) data_path: PathBuf,
    pub(super) episode: usize,
    pub(super) episode_chunk: usize,
    pub(super) timestamps_s: Vec<f64>,
    pub(super) frame_index: Vec<usize>,
    pub(super) streams: Vec<Stream>,
}

impl LeRobotFrames {
    fn stream(&self, camera: usize) -> Result<&Stream> {
        self.streams
            .get(camera)
            .ok_or_else(|| EpisodeError::NoSuchCamera {
                path: self.data_path.clone(),
                camera: format!("#{camera}"),
            })
    }

    fn step_check(&self, step: usize) -> Result<()> {
        if step >= self.timestamps_s.len() {
            return Err(EpisodeError::StepOutOfRange {
                path: self.data_path.clone(),
                step,
                len: self.timestamps_s.len(),
            });
        }
        Ok(())
    }

    fn check_size(
        &self,
        s: &Stream,
        step: usize,
        img: RgbImage,
        path: &std::path::Path,
    ) -> Result<RgbImage> {
        let size = (img.width_px, img.height_px);
        self.check_frame_size(s, step, crate::episode::FrameKind::Rgb, size, path)?;
        Ok(img)
    }

    /// A decoded frame's size against the stream's declared one.
    fn check_frame_size(
        &self,
        s: &Stream,
        step: usize,
        kind: crate::episode::FrameKind,
        size: (u32, u32),
        path: &std::path::Path,
    ) -> Result<()> {
        let ctx = FrameContext {
            path,
            record: Some(self.episode),
            step,
            camera: &s.name,
        };
        ctx.check_size(kind, size, s.size)
    }
}

impl LeRobotFrames {
    fn video_err(&self, v: &VideoFile, step: usize, s: &Stream, reason: String) -> EpisodeError {
        EpisodeError::Video {
            path: v.path.clone(),
            episode: self.episode,
            step,
            camera: s.name.clone(),
            reason,
        }
    }

    /// The stored depth codes of `step` from a depth video.
    fn depth_codes(&self, file: &VideoFile, step: usize, s: &Stream) -> Result<video::LumaSamples> {
        let ts = self.timestamps_s[step];
        file.with(|c, from_s| c.luma_at(from_s + ts))
            .map_err(|reason| self.video_err(file, step, s, reason))
    }
}

impl FrameSource for LeRobotFrames {
    fn decode_rgb(&self, step: usize, camera: usize) -> Result<RgbImage> {
        self.step_check(step)?;
        let s = self.stream(camera)?;
        match &s.pixels {
            Pixels::Video(v) => {
                let ts = self.timestamps_s[step];
                let img = v
                    .with(|c, from_s| c.frame_at(from_s + ts))
                    .map_err(|reason| self.video_err(v, step, s, reason))?;
                self.check_size(s, step, img, &v.path)
            }
            Pixels::DepthCodes => {
                let DepthSource::Video { file, .. } = &s.depth else {
                    return Err(EpisodeError::NoSuchCamera {
                        path: self.data_path.clone(),
                        camera: s.name.clone(),
                    });
                };
                let codes = self.depth_codes(file, step, s)?;
                let img = RgbImage {
                    width_px: codes.width_px,
                    height_px: codes.height_px,
                    pixels: codes
                        .samples
                        .iter()
                        .flat_map(|&c| {
                            let g = 255 - (u32::from(c.min(depth::DEPTH_QMAX)) * 255 / 4095) as u8;
                            [g, g, g]
                        })
                        .collect(),
                };
                self.check_size(s, step, img, &file.path)
            }
            Pixels::Inline(frames) => {
                let bytes = frames
                    .get(step)
                    .ok_or_else(|| EpisodeError::StepOutOfRange {
                        path: self.data_path.clone(),
                        step,
                        len: frames.len(),
                    })?;
                let ctx = FrameContext {
                    path: &self.data_path,
                    record: Some(self.episode),
                    step,
                    camera: &s.name,
                };
                decode_rgb(bytes, None, s.size, ctx)
            }
        }
    }

    fn decode_depth(&self, step: usize, camera: usize) -> Result<Option<DepthImage>> {
        self.step_check(step)?;
        let s = self.stream(camera)?;
        let (template, key, scale, invalid) = match &s.depth {
            DepthSource::None => return Ok(None),
            DepthSource::Png(t, k, scale, invalid) => (t, k, scale, invalid),
            DepthSource::Video { file, table_m } => {
                let codes = self.depth_codes(file, step, s)?;
                let d = depth::to_metres(&codes, table_m)
                    .map_err(|reason| self.video_err(file, step, s, reason))?;
                let size = (d.width_px, d.height_px);
                self.check_frame_size(s, step, crate::episode::FrameKind::Depth, size, &file.path)?;
                return Ok(Some(d));
            }
        };
        let rel = super::info::render(
            template,
            &[
                ("episode_chunk", Field::Int(self.episode_chunk)),
                ("episode_index", Field::Int(self.episode)),
                ("depth_key", Field::Str(key)),
                ("frame_index", Field::Int(self.frame_index[step])),
            ],
        )
        .map_err(|w| {
            EpisodeError::metadata(&self.info_path, format!("depth path template: {w}"))
        })?;
        let path = super::safe_join(&self.root, &rel, &self.info_path)?;
        let bytes = std::fs::read(&path).map_err(|e| EpisodeError::io(&path, e))?;
        let ctx = FrameContext {
            path: &path,
            record: Some(self.episode),
            step,
            camera: &s.name,
        };
        decode_depth_u16(&bytes, *scale, *invalid, s.size, ctx).map(Some)
    }

    fn video_facts(&self, camera: usize) -> Option<Result<crate::episode::VideoFacts>> {
        let s = self.streams.get(camera)?;
        let Pixels::Video(v) = &s.pixels else {
            return None;
        };
        let last = self.timestamps_s.last().copied().unwrap_or(0.0);
        Some(
            v.with(|c, from_s| {
                let fps = c.info().fps;
                // The episode's span, half a frame period either side.
                let half = 0.5 / fps.unwrap_or(30.0).max(1e-3);
                Ok(crate::episode::VideoFacts {
                    path: v.path.clone(),
                    fps,
                    frames: c.frames_between(from_s - half, from_s + last + half),
                })
            })
            .map_err(|reason| self.video_err(v, 0, s, reason)),
        )
    }

    fn video_frame(&self, step: usize, camera: usize) -> Option<Result<(PathBuf, i64)>> {
        let s = self.streams.get(camera)?;
        let Pixels::Video(v) = &s.pixels else {
            return None;
        };
        let ts = *self.timestamps_s.get(step)?;
        match v.with(|c, from_s| Ok(c.pts_nanos_at(from_s + ts))) {
            Ok(None) => None,
            Ok(Some(Ok(ns))) => Some(Ok((v.path.clone(), ns))),
            Ok(Some(Err(e))) => Some(Err(self.video_err(v, step, s, e.0))),
            Err(reason) => Some(Err(self.video_err(v, step, s, reason))),
        }
    }

    fn encoded_rgb(&self, step: usize, camera: usize) -> Result<EncodedFrame> {
        let s = self.stream(camera)?;
        if let Pixels::Inline(frames) = &s.pixels
            && let Some(b) = frames.get(step)
        {
            let encoding = if b.starts_with(&[0xFF, 0xD8]) {
                "jpeg"
            } else {
                "png"
            };
            return Ok(EncodedFrame {
                bytes: b.clone(),
                encoding,
            });
        }
        // Video frames have no per-frame encoding: hand out a lossless PNG of the decoded frame.
        let png = self
            .decode_rgb(step, camera)?
            .to_png()
            .map_err(|e| EpisodeError::metadata(&self.data_path, e))?;
        Ok(EncodedFrame {
            bytes: png.into(),
            encoding: "png",
        })
    }
}
