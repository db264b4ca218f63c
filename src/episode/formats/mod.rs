//! One file per format. Each turns files into [`crate::episode::Episode`]s and implements
//! [`crate::episode::FrameSource`]; shared pixel decoding lives here.

pub mod hdf5;
pub mod lerobot;
pub mod native;
pub mod rlbench;
pub mod rlds;
pub mod video;

use std::path::{Component, Path, PathBuf};

use image::ImageFormat;

use super::{DepthImage, EpisodeError, FrameKind, RecordLabel, Result, RgbImage};

/// Where a frame is, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameContext<'a> {
    pub path: &'a Path,
    pub record: Option<usize>,
    pub step: usize,
    pub camera: &'a str,
}

impl FrameContext<'_> {
    fn decode_error(&self, reason: impl std::fmt::Display) -> EpisodeError {
        EpisodeError::ImageDecode {
            path: self.path.to_owned(),
            record: RecordLabel(self.record),
            step: self.step,
            camera: self.camera.to_owned(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn check_size(
        &self,
        kind: FrameKind,
        got: (u32, u32),
        want: Option<(u32, u32)>,
    ) -> Result<()> {
        match want {
            Some(want) if want != got => Err(EpisodeError::ImageSize {
                path: self.path.to_owned(),
                record: RecordLabel(self.record),
                step: self.step,
                camera: self.camera.to_owned(),
                kind,
                got_w: got.0,
                got_h: got.1,
                want_w: want.0,
                want_h: want.1,
            }),
            _ => Ok(()),
        }
    }
}

/// Decodes an encoded colour image to 8-bit RGB and checks its size against `want`
/// (width, height). Grey or RGBA inputs are converted.
pub(crate) fn decode_rgb(
    bytes: &[u8],
    format: Option<ImageFormat>,
    want: Option<(u32, u32)>,
    ctx: FrameContext<'_>,
) -> Result<RgbImage> {
    let decoded = match format {
        Some(f) => image::load_from_memory_with_format(bytes, f),
        None => image::load_from_memory(bytes),
    }
    .map_err(|e| ctx.decode_error(e))?;
    let rgb = decoded.into_rgb8();
    ctx.check_size(FrameKind::Rgb, rgb.dimensions(), want)?;
    Ok(RgbImage {
        width_px: rgb.width(),
        height_px: rgb.height(),
        pixels: rgb.into_raw(),
    })
}

/// Decodes a 16-bit single-channel PNG of integer depth to metres (`value * scale_to_m`),
/// keeping `invalid_value` as 0 (invalid).
pub(crate) fn decode_depth_u16(
    bytes: &[u8],
    scale_to_m: f32,
    invalid_value: u16,
    want: Option<(u32, u32)>,
    ctx: FrameContext<'_>,
) -> Result<DepthImage> {
    let decoded = image::load_from_memory_with_format(bytes, ImageFormat::Png)
        .map_err(|e| ctx.decode_error(e))?;
    let luma = match decoded {
        image::DynamicImage::ImageLuma16(l) => l,
        other => {
            return Err(ctx.decode_error(format!(
                "depth must be a 16-bit single-channel PNG, found {:?}",
                other.color()
            )));
        }
    };
    ctx.check_size(FrameKind::Depth, luma.dimensions(), want)?;
    let (w, h) = luma.dimensions();
    let depth_m = luma
        .into_raw()
        .into_iter()
        .map(|v| {
            if v == invalid_value {
                0.0
            } else {
                f32::from(v) * scale_to_m
            }
        })
        .collect();
    Ok(DepthImage {
        width_px: w,
        height_px: h,
        depth_m,
    })
}

/// The frame decoders' entry point for the fuzzers (`fuzz/fuzz_targets/image.rs`): `bytes`
/// as an RGB frame (any format the readers accept) or as a 16-bit millimetre depth PNG,
/// exactly as the readers call them. Not for other use.
#[doc(hidden)]
pub fn fuzz_decode_frame(bytes: &[u8], depth: bool) -> std::result::Result<(u32, u32), String> {
    let ctx = FrameContext {
        path: Path::new("fuzz-input"),
        record: None,
        step: 0,
        camera: "fuzz",
    };
    if depth {
        decode_depth_u16(bytes, 0.001, 0, None, ctx).map(|d| (d.width_px, d.height_px))
    } else {
        decode_rgb(bytes, None, None, ctx).map(|d| (d.width_px, d.height_px))
    }
    .map_err(|e| e.to_string())
}

/// Largest channel value a frame may have and still count as black (JPEG noise).
pub(crate) const PLACEHOLDER_MAX_VALUE: u8 = 8;

/// Largest metadata file (JSON, JSON lines) read whole, bytes: far above any real one, and
/// a bound on what a hostile file can make the reader allocate.
pub(crate) const MAX_METADATA_BYTES: u64 = 256 << 20;

/// Reads and parses a JSON file of the dataset rooted at `root`; errors name the file and
/// the field.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(path: &Path, root: &Path) -> Result<T> {
    let text = read_text_confined(path, root)?;
    let text = crate::util::json::non_finite_tokens_to_null(&text);
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).map_err(|e| EpisodeError::Json {
        path: path.to_owned(),
        field: e.path().to_string(),
        reason: e.into_inner().to_string(),
    })
}

