//! H.264 through OpenH264 (Cisco's decoder, built from its bundled C++ source by the
//! `openh264` crate with the C/C++ compiler every Rust toolchain already uses; its
//! assembly is used only where `nasm` happens to be installed). Decodes Baseline, Main and
//! High profile progressive streams, B-frames included (libx264's default for LeRobot).
//!
//! MP4 stores NAL units length-prefixed with the parameter sets in the sample entry; the
//! decoder takes Annex B (start codes), so each sample is rewritten, with the parameter
//! sets in front of the first sample after a reset. OpenH264 hands frames out in display
//! order but does not carry timestamps through, so the presentation times of the samples
//! fed are kept in a min-heap and each picture that comes out takes the smallest.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use openh264::decoder::{DecodedYUV, Decoder, DecoderConfig, Flush};
use openh264::formats::YUVSource;

use super::yuv::YuvPlanes;
use super::{FrameDecoder, PictureSink};

pub struct H264Decoder {
    decoder: Decoder,
    sps_pps: Vec<Vec<u8>>,
    nal_length_bytes: usize,
    /// Parameter sets not yet sent since the last reset.
    need_parameter_sets: bool,
    /// Presentation times of samples fed whose pictures have not come out.
    pending_pts: BinaryHeap<Reverse<i64>>,
    annexb: Vec<u8>,
}

fn new_decoder() -> Result<Decoder, String> {
    // No flush after each packet: B-frames need the decoder's reordering.
    let config = DecoderConfig::new().flush_after_decode(Flush::NoFlush);
    Decoder::with_api_config(openh264::OpenH264API::from_source(), config)
        .map_err(|e| format!("cannot start the H.264 decoder: {e}"))
}

const START_CODE: [u8; 4] = [0, 0, 0, 1];

impl H264Decoder {
    pub fn new(sps_pps: Vec<Vec<u8>>, nal_length_bytes: usize) -> Result<Self, String> {
        Ok(Self {
            decoder: new_decoder()?,
            sps_pps,
            nal_length_bytes,
            need_parameter_sets: true,
            pending_pts: BinaryHeap::new(),
            annexb: Vec::new(),
        })
    }

    /// Rewrites one length-prefixed sample as Annex B into `self.annexb`.
    fn rewrite_as_annexb(&mut self, sample: &[u8]) -> Result<(), String> {
        self.annexb.clear();
        if std::mem::take(&mut self.need_parameter_sets) {
            for p in &self.sps_pps {
                self.annexb.extend_from_slice(&START_CODE);
                self.annexb.extend_from_slice(p);
            }
        }
        let k = self.nal_length_bytes;
        let mut rest = sample;
        while !rest.is_empty() {
            let (len, tail) = rest
                .split_at_checked(k)
                .ok_or("a NAL unit length is cut off")?;
            let n = len.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b));
            let (nal, tail) = tail.split_at_checked(n).ok_or_else(|| {
                format!("a NAL unit claims {n} bytes where {} remain", tail.len())
            })?;
            self.annexb.extend_from_slice(&START_CODE);
            self.annexb.extend_from_slice(nal);
            rest = tail;
        }
        Ok(())
    }
}

fn emit(yuv: &DecodedYUV<'_>, pts: i64, out: PictureSink<'_>) {
    let (w, h) = yuv.dimensions();
    let (ys, us, _) = yuv.strides();
    out(
        pts,
        &YuvPlanes {
            width_px: w,
            height_px: h,
            y: yuv.y(),
            u: yuv.u(),
            v: yuv.v(),
            y_stride: ys,
            uv_stride: us,
            chroma_shift: Some((1, 1)),
            full_range: false,
        },
    );
}

impl FrameDecoder for H264Decoder {
    fn reset(&mut self) -> Result<(), String> {
        self.decoder = new_decoder()?;
        self.need_parameter_sets = true;
        self.pending_pts.clear();
        Ok(())
    }

    fn feed(&mut self, sample: &[u8], pts: i64, out: PictureSink<'_>) -> Result<(), String> {
        self.rewrite_as_annexb(sample)?;
        self.pending_pts.push(Reverse(pts));
        let decoded = self
            .decoder
            .decode(&self.annexb)
            .map_err(|e| format!("H.264 decoder: {e}"))?;
        if let Some(yuv) = decoded
            && let Some(Reverse(t)) = self.pending_pts.pop()
        {
            emit(&yuv, t, out);
        }
        Ok(())
    }

    fn flush(&mut self, out: PictureSink<'_>) -> Result<(), String> {
        let frames = self
            .decoder
            .flush_remaining()
            .map_err(|e| format!("H.264 decoder: {e}"))?;
        for yuv in frames {
            if let Some(Reverse(t)) = self.pending_pts.pop() {
                emit(&yuv, t, out);
            }
        }
        Ok(())
    }
}
