//! spatialscope never writes into a user's data: every output path is checked against the
//! open datasets' folders before anything is written. The nearest existing ancestor of the
//! output is resolved (symlinks included), so a folder or file that does not exist yet is
//! checked too, and a link into a dataset does not get around the rule.

use std::path::{Path, PathBuf};

/// An output that would land inside a dataset folder.
#[derive(Debug, thiserror::Error)]
#[error(
    "refusing to write {} inside the dataset folder {}; spatialscope never writes into datasets",
    out.display(),
    root.display()
)]
pub struct InsideDataset {
    pub out: PathBuf,
    pub root: PathBuf,
}

/// Refuses `out` when it is inside any of `roots`.
pub fn ensure_outside<'a>(
    out: &Path,
    roots: impl IntoIterator<Item = &'a Path>,
) -> Result<(), InsideDataset> {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    let base = if out.is_relative() && out.parent().is_none_or(|p| p.as_os_str().is_empty()) {
        Path::new(".")
    } else {
        out.ancestors()
            .find(|p| p.exists())
            .unwrap_or(Path::new("."))
    };
    let out_abs = canonical(base);
    for root in roots {
        let root = canonical(root);
        if out_abs.starts_with(&root) {
            return Err(InsideDataset {
                out: out.to_owned(),
                root,
            });
        }
    }
    Ok(())
}
