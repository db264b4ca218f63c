//! A cheap check of a frame's encoded bytes before they are passed on undecoded (the Rerun
//! export logs the dataset's own JPEG/PNG bytes): the header must name the camera's size,
//! and the container must be whole. It walks the structure without inflating pixels:
//!
//! - PNG: the signature, `IHDR` first with the size, every chunk's length inside the file and
//!   its CRC right (CRC-32 runs at gigabytes per second, a fraction of a decode), `IDAT`
//!   present, `IEND` last.
//! - JPEG: `SOI`, every marker segment's length inside the file up to `SOS`, a frame header
//!   (`SOF0..15` but not `DHT`/`JPG`/`DAC`) with the size, and `EOI` at the end.
//!
//! It does not prove that the entropy-coded data decodes (only a decode does), but catches
//! truncated, garbled and mislabelled files and headers that claim another size.

use super::EncodedFrame;

/// Why a frame's bytes are not what the camera promises.
pub type CheckError = String;

impl EncodedFrame {
    /// Checks the bytes against the camera's `width` x `height` pixels.
    pub fn check(&self, width: u32, height: u32) -> Result<(), CheckError> {
        let (w, h) = match self.encoding {
            "png" => png_size(&self.bytes)?,
            "jpeg" => jpeg_size(&self.bytes)?,
            other => return Err(format!("unknown encoding `{other}`")),
        };
        if (w, h) != (width, height) {
            return Err(format!(
                "{} header says {w}x{h} px, the camera is {width}x{height} px",
                self.encoding
            ));
        }
        Ok(())
    }
}

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn png_size(b: &[u8]) -> Result<(u32, u32), CheckError> {
    if b.get(..8) != Some(&PNG_SIGNATURE[..]) {
        return Err("not a PNG (no signature)".into());
    }
    let mut at = 8usize;
    let mut size = None;
    let mut idat = false;
    let mut first = true;
    loop {
        let len = be32(b, at).ok_or("PNG truncated in a chunk header")? as usize;
        let kind = b
            .get(at + 4..at + 8)
            .ok_or("PNG truncated in a chunk header")?;
        let data_end = (at + 8)
            .checked_add(len)
            .filter(|e| e.checked_add(4).is_some_and(|c| c <= b.len()))
            .ok_or_else(|| {
                format!(
                    "PNG chunk {} claims {len} bytes past the end of the file",
                    String::from_utf8_lossy(kind)
                )
            })?;
        let stored = be32(b, data_end).ok_or("PNG truncated in a CRC")?;
        if crc32fast::hash(&b[at + 4..data_end]) != stored {
            return Err(format!(
                "PNG chunk {} has a wrong CRC (damaged file)",
                String::from_utf8_lossy(kind)
            ));
        }
        match kind {
            b"IHDR" if first && len >= 8 => {
                size = Some((be32(b, at + 8).unwrap_or(0), be32(b, at + 12).unwrap_or(0)));
            }
            _ if first => return Err("PNG does not start with IHDR".into()),
            b"IDAT" => idat = true,
            b"IEND" => {
                if !idat {
                    return Err("PNG has no image data (IDAT)".into());
                }
                return size.ok_or_else(|| "PNG has no IHDR".into());
            }
            _ => {}
        }
        first = false;
        at = data_end + 4;
        if at >= b.len() {
            return Err("PNG ends without IEND (truncated)".into());
        }
    }
}

fn jpeg_size(b: &[u8]) -> Result<(u32, u32), CheckError> {
    if b.get(..2) != Some(&[0xff, 0xd8][..]) {
        return Err("not a JPEG (no SOI marker)".into());
    }
    // Trailing padding after EOI is common; EOI must still be there.
    let end = b.len() - b.iter().rev().take_while(|&&x| x == 0).count();
    if end < 4 || b[end - 2..end] != [0xff, 0xd9] {
        return Err("JPEG ends without EOI (truncated)".into());
    }
    let mut at = 2usize;
    let mut size = None;
    loop {
        // Fill bytes (0xff repeated) may precede a marker.
        while b.get(at) == Some(&0xff) && b.get(at + 1) == Some(&0xff) {
            at += 1;
        }
        let (Some(&0xff), Some(&marker)) = (b.get(at), b.get(at + 1)) else {
            return Err(format!("JPEG has no marker at byte {at} (damaged)"));
        };
        at += 2;
        if (0xd0..=0xd7).contains(&marker) || marker == 0x01 {
            continue; // no length
        }
        let len = b
            .get(at..at + 2)
            .map(|s| usize::from(u16::from_be_bytes([s[0], s[1]])))
            .ok_or("JPEG truncated in a segment header")?;
        if len < 2 || at + len > end {
            return Err(format!(
                "JPEG segment {marker:#04x} claims {len} bytes past the end of the file"
            ));
        }
        let is_frame = (0xc0..=0xcf).contains(&marker) && !matches!(marker, 0xc4 | 0xc8 | 0xcc);
        if is_frame && len >= 7 {
            let h = u16::from_be_bytes([b[at + 3], b[at + 4]]);
            let w = u16::from_be_bytes([b[at + 5], b[at + 6]]);
            size = Some((u32::from(w), u32::from(h)));
        }
        if marker == 0xda {
            // Start of scan: the entropy-coded data runs to EOI.
            return size.ok_or_else(|| "JPEG has no frame header (SOF) before its scan".into());
        }
        at += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(bytes: Vec<u8>, encoding: &'static str) -> EncodedFrame {
        EncodedFrame {
            bytes: bytes.into(),
            encoding,
        }
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        crate::episode::RgbImage {
            width_px: w,
            height_px: h,
            pixels: vec![7; (w * h * 3) as usize],
        }
        .to_png()
        .unwrap()
    }

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new(&mut out)
            .encode(
                &vec![90; (w * h * 3) as usize],
                w,
                h,
                image::ExtendedColorType::Rgb8,
            )
            .unwrap();
        out
    }

    #[test]
    fn whole_files_of_the_right_size_pass() {
        frame(png(5, 3), "png").check(5, 3).unwrap();
        frame(jpeg(17, 9), "jpeg").check(17, 9).unwrap();
    }

    #[test]
    fn wrong_sizes_truncation_and_damage_are_named() {
        let e = frame(png(5, 3), "png").check(6, 3).unwrap_err();
        assert!(e.contains("5x3") && e.contains("6x3"), "{e}");
        let e = frame(jpeg(17, 9), "jpeg").check(17, 10).unwrap_err();
        assert!(e.contains("17x9"), "{e}");
        let p = png(5, 3);
        let e = frame(p[..p.len() - 6].to_vec(), "png")
            .check(5, 3)
            .unwrap_err();
        assert!(e.contains("past the end") || e.contains("truncated"), "{e}");
        let mut bad = p.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x55;
        assert!(frame(bad, "png").check(5, 3).unwrap_err().contains("CRC"));
        let j = jpeg(17, 9);
        let e = frame(j[..j.len() / 2].to_vec(), "jpeg")
            .check(17, 9)
            .unwrap_err();
        assert!(e.contains("EOI"), "{e}");
        assert!(frame(b"GIF89a....".to_vec(), "png").check(1, 1).is_err());
        assert!(frame(Vec::new(), "jpeg").check(1, 1).is_err());
        // A header claiming a huge image is a size mismatch, found without allocating it.
        let mut huge = png(5, 3);
        huge[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        assert!(frame(huge, "png").check(5, 3).is_err());
    }
}
