//! Slide-ready PNG charts drawn directly into an image: a white background, axes with
//! numeric ticks, bars, vertical and horizontal marker lines with a legend, and a title.
//! Text is rasterised with ab_glyph from egui's bundled Hack font, so the output is the same
//! on every machine (no system fonts, no GPU).

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use image::{Rgb, RgbImage};

/// An RGB colour.
pub type Colour = [u8; 3];

/// A bar chart with optional markers.
#[derive(Debug, Clone)]
pub struct BarChart {
    pub title: String,
    pub x_label: String,
    /// (x centre, height) per bar.
    pub bars: Vec<(f64, f64)>,
    /// Width of each bar in x units.
    pub bar_width: f64,
    pub bar_colour: Colour,
    /// Vertical lines: (x, legend label, colour).
    pub vlines: Vec<(f64, String, Colour)>,
    /// Horizontal lines: (y, legend label, colour).
    pub hlines: Vec<(f64, String, Colour)>,
}

const MARGIN_LEFT: u32 = 90;
const MARGIN_RIGHT: u32 = 30;
const MARGIN_TOP: u32 = 70;
const MARGIN_BOTTOM: u32 = 70;
const AXIS: Colour = crate::render::palette::chart::AXIS;
const GRID: Colour = crate::render::palette::chart::GRID;

fn font() -> Option<FontRef<'static>> {
    FontRef::try_from_slice(epaint_default_fonts::HACK_REGULAR).ok()
}

fn blend(img: &mut RgbImage, x: i64, y: i64, c: Colour, alpha: f32) {
    if x < 0 || y < 0 || x >= i64::from(img.width()) || y >= i64::from(img.height()) {
        return;
    }
    let p = img.get_pixel_mut(x as u32, y as u32);
    for (dst, src) in p.0.iter_mut().zip(c) {
        *dst = (f32::from(*dst) * (1.0 - alpha) + f32::from(src) * alpha).round() as u8;
    }
}

/// Draws `text` with its top-left at (x, y); returns its width in pixels.
pub fn draw_text(img: &mut RgbImage, text: &str, x: f32, y: f32, size: f32, c: Colour) -> f32 {
    let Some(font) = font() else { return 0.0 };
    let scaled = font.as_scaled(PxScale::from(size));
    let mut pen = x;
    for ch in text.chars() {
        let id = scaled.glyph_id(ch);
        let glyph = id.with_scale_and_position(size, ab_glyph::point(pen, y + scaled.ascent()));
        if let Some(outline) = font.outline_glyph(glyph) {
            let b = outline.px_bounds();
            outline.draw(|gx, gy, cov| {
                blend(
                    img,
                    b.min.x as i64 + i64::from(gx),
                    b.min.y as i64 + i64::from(gy),
                    c,
                    cov,
                )
            });
        }
        pen += scaled.h_advance(id);
    }
    pen - x
}

fn text_width(text: &str, size: f32) -> f32 {
    let Some(font) = font() else { return 0.0 };
    let scaled = font.as_scaled(PxScale::from(size));
    text.chars()
        .map(|c| scaled.h_advance(scaled.glyph_id(c)))
        .sum()
}

fn fill_rect(img: &mut RgbImage, x0: i64, y0: i64, x1: i64, y1: i64, c: Colour) {
    for y in y0.min(y1)..=y0.max(y1) {
        for x in x0.min(x1)..=x0.max(x1) {
            blend(img, x, y, c, 1.0);
        }
    }
}

/// "Nice" tick values covering [lo, hi] (about `n` of them).
pub fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if hi <= lo || hi.is_nan() || lo.is_nan() || !lo.is_finite() || !hi.is_finite() {
        return vec![lo];
    }
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() * step;
    (0..=n * 2 + 2)
        .map(|k| first + k as f64 * step)
        .take_while(|v| *v <= hi + step * 1e-9)
        .collect()
}