/// Refuses `path` when its real location (links resolved) is outside `root`'s real
/// location: nothing is ever read from outside a dataset folder, whatever links inside it
/// point to. A path that does not exist passes (opening it then fails on its own).
pub(crate) fn confine(path: &Path, root: &Path) -> Result<()> {
    let Ok(target) = std::fs::canonicalize(path) else {
        return Ok(());
    };
    let real_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned());
    if target.starts_with(&real_root) {
        Ok(())
    } else {
        Err(EpisodeError::OutsideDataset {
            path: path.to_owned(),
            target,
            root: real_root,
        })
    }
}

/// Reads a whole metadata (text) file of the dataset rooted at `root` (see [`confine`]),
/// refusing one larger than [`MAX_METADATA_BYTES`] before reading it.
pub(crate) fn read_text_confined(path: &Path, root: &Path) -> Result<String> {
    let bytes = read_confined(path, root, MAX_METADATA_BYTES, "a metadata file")?;
    String::from_utf8(bytes).map_err(|e| {
        EpisodeError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()),
        )
    })
}

/// Reads a whole file of the dataset rooted at `root` (see [`confine`]), refusing one
/// larger than `max_bytes` (`what` names the kind of file in the error) before reading it.
pub(crate) fn read_confined(
    path: &Path,
    root: &Path,
    max_bytes: u64,
    what: &str,
) -> Result<Vec<u8>> {
    confine(path, root)?;
    let len = std::fs::metadata(path)
        .map_err(|e| EpisodeError::io(path, e))?
        .len();
    if len > max_bytes {
        return Err(EpisodeError::metadata(
            path,
            format!(
                "{len} bytes, more than the {} MiB {what} may have; not read",
                max_bytes >> 20
            ),
        ));
    }
    std::fs::read(path).map_err(|e| EpisodeError::io(path, e))
}

/// Joins a relative path from the dataset onto `base`, refusing absolute paths, `..` and
/// links whose target lies outside `base`.
pub(crate) fn safe_join(base: &Path, relative: &str, meta_path: &Path) -> Result<PathBuf> {
    let joined = relative_inside(base, relative, meta_path)?;
    confine(&joined, base)?;
    Ok(joined)
}

/// Joins a relative path onto `base`, refusing absolute paths and `..` (no file access: the
/// links are checked by [`safe_join`] when the file is read).
pub(crate) fn relative_inside(base: &Path, relative: &str, meta_path: &Path) -> Result<PathBuf> {
    let rel = Path::new(relative);
    if relative.is_empty()
        || !rel
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(EpisodeError::PathEscapes {
            path: meta_path.to_owned(),
            template: relative.to_owned(),
        });
    }
    Ok(base.join(rel))
}

/// Rows of stored action values as the 7-D actions of the episode model: the first six
/// dimensions and the gripper (the last value when there are more than seven; missing
/// dimensions are 0). Every row must have the first row's width; a non-finite value is an
/// error naming the step and the stored dimension. Also returns a note when the width is not 7.
pub(crate) fn seven_dim_actions(
    rows: &[Vec<f64>],
    path: &Path,
    record: Option<usize>,
) -> Result<(Vec<[f32; 7]>, Option<String>)> {
    let width = rows.first().map_or(7, Vec::len);
    let mut values = Vec::with_capacity(rows.len());
    for (step, row) in rows.iter().enumerate() {
        if row.len() != width {
            return Err(EpisodeError::metadata(
                path,
                format!(
                    "{}step {step}: the action has {} values, step 0 has {width}",
                    record.map_or(String::new(), |r| format!("episode {r}, ")),
                    row.len()
                ),
            ));
        }
        let mut a = [0f32; 7];
        for (d, slot) in a.iter_mut().enumerate() {
            let src = if width > 7 && d == 6 { width - 1 } else { d };
            if let Some(v) = row.get(src) {
                if !v.is_finite() {
                    return Err(EpisodeError::NonFiniteAction {
                        path: path.to_owned(),
                        record: RecordLabel(record),
                        step,
                        dim: src,
                        value: *v as f32,
                    });
                }
                *slot = *v as f32;
            }
        }
        values.push(a);
    }
    let note = (width != 7).then(|| {
        format!(
            "the action has {width} dimensions; shown as 7 ({})",
            if width < 7 {
                "missing ones are 0"
            } else {
                "the first 6 and the last"
            }
        )
    });
    Ok((values, note))
}
