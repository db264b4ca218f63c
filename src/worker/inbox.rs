//! The command inbox shared by the background threads: wait for work (or poll when there is
//! background work to do), drain everything queued, and keep only the newest command of a
//! latest-wins kind (frame requests while scrubbing, predictions while stepping), so no
//! backlog of stale requests builds up.

use std::sync::mpsc::{Receiver, TryRecvError};

/// What the thread should do next.
pub enum Next<C> {
    /// Commands to handle, in order, stale latest-wins ones removed.
    Commands(Vec<C>),
    /// Nothing queued: do a piece of background work.
    Idle,
    /// The sender is gone: stop.
    Closed,
}

/// Blocks for the next command unless `busy` (then only polls), drains the inbox and drops
/// every command for which `latest_wins` holds except the newest.
pub fn next_commands<C>(rx: &Receiver<C>, busy: bool, latest_wins: impl Fn(&C) -> bool) -> Next<C> {
    let first = if busy {
        match rx.try_recv() {
            Ok(c) => c,
            Err(TryRecvError::Empty) => return Next::Idle,
            Err(TryRecvError::Disconnected) => return Next::Closed,
        }
    } else {
        match rx.recv() {
            Ok(c) => c,
            Err(_) => return Next::Closed,
        }
    };
    let mut cmds = vec![first];
    while let Ok(c) = rx.try_recv() {
        cmds.push(c);
    }
    let newest = cmds.iter().rposition(&latest_wins);
    let kept = cmds
        .into_iter()
        .enumerate()
        .filter(|(i, c)| !latest_wins(c) || Some(*i) == newest)
        .map(|(_, c)| c)
        .collect();
    Next::Commands(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_newest_latest_wins_command_survives() {
        let (tx, rx) = std::sync::mpsc::channel();
        for c in [1, 10, 2, 11, 3] {
            tx.send(c).unwrap();
        }
        let Next::Commands(c) = next_commands(&rx, false, |c| *c >= 10) else {
            panic!()
        };
        assert_eq!(c, vec![1, 2, 11, 3]);
        assert!(matches!(next_commands(&rx, true, |_| false), Next::Idle));
        drop(tx);
        assert!(matches!(next_commands(&rx, false, |_| false), Next::Closed));
    }
}