fn fmt_tick(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".to_owned()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

impl BarChart {
    /// Renders at `width` x `height` pixels.
    pub fn render(&self, width: u32, height: u32) -> RgbImage {
        let mut img = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
        let (pl, pr, pt, pb) = (
            MARGIN_LEFT as f64,
            f64::from(width - MARGIN_RIGHT),
            MARGIN_TOP as f64,
            f64::from(height - MARGIN_BOTTOM),
        );
        let xs = self
            .bars
            .iter()
            .map(|b| b.0)
            .chain(self.vlines.iter().map(|v| v.0));
        let x_lo = xs.clone().fold(f64::INFINITY, f64::min) - self.bar_width / 2.0;
        let x_hi = xs.fold(f64::NEG_INFINITY, f64::max) + self.bar_width / 2.0;
        let (x_lo, x_hi) = if x_lo.is_finite() && x_hi > x_lo {
            (x_lo, x_hi)
        } else {
            (0.0, 1.0)
        };
        let y_hi = self
            .bars
            .iter()
            .map(|b| b.1)
            .chain(self.hlines.iter().map(|h| h.0))
            .fold(0.0, f64::max)
            * 1.08;
        // Negative bars (a cosine, an R^2) hang below a zero line.
        let y_lo = self
            .bars
            .iter()
            .map(|b| b.1)
            .filter(|v| v.is_finite())
            .fold(0.0, f64::min)
            * 1.08;
        let y_hi = if y_hi > 0.0 || y_lo < 0.0 { y_hi } else { 1.0 };
        let sx = |x: f64| pl + (x - x_lo) / (x_hi - x_lo) * (pr - pl);
        let sy = |y: f64| pb - (y - y_lo) / (y_hi - y_lo) * (pb - pt);

        for t in ticks(y_lo, y_hi, 5) {
            let y = sy(t) as i64;
            fill_rect(&mut img, pl as i64, y, pr as i64, y, GRID);
            let label = fmt_tick(t);
            draw_text(
                &mut img,
                &label,
                (pl as f32) - 8.0 - text_width(&label, 15.0),
                y as f32 - 9.0,
                15.0,
                AXIS,
            );
        }
        for t in ticks(x_lo, x_hi, 6) {
            let x = sx(t) as i64;
            fill_rect(&mut img, x, pb as i64, x, pb as i64 + 5, AXIS);
            let label = fmt_tick(t);
            draw_text(
                &mut img,
                &label,
                x as f32 - text_width(&label, 15.0) / 2.0,
                pb as f32 + 8.0,
                15.0,
                AXIS,
            );
        }
        for &(x, h) in &self.bars {
            let (x0, x1) = (sx(x - self.bar_width * 0.45), sx(x + self.bar_width * 0.45));
            let (top, bottom) = (sy(h.max(0.0)), sy(h.min(0.0)));
            fill_rect(
                &mut img,
                x0.round() as i64,
                top.round() as i64,
                x1.round().max(x0.round() + 1.0) as i64,
                bottom.round() as i64,
                self.bar_colour,
            );
        }
        if y_lo < 0.0 {
            let z = sy(0.0) as i64;
            fill_rect(&mut img, pl as i64, z, pr as i64, z, AXIS);
        }
        fill_rect(
            &mut img,
            pl as i64,
            pt as i64,
            pl as i64 + 1,
            pb as i64,
            AXIS,
        );
        fill_rect(
            &mut img,
            pl as i64,
            pb as i64,
            pr as i64,
            pb as i64 + 1,
            AXIS,
        );
        let mut legend_x = pl as f32;
        for (x, label, c) in &self.vlines {
            let px = sx(*x) as i64;
            fill_rect(&mut img, px, pt as i64, px + 1, pb as i64, *c);
            legend_x += legend(&mut img, legend_x, pt as f32 - 26.0, label, *c);
        }
        for (y, label, c) in &self.hlines {
            let py = sy(*y) as i64;
            fill_rect(&mut img, pl as i64, py, pr as i64, py + 1, *c);
            legend_x += legend(&mut img, legend_x, pt as f32 - 26.0, label, *c);
        }
        draw_text(&mut img, &self.title, pl as f32, 12.0, 22.0, AXIS);
        let w = text_width(&self.x_label, 17.0);
        draw_text(
            &mut img,
            &self.x_label,
            ((pl + pr) as f32 - w) / 2.0,
            height as f32 - 32.0,
            17.0,
            AXIS,
        );
        img
    }
}

fn legend(img: &mut RgbImage, x: f32, y: f32, label: &str, c: Colour) -> f32 {
    if label.is_empty() {
        return 0.0;
    }
    fill_rect(img, x as i64, y as i64 + 7, x as i64 + 18, y as i64 + 9, c);
    24.0 + draw_text(img, label, x + 24.0, y, 15.0, [60, 60, 60]) + 18.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 10.0, 5), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let t = ticks(-0.013, 0.021, 6);
        assert!(
            t.first().is_some_and(|&v| v >= -0.013)
                && t.last().is_some_and(|&v| v <= 0.021 + 1e-12)
        );
        assert_eq!(ticks(1.0, 1.0, 5), [1.0]);
    }

    #[test]
    fn a_chart_draws_bars_text_and_markers() {
        let chart = BarChart {
            title: "dx".into(),
            x_label: "metres".into(),
            bars: vec![(0.0, 3.0), (1.0, 5.0), (2.0, 1.0)],
            bar_width: 1.0,
            bar_colour: [200, 30, 30],
            vlines: vec![(1.5, "q99".into(), [0, 0, 255])],
            hlines: vec![],
        };
        let img = chart.render(640, 400);
        let count = |c: [u8; 3]| img.pixels().filter(|p| p.0 == c).count();
        assert!(count([200, 30, 30]) > 1000, "bars drawn");
        assert!(count([0, 0, 255]) > 100, "marker drawn");
        // Title text darkens pixels near the top.
        let dark_top = (0..640)
            .flat_map(|x| (10..40).map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0[0] < 128)
            .count();
        assert!(dark_top > 20, "title rendered");
    }
}
