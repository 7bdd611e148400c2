//! Showing figures inline in Jupyter: evcxr displays whatever a cell prints between its
//! `EVCXR_BEGIN_CONTENT <mime>` and `EVCXR_END_CONTENT` markers.

use base64::Engine;
use std::path::Path;

/// Prints a PNG file so that an evcxr notebook shows it as an image.
pub fn show_png(path: impl AsRef<Path>) -> std::io::Result<()> {
    let bytes = std::fs::read(path.as_ref())?;
    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
    println!("EVCXR_BEGIN_CONTENT image/png\n{data}\nEVCXR_END_CONTENT");
    Ok(())
}
