//! Frames of an HDF5 episode, read on demand: each camera's image (and depth) dataset is
//! read a chunk-aligned block of frames at a time and the latest block is kept, so stepping
//! through an episode inflates each gzip chunk once; rows are flipped when the orientation
//! says so.

use std::path::PathBuf;
use std::sync::Arc;

use super::h5::{self, Dataset};
use crate::episode::{
    DepthImage, EncodedFrame, EpisodeError, FrameSource, RecordLabel, Result, RgbImage,
};

pub(super) struct Stream {
    pub(super) name: String,
    pub(super) key: String,
    pub(super) image: Blocks<u8>,
    pub(super) depth: Option<Blocks<f32>>,
    /// Depth stored as integers is millimetres, as floats metres.
    pub(super) depth_in_mm: bool,
    pub(super) size: (u32, u32),
}

/// Most bytes one block of frames may hold in memory.
pub const MAX_BLOCK_BYTES: usize = 32 << 20;

/// Frames of one dataset read a chunk-aligned block at a time. Image stacks are stored in
/// chunks spanning several frames (16 in robomimic's files); reading frame by frame would
/// inflate every chunk again for each frame, so the frames sharing a chunk are read together
/// (one row range of the dataset) and the latest block is kept (one per dataset, at most
/// [`MAX_BLOCK_BYTES`]).
pub(super) struct Blocks<T> {
    ds: Dataset,
    /// The file's length: no block may declare more than it could inflate to.
    file_len_bytes: u64,
    /// Bytes per value as read (1 for uint8 frames; 8 for depth, read through f64).
    read_bytes: usize,
    /// Whether the dataset's declared chunk fits the file ([`h5::check_chunk_size`]),
    /// checked once at open.
    chunk_check: std::result::Result<(), String>,
    /// Values per frame.
    frame_len: usize,
    /// Frames per block.
    block: usize,
    frames: usize,
    latest: std::sync::Mutex<Option<(usize, Arc<Vec<T>>)>>,
}

impl<T: Copy> Blocks<T> {
    pub(super) fn new(ds: Dataset, file_len_bytes: u64, read_bytes: usize) -> Self {
        let shape = h5::shape(&ds).unwrap_or_default();
        let frames = shape.first().copied().unwrap_or(0);
        // The caller checked the frame size; saturate rather than trust it twice.
        let frame_len = shape
            .iter()
            .skip(1)
            .fold(1usize, |n, &d| n.saturating_mul(d));
        let fit = (MAX_BLOCK_BYTES / frame_len.saturating_mul(size_of::<T>()).max(1)).max(1);
        Self {
            block: h5::chunk_rows(&ds).min(fit),
            chunk_check: h5::check_chunk_size(&ds, file_len_bytes),
            ds,
            file_len_bytes,
            read_bytes,
            frame_len,
            frames,
            latest: std::sync::Mutex::new(None),
        }
    }

    /// The values of frame `step`, reading its block with `read(start, end)` when needed.
    fn frame(
        &self,
        step: usize,
        read: impl FnOnce(&Dataset, usize, usize) -> std::result::Result<Vec<T>, String>,
    ) -> std::result::Result<Vec<T>, String> {
        if step >= self.frames {
            return Err(format!(
                "frame {step} is past the end ({} frames)",
                self.frames
            ));
        }
        let start = step / self.block * self.block;
        let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        let data = match latest.as_ref() {
            Some((s, d)) if *s == start => d.clone(),
            _ => {
                let end = (start + self.block).min(self.frames);
                // Refused when the file cannot hold that much (unwritten chunks of a huge
                // declared stack would otherwise be read as gigabytes of fill values).
                h5::check_read_size(
                    self.file_len_bytes,
                    &[end - start, self.frame_len],
                    self.read_bytes,
                )?;
                self.chunk_check.clone()?;
                let d = read(&self.ds, start, end)?;
                if d.len() != (end - start) * self.frame_len {
                    return Err(format!(
                        "read {} values for {} frames",
                        d.len(),
                        end - start
                    ));
                }
                let d = Arc::new(d);
                *latest = Some((start, d.clone()));
                d
            }
        };
        let off = (step - start) * self.frame_len;
        Ok(data[off..off + self.frame_len].to_vec())
    }
}

