//! Planar 8-bit YUV (4:2:0, 4:2:2, 4:4:4 or grey) to packed RGB, as FFmpeg's `swscale`
//! converts by default (ITU-R BT.601 coefficients, limited or full range as the stream says),
//! so frames match what LeRobot's PyAV/torchvision loaders show (within a level or two: the
//! chroma upsampling differs).
//!
//! The arithmetic is the `yuv` crate's (SIMD, built optimised even in the dev profile); this
//! file checks the planes the decoder handed over before it reads them.

use crate::episode::RgbImage;

/// One decoded picture's planes, borrowed from the decoder.
pub struct YuvPlanes<'a> {
    pub width_px: usize,
    pub height_px: usize,
    pub y: &'a [u8],
    pub u: &'a [u8],
    pub v: &'a [u8],
    pub y_stride: usize,
    pub uv_stride: usize,
    /// log2 of the horizontal and vertical chroma subsampling (4:2:0 is (1, 1)); `None`
    /// for a grey (4:0:0) picture.
    pub chroma_shift: Option<(u32, u32)>,
    /// Full-range (0-255) samples instead of limited (16-235 / 16-240).
    pub full_range: bool,
}

impl YuvPlanes<'_> {
    /// Checks that every plane holds the rows and strides it claims.
    fn check(&self) -> Result<(), String> {
        let need = |len: usize, stride: usize, rows: usize, cols: usize, what: &str| {
            let ok = stride >= cols
                && rows
                    .checked_sub(1)
                    .map_or(Some(0), |r| r.checked_mul(stride)?.checked_add(cols))
                    .is_some_and(|n| n <= len);
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "decoder returned a {what} plane of {len} bytes for {cols}x{rows} (stride {stride})"
                ))
            }
        };
        need(
            self.y.len(),
            self.y_stride,
            self.height_px,
            self.width_px,
            "luma",
        )?;
        if let Some((sx, sy)) = self.chroma_shift {
            let cw = (self.width_px + (1 << sx) - 1) >> sx;
            let ch = (self.height_px + (1 << sy) - 1) >> sy;
            need(self.u.len(), self.uv_stride, ch, cw, "U")?;
            need(self.v.len(), self.uv_stride, ch, cw, "V")?;
        }
        Ok(())
    }

    /// The picture as packed RGB.
    pub fn to_rgb(&self) -> Result<RgbImage, String> {
        self.check()?;
        let (w, h) = (self.width_px as u32, self.height_px as u32);
        let mut pixels = vec![0u8; self.width_px * self.height_px * 3];
        let range = if self.full_range {
            yuv::YuvRange::Full
        } else {
            yuv::YuvRange::Limited
        };
        let matrix = yuv::YuvStandardMatrix::Bt601;
        let planar = yuv::YuvPlanarImage {
            y_plane: self.y,
            y_stride: self.y_stride as u32,
            u_plane: self.u,
            u_stride: self.uv_stride as u32,
            v_plane: self.v,
            v_stride: self.uv_stride as u32,
            width: w,
            height: h,
        };
        let stride = w * 3;
        let done = match self.chroma_shift {
            None => yuv::yuv400_to_rgb(
                &yuv::YuvGrayImage {
                    y_plane: self.y,
                    y_stride: self.y_stride as u32,
                    width: w,
                    height: h,
                },
                &mut pixels,
                stride,
                range,
                matrix,
            ),
            Some((1, 1)) => yuv::yuv420_to_rgb(&planar, &mut pixels, stride, range, matrix),
            Some((1, 0)) => yuv::yuv422_to_rgb(&planar, &mut pixels, stride, range, matrix),
            Some((0, 0)) => yuv::yuv444_to_rgb(&planar, &mut pixels, stride, range, matrix),
            Some(s) => return Err(format!("unsupported chroma subsampling {s:?}")),
        };
        done.map_err(|e| format!("colour conversion: {e}"))?;
        Ok(RgbImage {
            width_px: w,
            height_px: h,
            pixels,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_pixel(y: u8, u: u8, v: u8, full_range: bool) -> [u8; 3] {
        let p = YuvPlanes {
            width_px: 1,
            height_px: 1,
            y: &[y],
            u: &[u],
            v: &[v],
            y_stride: 1,
            uv_stride: 1,
            chroma_shift: Some((1, 1)),
            full_range,
        };
        p.to_rgb().unwrap().pixels.try_into().unwrap()
    }

    #[test]
    fn bt601_limited_and_full_range_primaries() {
        // Limited range: black, white and BT.601 red (Y 81, U 90, V 240).
        assert_eq!(one_pixel(16, 128, 128, false), [0, 0, 0]);
        assert_eq!(one_pixel(235, 128, 128, false), [255, 255, 255]);
        let red = one_pixel(81, 90, 240, false);
        assert!(red[0] >= 253 && red[1] <= 2 && red[2] <= 2, "{red:?}");
        // Full range: Y is the grey level.
        assert_eq!(one_pixel(100, 128, 128, true), [100, 100, 100]);
    }

    #[test]
    fn short_planes_are_errors_not_panics() {
        let p = YuvPlanes {
            width_px: 4,
            height_px: 4,
            y: &[0; 15],
            u: &[0; 4],
            v: &[0; 4],
            y_stride: 4,
            uv_stride: 2,
            chroma_shift: Some((1, 1)),
            full_range: false,
        };
        assert!(p.to_rgb().unwrap_err().contains("luma"));
    }
}
