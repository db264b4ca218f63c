//! The timeline: current step, scrubbing, play/pause at the dataset's fps, arrow keys.
//!
//! [`Timeline`] is plain state with the playback arithmetic (testable without a UI);
//! [`timeline_ui`] draws it and handles the keys: Left/Right step, Space play/pause,
//! Home/End jump to the first/last step.
//!
//! Playback keeps real time: the step follows the wall clock (the frame time is not clamped),
//! so when decoding cannot keep up the steps in between are skipped rather than the episode
//! playing slower. The steps actually shown per second are counted as frames arrive
//! ([`Timeline::frame_shown`]); when they fall short of the rate asked for, the timeline says
//! so beside the speed.

use egui::Key;

/// Playback state of the open episode.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// Current step, `0..len`.
    pub step: usize,
    /// Number of steps.
    pub len: usize,
    pub playing: bool,
    /// Steps per second at speed 1.
    pub fps: f64,
    /// Time accumulated towards the next step, seconds.
    carry_s: f64,
    /// When (egui time, seconds) each of the last shown steps arrived while playing.
    shown_at_s: std::collections::VecDeque<f64>,
}

/// The window over which the shown rate is measured, seconds.
const SHOWN_WINDOW_S: f64 = 2.0;

impl Timeline {
    pub fn new(len: usize, fps: f64) -> Self {
        Self {
            step: 0,
            len,
            playing: false,
            fps: if fps.is_finite() && fps > 0.0 {
                fps
            } else {
                1.0
            },
            carry_s: 0.0,
            shown_at_s: std::collections::VecDeque::new(),
        }
    }

    /// A decoded step reached the screen at `now_s` (egui time).
    pub fn frame_shown(&mut self, now_s: f64) {
        if !self.playing {
            self.shown_at_s.clear();
            return;
        }
        self.shown_at_s.push_back(now_s);
        while self
            .shown_at_s
            .front()
            .is_some_and(|&t| t < now_s - SHOWN_WINDOW_S)
        {
            self.shown_at_s.pop_front();
        }
    }

    /// Steps shown per second over the last [`SHOWN_WINDOW_S`] while playing, once the
    /// window is full.
    pub fn shown_rate(&self, now_s: f64) -> Option<f64> {
        let first = *self.shown_at_s.front()?;
        (self.playing && now_s - first >= SHOWN_WINDOW_S * 0.9)
            .then(|| self.shown_at_s.len() as f64 / (now_s - first).max(1e-6))
    }

    /// Last valid step (0 for an empty episode).
    pub fn last(&self) -> usize {
        self.len.saturating_sub(1)
    }

    /// Jumps to `step` (clamped); true if it changed.
    pub fn set_step(&mut self, step: usize) -> bool {
        let s = step.min(self.last());
        let changed = s != self.step;
        self.step = s;
        self.carry_s = 0.0;
        changed
    }

    pub fn toggle_play(&mut self) {
        if !self.playing && self.step >= self.last() {
            // Play from the end restarts.
            self.step = 0;
        }
        self.playing = !self.playing;
        self.carry_s = 0.0;
        self.shown_at_s.clear();
    }

    /// Advances playback by `dt_s` seconds at `speed`; true if the step changed. Stops at
    /// the last step unless `looping`.
    pub fn advance(&mut self, dt_s: f64, speed: f64, looping: bool) -> bool {
        if !self.playing || self.len == 0 {
            return false;
        }
        self.carry_s += dt_s.max(0.0) * speed.max(0.0);
        let period = 1.0 / self.fps;
        let mut changed = false;
        while self.carry_s >= period {
            self.carry_s -= period;
            if self.step < self.last() {
                self.step += 1;
                changed = true;
            } else if looping {
                self.step = 0;
                changed = true;
            } else {
                self.playing = false;
                self.carry_s = 0.0;
                break;
            }
        }
        changed
    }
}