pub(super) struct Hdf5Frames {
    pub(super) path: PathBuf,
    pub(super) episode: usize,
    pub(super) group: String,
    pub(super) flip: bool,
    pub(super) streams: Vec<Stream>,
}

fn flip_rows<T: Copy>(data: &mut [T], row_len: usize) {
    let rows = data.len() / row_len.max(1);
    for r in 0..rows / 2 {
        let (top, bottom) = data.split_at_mut((rows - 1 - r) * row_len);
        top[r * row_len..(r + 1) * row_len].swap_with_slice(&mut bottom[..row_len]);
    }
}

impl Hdf5Frames {
    fn stream(&self, camera: usize) -> Result<&Stream> {
        self.streams
            .get(camera)
            .ok_or_else(|| EpisodeError::NoSuchCamera {
                path: self.path.clone(),
                camera: format!("#{camera}"),
            })
    }

    fn decode_err(&self, s: &Stream, step: usize, what: impl std::fmt::Display) -> EpisodeError {
        EpisodeError::ImageDecode {
            path: self.path.clone(),
            record: RecordLabel(Some(self.episode)),
            step,
            camera: s.name.clone(),
            reason: format!("{}/obs: {what}", self.group),
        }
    }
}

impl FrameSource for Hdf5Frames {
    fn decode_rgb(&self, step: usize, camera: usize) -> Result<RgbImage> {
        let s = self.stream(camera)?;
        let mut pixels = s
            .image
            .frame(step, h5::read_rows_u8)
            .map_err(|e| self.decode_err(s, step, format!("{}: {e}", s.key)))?;
        let (w, h) = s.size;
        if self.flip {
            flip_rows(&mut pixels, w as usize * 3);
        }
        Ok(RgbImage {
            width_px: w,
            height_px: h,
            pixels,
        })
    }

    fn decode_depth(&self, step: usize, camera: usize) -> Result<Option<DepthImage>> {
        let s = self.stream(camera)?;
        let Some(d) = &s.depth else {
            return Ok(None);
        };
        let (w, h) = s.size;
        let unit = if s.depth_in_mm { 0.001 } else { 1.0 };
        let read = |d: &Dataset, a: usize, b: usize| -> std::result::Result<Vec<f32>, String> {
            Ok(h5::read_rows_f64(d, a, b)?
                .into_iter()
                .map(|x| {
                    let m = (x * unit) as f32;
                    if m.is_finite() && m > 0.0 { m } else { 0.0 }
                })
                .collect())
        };
        let mut depth_m = d
            .frame(step, read)
            .map_err(|e| self.decode_err(s, step, format!("{}_depth: {e}", s.name)))?;
        if self.flip {
            flip_rows(&mut depth_m, w as usize);
        }
        Ok(Some(DepthImage {
            width_px: w,
            height_px: h,
            depth_m,
        }))
    }

    fn stores_raw_rgb(&self) -> bool {
        true
    }

    fn encoded_rgb(&self, step: usize, camera: usize) -> Result<EncodedFrame> {
        // Stored as raw pixels: hand out a lossless PNG.
        let png = self
            .decode_rgb(step, camera)?
            .to_png()
            .map_err(|e| self.decode_err(&self.streams[camera], step, e))?;
        Ok(EncodedFrame {
            bytes: png.into(),
            encoding: "png",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_flip_in_place() {
        let mut v = vec![1, 1, 2, 2, 3, 3];
        flip_rows(&mut v, 2);
        assert_eq!(v, [3, 3, 2, 2, 1, 1]);
        let mut v = vec![1, 2, 3, 4];
        flip_rows(&mut v, 2);
        assert_eq!(v, [3, 4, 1, 2]);
    }
}
