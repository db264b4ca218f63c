//! Atomic file writes: the content goes to `<name>.partial` in the same folder (same file
//! system, so the rename is atomic) and is renamed into place only when complete; on failure
//! the partial file is removed. A reader never sees a half-written file under the final name.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// `file` with `.partial` appended to its name (`view.png` -> `view.png.partial`).
pub fn partial_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    file.with_file_name(name)
}

/// Runs `write` on the partial path, then renames it to `file`.
pub fn write_atomically(
    file: &Path,
    write: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let tmp = partial_path(file);
    if let Err(e) = write(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, file)
        .with_context(|| format!("cannot move {} into place", file.display()))
}

/// Writes an RGBA image as PNG, atomically.
pub fn write_png_atomically(img: &image::RgbaImage, file: &Path) -> anyhow::Result<()> {
    write_atomically(file, |tmp| {
        img.save_with_format(tmp, image::ImageFormat::Png)
            .with_context(|| format!("cannot write {}", tmp.display()))
    })
}
