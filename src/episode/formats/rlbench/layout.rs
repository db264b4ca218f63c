//! Where RLBench's episodes are: the folder layouts its dataset generator and PerAct's write.
//!
//! ```text
//! TASK/variation0/variation_descriptions.pkl        RLBench's generator
//! TASK/variation0/episodes/episode0/low_dim_obs.pkl
//! TASK/all_variations/episodes/episode0/            PerAct's: descriptions and
//!     low_dim_obs.pkl, variation_descriptions.pkl,  variation number per episode
//!     variation_number.pkl
//! TASK/episodes/episode0/...                         an `episodes` folder opened directly
//! .../episode0/                                     one episode folder opened directly
//! ```
//! Each episode folder holds `<camera>_rgb/<i>.png`, `<camera>_depth/<i>.png` and optional
//! `<camera>_mask/<i>.png`. Every folder read is confined to the opened root.

use std::path::{Path, PathBuf};

use crate::episode::formats::confine;

/// The pickled demonstration in each episode folder.
pub const LOW_DIM_PICKLE: &str = "low_dim_obs.pkl";
/// The instruction variants, in the variation folder or the episode folder.
pub const DESCRIPTIONS_PICKLE: &str = "variation_descriptions.pkl";
/// Most episode folders one dataset lists.
const MAX_EPISODES: usize = 100_000;

/// One episode folder and where it sits.
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeDir {
    pub dir: PathBuf,
    /// `variation0/episode3`, `all_variations/episode3` or `episode3`.
    pub name: String,
    /// The variation folder's number, when the layout has one.
    pub variation: Option<u32>,
}

/// The number in `prefix<N>` (`episode12` -> 12).
fn numbered(name: &str, prefix: &str) -> Option<u32> {
    let digits = name.strip_prefix(prefix)?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Subfolders of `dir` called `prefix<N>`, inside `root`, sorted by N.
fn numbered_subdirs(dir: &Path, prefix: &str, root: &Path) -> Vec<(u32, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<(u32, PathBuf)> = rd
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            let n = numbered(&file_name(&p), prefix)?;
            (p.is_dir() && confine(&p, root).is_ok()).then_some((n, p))
        })
        .take(MAX_EPISODES)
        .collect();
    v.sort();
    v
}

/// Whether `dir` is an RLBench task, variation, `episodes` or episode folder.
pub fn is_dataset_dir(dir: &Path) -> bool {
    dir.join(LOW_DIM_PICKLE).is_file()
        || has_episodes(&dir.join("episodes"))
        || has_episodes(&dir.join("all_variations/episodes"))
        || numbered_subdirs(dir, "variation", dir)
            .iter()
            .any(|(_, v)| has_episodes(&v.join("episodes")))
}

fn has_episodes(episodes: &Path) -> bool {
    numbered_subdirs(episodes, "episode", episodes)
        .iter()
        .any(|(_, e)| e.join(LOW_DIM_PICKLE).is_file())
}

fn episodes_in(
    episodes: &Path,
    root: &Path,
    prefix: &str,
    variation: Option<u32>,
) -> Vec<EpisodeDir> {
    numbered_subdirs(episodes, "episode", root)
        .into_iter()
        .filter(|(_, d)| d.join(LOW_DIM_PICKLE).is_file())
        .map(|(_, dir)| EpisodeDir {
            name: if prefix.is_empty() {
                file_name(&dir)
            } else {
                format!("{prefix}/{}", file_name(&dir))
            },
            dir,
            variation,
        })
        .collect()
}

/// Every episode folder below `root`, in layout order: a lone episode, the `episodes`
/// folder, `all_variations`, then each `variation<N>` by N, each by episode number.
pub fn find_episodes(root: &Path) -> Vec<EpisodeDir> {
    if root.join(LOW_DIM_PICKLE).is_file() {
        return vec![EpisodeDir {
            dir: root.to_owned(),
            name: file_name(root),
            variation: None,
        }];
    }
    let mut out = episodes_in(&root.join("episodes"), root, "", None);
    out.extend(episodes_in(
        &root.join("all_variations/episodes"),
        root,
        "all_variations",
        None,
    ));
    for (n, v) in numbered_subdirs(root, "variation", root) {
        out.extend(episodes_in(
            &v.join("episodes"),
            root,
            &format!("variation{n}"),
            Some(n),
        ));
    }
    out.truncate(MAX_EPISODES);
    out
}

/// Where an episode's instruction variants may be: its own folder (PerAct), then the
/// variation folder two levels up (RLBench's generator).
pub fn description_candidates(episode_dir: &Path) -> Vec<PathBuf> {
    let mut v = vec![episode_dir.join(DESCRIPTIONS_PICKLE)];
    if let Some(variation) = episode_dir.parent().and_then(Path::parent) {
        v.push(variation.join(DESCRIPTIONS_PICKLE));
    }
    v
}

/// The cameras stored in an episode folder: RLBench's five in its order, then any other
/// `<name>_rgb` folder by name.
pub fn cameras_in(episode_dir: &Path) -> Vec<String> {
    const KNOWN: [&str; 5] = [
        "front",
        "left_shoulder",
        "right_shoulder",
        "overhead",
        "wrist",
    ];
    let mut found: Vec<String> = KNOWN
        .iter()
        .filter(|c| episode_dir.join(format!("{c}_rgb")).is_dir())
        .map(|c| (*c).to_owned())
        .collect();
    let mut others: Vec<String> = std::fs::read_dir(episode_dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let cam = name.strip_suffix("_rgb")?.to_owned();
                    (e.path().is_dir() && !KNOWN.contains(&cam.as_str())).then_some(cam)
                })
                .collect()
        })
        .unwrap_or_default();
    others.sort();
    found.extend(others);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_names() {
        assert_eq!(numbered("episode12", "episode"), Some(12));
        assert_eq!(numbered("episode", "episode"), None);
        assert_eq!(numbered("episode1x", "episode"), None);
        assert_eq!(numbered("variation-1", "variation"), None);
        assert_eq!(numbered("episode99999999999999", "episode"), None);
    }
}
