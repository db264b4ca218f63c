//! Background threads: everything slow (disk, decoding, the model, exports) runs here, so
//! the UI thread never waits. Each thread is reached through one [`Handle`]: commands in,
//! messages out, a wake-up (egui's `request_repaint`) after every message, and a
//! latest-wins [`inbox`] so scrubbing never queues stale work.
//!
//! - [`frames`]: the frame worker (open datasets, decode frames, build each step's scene,
//!   dataset-wide analyses in small pieces).
//! - [`model`]: the model thread (load a checkpoint, predict a step or a whole episode).
//! - [`export`]: one-off export threads (Rerun recordings, PNGs of the 3-D view).
//! - [`messages`]: what the UI and the frame worker say to each other.

pub mod expert;
pub mod export;
pub mod features;
pub mod frames;
pub mod inbox;
pub mod messages;
pub mod model;
pub mod step_bundle;

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};

pub use frames::WorkerHandle;
pub use messages::{CameraFrame, Command, DatasetInfo, FrameBundle, UserError, WorkerMessage};
pub use model::{ModelCommand, ModelHandle, ModelInfo, ModelMessage};

/// Called after every message a thread sends (egui's `request_repaint`).
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// The UI's end of a background thread: commands `C` in, messages `M` out.
pub struct Handle<C, M> {
    tx: Sender<C>,
    rx: Receiver<M>,
}

impl<C: Send + 'static, M: Send + 'static> Handle<C, M> {
    /// Starts thread `name` running `body` on the command inbox and the message outbox; the
    /// thread ends when `body` returns (it should when the inbox closes, i.e. this handle is
    /// dropped).
    pub fn spawn(name: &str, body: impl FnOnce(Receiver<C>, Sender<M>) + Send + 'static) -> Self {
        let (tx, cmd_rx) = std::sync::mpsc::channel();
        let (msg_tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || body(cmd_rx, msg_tx));
        if let Err(e) = spawned {
            log::error!("cannot start the {name} thread: {e}");
        }
        Self { tx, rx }
    }

    /// Sends a command (never blocks). A send error means the thread died, which
    /// `try_recv` then shows as silence; nothing else can be done about it here.
    pub fn send(&self, cmd: C) {
        let _ = self.tx.send(cmd);
    }

    /// Next message, if any (never blocks).
    pub fn try_recv(&self) -> Option<M> {
        self.rx.try_recv().ok()
    }

    /// Blocks up to `timeout` for a message (tests and the CLI only; never the UI).
    pub fn recv_timeout(&self, timeout: std::time::Duration) -> Option<M> {
        self.rx.recv_timeout(timeout).ok()
    }
}

/// Sends `m` and wakes the UI.
pub fn send_and_wake<M>(tx: &Sender<M>, wake: &Wake, m: M) {
    let _ = tx.send(m);
    wake();
}
