//! Bookmarks across episodes: a step worth coming back to, with a tag and a note. They live
//! in one JSON file in the user's data folder ([`data_dir`]), grouped by dataset root path,
//! never inside a dataset. Written atomically; a missing file is no bookmarks, an unreadable
//! one is an error (the file is not overwritten until the user saves again).
//!
//! Exports: CSV, JSON, and the episode list LeRobot's tools take (`[0, 3, 7]`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// One bookmarked step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bookmark {
    /// The dataset's root folder (the key the file groups by).
    pub dataset_root: String,
    pub dataset: String,
    pub episode_index: usize,
    pub episode: String,
    pub step: usize,
    pub tag: String,
    pub note: String,
    /// Seconds since the Unix epoch.
    pub created_unix_s: u64,
}

/// Every bookmark, by dataset root.
pub type Bookmarks = BTreeMap<String, Vec<Bookmark>>;

/// Where spatialscope keeps user data: `$SPATIALSCOPE_DATA_DIR`, else the platform's data
/// folder (`$XDG_DATA_HOME` or `~/.local/share` on Linux, `~/Library/Application Support` on
/// macOS, `%APPDATA%` on Windows) with `spatialscope` appended.
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SPATIALSCOPE_DATA_DIR") {
        return PathBuf::from(d);
    }
    let home = || std::env::var_os("HOME").map(PathBuf::from);
    let base = if cfg!(target_os = "macos") {
        home().map(|h| h.join("Library/Application Support"))
    } else if cfg!(windows) {
        std::env::var_os("APPDATA").map(PathBuf::from)
    } else {
        std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| home().map(|h| h.join(".local/share")))
    };
    base.unwrap_or_else(std::env::temp_dir).join("spatialscope")
}

/// The bookmarks file in `dir`.
pub fn file_in(dir: &Path) -> PathBuf {
    dir.join("bookmarks.json")
}

/// Reads the bookmarks file (none when it does not exist).
pub fn load(file: &Path) -> anyhow::Result<Bookmarks> {
    match std::fs::read_to_string(file) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{}: not a bookmarks file", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Bookmarks::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", file.display())),
    }
}

/// Writes every bookmark, atomically.
pub fn save(file: &Path, all: &Bookmarks) -> anyhow::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(all)?;
    super::fs::write_atomically(file, |tmp| {
        std::fs::write(tmp, text).with_context(|| format!("cannot write {}", tmp.display()))
    })
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// CSV with a header line (RFC 4180 quoting).
pub fn to_csv(list: &[Bookmark]) -> String {
    let mut s =
        String::from("dataset_root,dataset,episode_index,episode,step,tag,note,created_unix_s\n");
    for b in list {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            csv_field(&b.dataset_root),
            csv_field(&b.dataset),
            b.episode_index,
            csv_field(&b.episode),
            b.step,
            csv_field(&b.tag),
            csv_field(&b.note),
            b.created_unix_s
        ));
    }
    s
}

/// The bookmarked episodes as LeRobot's tools take them: `[0, 3, 7]`.
pub fn lerobot_episode_list(list: &[Bookmark]) -> String {
    let mut e: Vec<usize> = list.iter().map(|b| b.episode_index).collect();
    e.sort_unstable();
    e.dedup();
    format!(
        "[{}]",
        e.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(i: usize, note: &str) -> Bookmark {
        Bookmark {
            dataset_root: "/data/x".into(),
            dataset: "x".into(),
            episode_index: i,
            episode: format!("episode_{i}"),
            step: 2,
            tag: "grasp".into(),
            note: note.into(),
            created_unix_s: 1,
        }
    }

    #[test]
    fn round_trip_csv_and_lerobot_list() {
        let dir = tempfile::tempdir().unwrap();
        let f = file_in(dir.path());
        assert!(load(&f).unwrap().is_empty());
        let mut all = Bookmarks::new();
        all.insert("/data/x".into(), vec![b(3, "slips, \"twice\""), b(1, "ok")]);
        save(&f, &all).unwrap();
        assert_eq!(load(&f).unwrap(), all);
        let csv = to_csv(&all["/data/x"]);
        assert!(csv.contains("\"slips, \"\"twice\"\"\""), "{csv}");
        assert_eq!(lerobot_episode_list(&all["/data/x"]), "[1, 3]");
        std::fs::write(&f, "{not json").unwrap();
        assert!(
            load(&f)
                .unwrap_err()
                .to_string()
                .contains("not a bookmarks file")
        );
    }
}
