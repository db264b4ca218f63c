//! A byte-bounded least-recently-used cache of decoded frames.
//!
//! Keys name the episode (by a process-unique id), the step, the camera and the kind. The
//! budget counts decoded pixel bytes; inserting past it evicts the least recently used
//! entries first. A second index ordered by last use makes lookups, inserts and evictions
//! O(log n), so a large budget of small frames stays cheap. One mutex guards the map, and it is never held while decoding: callers
//! look up, decode outside the lock on a miss, then insert. Two threads racing on the same
//! miss both decode; the second insert simply replaces the first (cheaper than a
//! per-key lock for frames that take milliseconds).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use super::frame::{DepthImage, RgbImage};

/// Identifies one decoded frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FrameKey {
    pub episode_uid: u64,
    pub step: usize,
    pub camera: usize,
    pub kind: super::FrameKind,
}

/// A cached decoded frame.
#[derive(Debug, Clone)]
pub enum CachedFrame {
    Rgb(Arc<RgbImage>),
    /// `None`: the camera has no depth at this step.
    Depth(Option<Arc<DepthImage>>),
}

impl CachedFrame {
    fn byte_size(&self) -> usize {
        // A small fixed cost per entry so that even empty entries count.
        64 + match self {
            Self::Rgb(i) => i.byte_size(),
            Self::Depth(Some(d)) => d.byte_size(),
            Self::Depth(None) => 0,
        }
    }
}

struct Entry {
    frame: CachedFrame,
    bytes: usize,
    last_used: u64,
}

struct Inner {
    map: HashMap<FrameKey, Entry>,
    /// last_used -> key, oldest first.
    order: BTreeMap<u64, FrameKey>,
    bytes: usize,
    clock: u64,
    hits: u64,
    misses: u64,
}

/// Byte-bounded LRU cache shared by every open episode.
pub struct FrameCache {
    budget_bytes: usize,
    inner: Mutex<Inner>,
}

/// Counters for the status bar and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub entries: usize,
    pub bytes: usize,
    pub budget_bytes: usize,
    pub hits: u64,
    pub misses: u64,
}

impl FrameCache {
    /// Default budget: 512 MiB of decoded frames.
    pub const DEFAULT_BUDGET_BYTES: usize = 512 << 20;

    pub fn new(budget_bytes: usize) -> Self {
        Self {
            budget_bytes,
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                order: BTreeMap::new(),
                bytes: 0,
                clock: 0,
                hits: 0,
                misses: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map inconsistent in a way that
        // matters for a cache: keep going with what is there.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, key: &FrameKey) -> Option<CachedFrame> {
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        match inner.map.get_mut(key) {
            Some(e) => {
                let previous = std::mem::replace(&mut e.last_used, now);
                let f = e.frame.clone();
                inner.order.remove(&previous);
                inner.order.insert(now, key.clone());
                inner.hits += 1;
                Some(f)
            }
            None => {
                inner.misses += 1;
                None
            }
        }
    }

    /// Inserts a frame, evicting least recently used entries to stay within budget. A frame
    /// larger than the whole budget is not kept.
    pub fn insert(&self, key: FrameKey, frame: CachedFrame) {
        let bytes = frame.byte_size();
        if bytes > self.budget_bytes {
            return;
        }
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        inner.order.insert(now, key.clone());
        if let Some(old) = inner.map.insert(
            key,
            Entry {
                frame,
                bytes,
                last_used: now,
            },
        ) {
            inner.bytes -= old.bytes;
            inner.order.remove(&old.last_used);
        }
        inner.bytes += bytes;
        while inner.bytes > self.budget_bytes {
            let Some((_, oldest)) = inner.order.pop_first() else {
                break;
            };
            if let Some(e) = inner.map.remove(&oldest) {
                inner.bytes -= e.bytes;
            }
        }
    }

    /// Drops every frame of one episode (when it is closed).
    pub fn forget_episode(&self, episode_uid: u64) {
        let mut inner = self.lock();
        let mut freed = 0;
        let mut stale = Vec::new();
        inner.map.retain(|k, e| {
            let keep = k.episode_uid != episode_uid;
            if !keep {
                freed += e.bytes;
                stale.push(e.last_used);
            }
            keep
        });
        for t in stale {
            inner.order.remove(&t);
        }
        inner.bytes -= freed;
    }

    pub fn stats(&self) -> CacheStats {
        let inner = self.lock();
        CacheStats {
            entries: inner.map.len(),
            bytes: inner.bytes,
            budget_bytes: self.budget_bytes,
            hits: inner.hits,
            misses: inner.misses,
        }
    }
}

impl Default for FrameCache {
    fn default() -> Self {
        Self::new(Self::DEFAULT_BUDGET_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::episode::FrameKind;

    fn rgb(n: usize) -> CachedFrame {
        CachedFrame::Rgb(Arc::new(RgbImage {
            width_px: 1,
            height_px: 1,
            pixels: vec![0; n],
        }))
    }

    fn key(step: usize) -> FrameKey {
        FrameKey {
            episode_uid: 1,
            step,
            camera: 0,
            kind: FrameKind::Rgb,
        }
    }

    #[test]
    fn stays_within_budget_and_evicts_least_recently_used() {
        let cache = FrameCache::new(3 * (1000 + 64));
        for s in 0..3 {
            cache.insert(key(s), rgb(1000));
        }
        assert!(cache.get(&key(0)).is_some()); // 0 is now the most recent
        cache.insert(key(3), rgb(1000));
        let st = cache.stats();
        assert!(st.bytes <= st.budget_bytes);
        assert_eq!(st.entries, 3);
        assert!(cache.get(&key(1)).is_none(), "1 was least recently used");
        assert!(cache.get(&key(0)).is_some());
        assert!(cache.get(&key(3)).is_some());
    }

    #[test]
    fn replacing_a_key_keeps_one_entry_and_exact_byte_count() {
        let cache = FrameCache::new(1 << 20);
        cache.insert(key(0), rgb(100));
        cache.insert(key(0), rgb(300));
        let st = cache.stats();
        assert_eq!(st.entries, 1);
        assert_eq!(st.bytes, 300 + 64);
        // Many inserts into a small budget: never over budget, order index stays consistent.
        let small = FrameCache::new(10 * (100 + 64));
        for s in 0..1000 {
            small.insert(key(s % 37), rgb(100));
            small.get(&key((s * 7) % 37));
            let st = small.stats();
            assert!(st.bytes <= st.budget_bytes && st.entries <= 10);
        }
    }

    #[test]
    fn oversized_frames_are_not_kept_and_forget_frees_bytes() {
        let cache = FrameCache::new(500);
        cache.insert(key(0), rgb(10_000));
        assert_eq!(cache.stats().entries, 0);
        cache.insert(key(1), rgb(100));
        cache.forget_episode(1);
        assert_eq!(cache.stats().bytes, 0);
    }
}