/// Draws the timeline and handles keys; returns the new step when it changed.
pub fn timeline_ui(
    ui: &mut egui::Ui,
    t: &mut Timeline,
    speed: &mut f32,
    looping: bool,
) -> Option<usize> {
    let before = t.step;
    let keys_free = !ui.ctx().egui_wants_keyboard_input();
    if keys_free {
        ui.input(|i| {
            if i.key_pressed(Key::ArrowRight) {
                t.playing = false;
                t.set_step(t.step + 1);
            }
            if i.key_pressed(Key::ArrowLeft) {
                t.playing = false;
                t.set_step(t.step.saturating_sub(1));
            }
            if i.key_pressed(Key::Home) {
                t.set_step(0);
            }
            if i.key_pressed(Key::End) {
                t.set_step(t.last());
            }
            if i.key_pressed(Key::Space) {
                t.toggle_play();
            }
        });
    }
    ui.horizontal(|ui| {
        if ui.button("|<").on_hover_text("First step (Home)").clicked() {
            t.set_step(0);
        }
        if ui
            .button("<")
            .on_hover_text("Previous step (Left)")
            .clicked()
        {
            t.playing = false;
            t.set_step(t.step.saturating_sub(1));
        }
        let label = if t.playing { "Pause" } else { "Play" };
        if ui
            .button(label)
            .on_hover_text("Play / pause (Space)")
            .clicked()
        {
            t.toggle_play();
        }
        if ui.button(">").on_hover_text("Next step (Right)").clicked() {
            t.playing = false;
            t.set_step(t.step + 1);
        }
        if ui.button(">|").on_hover_text("Last step (End)").clicked() {
            t.set_step(t.last());
        }
        ui.label(format!("step {} / {}", t.step, t.last()));
        ui.add(
            egui::DragValue::new(speed)
                .range(0.05..=16.0)
                .speed(0.05)
                .suffix(" x")
                .fixed_decimals(2),
        )
        .on_hover_text(format!("Playback speed ({:.1} fps at 1x)", t.fps));
        let now = ui.input(|i| i.time);
        let wanted = t.fps * f64::from(*speed);
        if let Some(rate) = t.shown_rate(now)
            && rate < 0.85 * wanted.min(t.fps * 16.0)
        {
            ui.colored_label(
                super::theme::WARN_TEXT,
                format!("shows {rate:.1} of {wanted:.1} steps/s"),
            )
            .on_hover_text(
                "Decoding cannot keep up: playback keeps real time and skips the steps in between.",
            );
        }
        let mut s = t.step;
        let slider_width = ui.available_width().max(80.0);
        ui.spacing_mut().slider_width = slider_width - 60.0;
        if ui
            .add_enabled(
                t.len > 1,
                egui::Slider::new(&mut s, 0..=t.last())
                    .show_value(false)
                    .text("scrub"),
            )
            .changed()
        {
            t.set_step(s);
        }
    });
    if t.playing {
        // The real time since the last frame (not egui's smoothed, clamped estimate), so
        // slow frames skip steps instead of slowing playback; capped for a suspended app.
        let dt = ui.input(|i| f64::from(i.unstable_dt.min(0.5)));
        t.advance(dt, f64::from(*speed), looping);
        ui.ctx().request_repaint();
    }
    (t.step != before).then_some(t.step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playback_advances_at_fps_and_stops_at_the_end() {
        let mut t = Timeline::new(5, 10.0);
        t.toggle_play();
        assert!(!t.advance(0.05, 1.0, false), "half a period: no step yet");
        assert!(t.advance(0.05, 1.0, false));
        assert_eq!(t.step, 1);
        t.advance(0.2, 1.0, false);
        assert_eq!(t.step, 3);
        t.advance(1.0, 1.0, false);
        assert_eq!(t.step, 4);
        assert!(!t.playing, "stops at the last step");
    }

    #[test]
    fn the_shown_rate_counts_frames_over_the_window() {
        let mut t = Timeline::new(100, 20.0);
        t.frame_shown(0.0);
        assert!(t.shown_rate(0.0).is_none(), "not playing: nothing counted");
        t.toggle_play();
        // 11 frames per second for 2 s, as a slow decoder shows them.
        for k in 0..=22 {
            t.frame_shown(f64::from(k) / 11.0);
        }
        let r = t.shown_rate(2.0).unwrap();
        assert!((r - 11.0).abs() < 0.6, "{r}");
        assert!(t.shown_rate(1.0).is_none(), "the window is not full yet");
        t.toggle_play();
        assert!(t.shown_rate(2.0).is_none());
    }

    #[test]
    fn a_slow_frame_skips_steps_instead_of_slowing_playback() {
        let mut t = Timeline::new(100, 20.0);
        t.toggle_play();
        // One 0.4 s frame at 20 fps: 8 steps on, not 2 (as a 0.1 s clamp gave).
        t.advance(0.4, 1.0, false);
        assert_eq!(t.step, 8);
    }

    #[test]
    fn looping_and_speed() {
        let mut t = Timeline::new(3, 2.0);
        t.toggle_play();
        t.advance(0.5, 2.0, true); // 2 steps at 2x
        assert_eq!(t.step, 2);
        t.advance(0.25, 2.0, true);
        assert_eq!(t.step, 0, "wraps around");
        assert!(t.playing);
    }
}
