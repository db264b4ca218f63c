//! The frame source of one RLDS episode: encoded images (sharing the record buffer) and
//! depth, decoded on demand.

use std::path::PathBuf;

use bytes::Bytes;
use image::ImageFormat;

use crate::episode::formats::{FrameContext, decode_depth_u16, decode_rgb};
use crate::episode::{DepthImage, EncodedFrame, EpisodeError, FrameSource, Result, RgbImage};

pub(super) struct Stream {
    pub(super) name: String,
    pub(super) frames: Vec<Bytes>,
    pub(super) format: Option<ImageFormat>,
    pub(super) depth: Option<DepthData>,
    pub(super) size: Option<(u32, u32)>,
}

/// One camera's depth for the whole episode.
pub(super) enum DepthData {
    /// Encoded 16-bit PNGs, one per step.
    Png(Vec<Bytes>),
    /// Metric depth, `height * width` values per step, concatenated.
    Float {
        values_m: Vec<f32>,
        width: u32,
        height: u32,
    },
}

/// Frames of one RLDS episode: encoded bytes sharing the record buffer.
pub(super) struct RldsFrames {
    pub(super) path: PathBuf,
    pub(super) record: usize,
    pub(super) streams: Vec<Stream>,
}

impl RldsFrames {
    fn stream(&self, step: usize, camera: usize) -> Result<(&Stream, &Bytes)> {
        let s = self
            .streams
            .get(camera)
            .ok_or_else(|| EpisodeError::NoSuchCamera {
                path: self.path.clone(),
                camera: format!("#{camera}"),
            })?;
        let b = s
            .frames
            .get(step)
            .ok_or_else(|| EpisodeError::StepOutOfRange {
                path: self.path.clone(),
                step,
                len: s.frames.len(),
            })?;
        Ok((s, b))
    }
}

impl FrameSource for RldsFrames {
    fn decode_rgb(&self, step: usize, camera: usize) -> Result<RgbImage> {
        let (s, bytes) = self.stream(step, camera)?;
        let ctx = FrameContext {
            path: &self.path,
            record: Some(self.record),
            step,
            camera: &s.name,
        };
        decode_rgb(bytes, s.format, s.size, ctx)
    }

    fn decode_depth(&self, step: usize, camera: usize) -> Result<Option<DepthImage>> {
        let (s, _) = self.stream(step, camera)?;
        let ctx = FrameContext {
            path: &self.path,
            record: Some(self.record),
            step,
            camera: &s.name,
        };
        match &s.depth {
            None => Ok(None),
            // RLDS depth PNGs declare no unit; millimetres (0 = no return) is the common
            // convention.
            Some(DepthData::Png(frames)) => match frames.get(step) {
                Some(bytes) => decode_depth_u16(bytes, 0.001, 0, s.size, ctx).map(Some),
                None => Ok(None),
            },
            Some(DepthData::Float {
                values_m,
                width,
                height,
            }) => {
                ctx.check_size(crate::episode::FrameKind::Depth, (*width, *height), s.size)?;
                let per_step = *width as usize * *height as usize;
                let Some(v) = values_m.get(step * per_step..(step + 1) * per_step) else {
                    return Ok(None);
                };
                let depth_m = v
                    .iter()
                    .map(|&d| if d.is_finite() && d > 0.0 { d } else { 0.0 })
                    .collect();
                Ok(Some(DepthImage {
                    width_px: *width,
                    height_px: *height,
                    depth_m,
                }))
            }
        }
    }

    fn encoded_rgb(&self, step: usize, camera: usize) -> Result<EncodedFrame> {
        let (s, bytes) = self.stream(step, camera)?;
        Ok(EncodedFrame {
            bytes: bytes.clone(),
            encoding: match s.format {
                Some(ImageFormat::Png) => "png",
                _ => "jpeg",
            },
        })
    }
}
