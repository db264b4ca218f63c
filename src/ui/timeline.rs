//! The timeline: current step, scrubbing, play/pause at the dataset's fps, arrow keys.
//!
//! [`Timeline`] is plain state with the playback arithmetic (testable without a UI);
//! [`timeline_ui`] draws it and handles the keys: Left/Right step, Space play/pause,
//! Home/End jump to the first/last step.

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
}

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
        }
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
        let dt = ui.input(|i| f64::from(i.stable_dt.min(0.1)));
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
