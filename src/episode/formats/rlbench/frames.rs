//! RLBench frames: `<cam>_rgb/<i>.png` as stored, and `<cam>_depth/<i>.png` in RLBench's
//! 24-bit encoding.
//!
//! RLBench writes depth normalised between the camera's near and far planes (its
//! generator sets `depth_in_meters = False`) as a 24-bit integer `n = round(d * (2^24 - 1))`
//! split over R (high byte), G and B (`float_array_to_rgb_image`). Metres are
//! `near + n / (2^24 - 1) * (far - near)`, exactly as RLBench's `get_stored_demos` computes
//! them, with that step's near and far. A pixel at the far plane (`n = 2^24 - 1`) saw nothing
//! within the sensor's range and is invalid (0).

use std::path::{Path, PathBuf};

use image::ImageFormat;

use super::super::{FrameContext, decode_rgb};
use crate::episode::{
    DepthImage, EncodedFrame, EpisodeError, FrameKind, FrameSource, Result, RgbImage,
};

/// Largest frame file read, bytes.
const MAX_FRAME_BYTES: u64 = 256 << 20;
/// The encoding's full scale (RLBench's `DEPTH_SCALE`).
const DEPTH_FULL_SCALE: u32 = (1 << 24) - 1;

pub(super) struct RlStream {
    pub name: String,
    pub size: (u32, u32),
    /// `(near, far)` in metres per step, when the camera has depth.
    pub depth_planes_m: Option<Vec<(f64, f64)>>,
}

pub(super) struct RlFrames {
    pub dir: PathBuf,
    pub root: PathBuf,
    pub streams: Vec<RlStream>,
}

impl RlFrames {
    fn stream(&self, camera: usize) -> Result<&RlStream> {
        self.streams
            .get(camera)
            .ok_or_else(|| EpisodeError::NoSuchCamera {
                path: self.dir.clone(),
                camera: format!("#{camera}"),
            })
    }

    fn read(&self, camera: &str, kind: &str, step: usize) -> Result<(PathBuf, Vec<u8>)> {
        let path = self
            .dir
            .join(format!("{camera}_{kind}"))
            .join(format!("{step}.png"));
        read_bounded(&path, &self.root).map(|b| (path, b))
    }
}

/// Reads a whole frame file inside `root`, refusing links out of it and absurd sizes.
pub(super) fn read_bounded(path: &Path, root: &Path) -> Result<Vec<u8>> {
    super::super::read_confined(path, root, MAX_FRAME_BYTES, "a frame")
}

/// Decodes one RLBench depth PNG to metres with the step's planes.
pub(super) fn decode_rlbench_depth(
    bytes: &[u8],
    (near_m, far_m): (f64, f64),
    want: (u32, u32),
    ctx: FrameContext<'_>,
) -> Result<DepthImage> {
    let decoded = image::load_from_memory_with_format(bytes, ImageFormat::Png)
        .map_err(|e| ctx.decode_error(e))?;
    let rgb = match decoded {
        image::DynamicImage::ImageRgb8(rgb) => rgb,
        other => {
            return Err(ctx.decode_error(format!(
                "RLBench depth must be an 8-bit RGB PNG (24-bit encoded), found {:?}",
                other.color()
            )));
        }
    };
    ctx.check_size(FrameKind::Depth, rgb.dimensions(), Some(want))?;
    let span_m = far_m - near_m;
    let depth_m = rgb
        .as_raw()
        .chunks_exact(3)
        .map(|p| {
            let n = u32::from(p[0]) << 16 | u32::from(p[1]) << 8 | u32::from(p[2]);
            if n == DEPTH_FULL_SCALE {
                0.0
            } else {
                (near_m + f64::from(n) / f64::from(DEPTH_FULL_SCALE) * span_m) as f32
            }
        })
        .collect();
    Ok(DepthImage {
        width_px: want.0,
        height_px: want.1,
        depth_m,
    })
}

impl FrameSource for RlFrames {
    fn decode_rgb(&self, step: usize, camera: usize) -> Result<RgbImage> {
        let s = self.stream(camera)?;
        let (path, bytes) = self.read(&s.name, "rgb", step)?;
        let ctx = FrameContext {
            path: &path,
            record: None,
            step,
            camera: &s.name,
        };
        decode_rgb(&bytes, Some(ImageFormat::Png), Some(s.size), ctx)
    }

    fn decode_depth(&self, step: usize, camera: usize) -> Result<Option<DepthImage>> {
        let s = self.stream(camera)?;
        let Some(planes) = &s.depth_planes_m else {
            return Ok(None);
        };
        let Some(&plane) = planes.get(step) else {
            return Err(EpisodeError::StepOutOfRange {
                path: self.dir.clone(),
                step,
                len: planes.len(),
            });
        };
        let (path, bytes) = self.read(&s.name, "depth", step)?;
        let ctx = FrameContext {
            path: &path,
            record: None,
            step,
            camera: &s.name,
        };
        decode_rlbench_depth(&bytes, plane, s.size, ctx).map(Some)
    }

    fn encoded_rgb(&self, step: usize, camera: usize) -> Result<EncodedFrame> {
        let s = self.stream(camera)?;
        let (_, bytes) = self.read(&s.name, "rgb", step)?;
        Ok(EncodedFrame {
            bytes: bytes.into(),
            encoding: "png",
        })
    }
}
