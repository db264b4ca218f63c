//! AV1 through rav1d, the Rust port of dav1d, in Rerun's published build of it (`re_rav1d`,
//! which adds a safe Rust API over rav1d's C-compatible one). Without the `nasm` cargo
//! feature it is pure Rust (no assembly, so no `nasm` needed, and slower); with it, rav1d's
//! x86/ARM assembly is built. dav1d carries each sample's timestamp through to its picture.

use super::yuv::YuvPlanes;
use super::{FrameDecoder, PictureSink};

use dav1d::{PixelLayout, PlanarImageComponent};

pub struct Av1Decoder {
    decoder: dav1d::Decoder,
}

fn new_decoder() -> Result<dav1d::Decoder, String> {
    let mut settings = dav1d::Settings::new();
    // One thread and no frame delay: pictures come out as soon as they are decoded (the
    // app decodes several cameras at once on its own threads).
    settings.set_n_threads(1);
    settings.set_max_frame_delay(1);
    dav1d::Decoder::with_settings(&settings)
        .map_err(|e| format!("cannot start the AV1 decoder: {e}"))
}

impl Av1Decoder {
    pub fn new() -> Result<Self, String> {
        Ok(Self {
            decoder: new_decoder()?,
        })
    }

    fn drain(&mut self, out: PictureSink<'_>) -> Result<(), String> {
        loop {
            match self.decoder.get_picture() {
                Ok(p) => emit(&p, out)?,
                Err(dav1d::Error::Again) => return Ok(()),
                Err(e) => return Err(format!("AV1 decoder: {e}")),
            }
        }
    }
}

fn emit(p: &dav1d::Picture, out: PictureSink<'_>) -> Result<(), String> {
    if p.bit_depth() != 8 {
        return Err(format!(
            "{}-bit AV1: only 8-bit AV1 is decoded without FFmpeg",
            p.bit_depth()
        ));
    }
    let chroma_shift = match p.pixel_layout() {
        PixelLayout::I400 => None,
        PixelLayout::I420 => Some((1, 1)),
        PixelLayout::I422 => Some((1, 0)),
        PixelLayout::I444 => Some((0, 0)),
    };
    let y = p.plane(PlanarImageComponent::Y);
    let (u, v) = if chroma_shift.is_some() {
        (
            Some(p.plane(PlanarImageComponent::U)),
            Some(p.plane(PlanarImageComponent::V)),
        )
    } else {
        (None, None)
    };
    out(
        p.timestamp().unwrap_or(0),
        &YuvPlanes {
            width_px: p.width() as usize,
            height_px: p.height() as usize,
            y: &y,
            u: u.as_deref().unwrap_or(&[]),
            v: v.as_deref().unwrap_or(&[]),
            y_stride: p.stride(PlanarImageComponent::Y) as usize,
            uv_stride: if chroma_shift.is_some() {
                p.stride(PlanarImageComponent::U) as usize
            } else {
                0
            },
            chroma_shift,
            full_range: matches!(p.color_range(), dav1d::pixel::YUVRange::Full),
        },
    );
    Ok(())
}

impl FrameDecoder for Av1Decoder {
    fn reset(&mut self) -> Result<(), String> {
        self.decoder.flush();
        Ok(())
    }

    fn feed(&mut self, sample: &[u8], pts: i64, out: PictureSink<'_>) -> Result<(), String> {
        let mut sent = self
            .decoder
            .send_data(sample.to_vec(), None, Some(pts), None);
        // `Again`: the decoder keeps the rest of the data until its pictures are taken. A
        // decoder that neither takes data nor gives pictures is a damaged stream, not a loop.
        let mut tries = 0;
        while let Err(dav1d::Error::Again) = sent {
            tries += 1;
            if tries > 64 {
                return Err("AV1 decoder: the stream makes no progress (damaged sample)".into());
            }
            self.drain(out)?;
            sent = self.decoder.send_pending_data();
        }
        sent.map_err(|e| format!("AV1 decoder: corrupt sample ({e})"))?;
        self.drain(out)
    }

    fn flush(&mut self, out: PictureSink<'_>) -> Result<(), String> {
        // dav1d has no end-of-stream call: ask for pictures until it has none left.
        self.drain(out)
    }
}
