//! Decoded frames: 8-bit RGB and metric depth.

/// An 8-bit RGB image, row-major, row 0 at the top, 3 bytes per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width_px: u32,
    pub height_px: u32,
    pub pixels: Vec<u8>,
}

impl RgbImage {
    /// Bytes held in memory (for the cache budget).
    pub fn byte_size(&self) -> usize {
        self.pixels.len()
    }

    /// The image as a lossless PNG (for formats that store no per-frame encoding: video,
    /// raw HDF5 pixels).
    pub fn to_png(&self) -> Result<Vec<u8>, String> {
        use image::ImageEncoder;
        let mut png = Vec::new();
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(
                &self.pixels,
                self.width_px,
                self.height_px,
                image::ExtendedColorType::Rgb8,
            )
            .map_err(|e| format!("PNG encoding: {e}"))?;
        Ok(png)
    }

    /// The image as a baseline JPEG of `quality` (1-100), 4:2:0 chroma (for exports that
    /// ask for JPEG instead of PNG).
    pub fn to_jpeg(&self, quality: u8) -> Result<Vec<u8>, String> {
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, quality.clamp(1, 100))
            .encode(
                &self.pixels,
                self.width_px,
                self.height_px,
                image::ExtendedColorType::Rgb8,
            )
            .map_err(|e| format!("JPEG encoding: {e}"))?;
        Ok(jpeg)
    }

    /// Largest channel value over the image (0 for an all-black frame).
    pub fn max_value(&self) -> u8 {
        self.pixels.iter().copied().max().unwrap_or(0)
    }
}

/// A metric depth image in metres, row-major, row 0 at the top. `0.0` marks an invalid
/// pixel (no return / no hit), as in the files this is read from.
#[derive(Debug, Clone, PartialEq)]
pub struct DepthImage {
    pub width_px: u32,
    pub height_px: u32,
    pub depth_m: Vec<f32>,
}

impl DepthImage {
    /// Bytes held in memory (for the cache budget).
    pub fn byte_size(&self) -> usize {
        self.depth_m.len() * size_of::<f32>()
    }

    /// Depth at pixel (column `u`, row `v`); `None` outside the image or where invalid.
    pub fn at(&self, u: u32, v: u32) -> Option<f32> {
        if u >= self.width_px || v >= self.height_px {
            return None;
        }
        let d = self.depth_m[(v as usize) * (self.width_px as usize) + u as usize];
        (d > 0.0 && d.is_finite()).then_some(d)
    }

    /// (min, max) over valid pixels, `None` when no pixel is valid.
    pub fn valid_range_m(&self) -> Option<(f32, f32)> {
        let mut it = self
            .depth_m
            .iter()
            .copied()
            .filter(|d| *d > 0.0 && d.is_finite());
        let first = it.next()?;
        Some(it.fold((first, first), |(lo, hi), d| (lo.min(d), hi.max(d))))
    }
}

/// Metres per unit of 16-bit millimetre depth, as the decoders scale it.
pub const MM_TO_M: f32 = 0.001;

/// `depth_m` as whole millimetres (0 stays 0, invalid) when every value is one bit for bit
/// (`mm as f32 * 0.001`, what a 16-bit millimetre PNG decodes to), else `None`: how the
/// export and the 3-D view send such depth in half the bytes. Each value is rounded by
/// truncation (a saturating cast: NaN and negatives give 0, anything past 65.535 m 65535)
/// and kept only if the decoder's formula gives it back exactly; that one test also rejects
/// invalid values other than 0 and valid depth under half a millimetre. Branch-free, no
/// libm call, so it vectorises.
pub fn millimetres_if_exact(depth_m: &[f32]) -> Option<Vec<u16>> {
    let mut mm = vec![0u16; depth_m.len()];
    let mut inexact = false;
    for (o, &d) in mm.iter_mut().zip(depth_m) {
        let unit = (d * 1000.0 + 0.5) as u16;
        inexact |= f32::from(unit) * MM_TO_M != d;
        *o = unit;
    }
    (!inexact).then_some(mm)
}
