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

/// Prints Markdown (a table, a note) so that an evcxr notebook renders it.
pub fn show_markdown(md: &str) {
    println!("EVCXR_BEGIN_CONTENT text/markdown\n{}\nEVCXR_END_CONTENT", md.trim_end());
}

/// Shows a PNG file with its caption under it, as the book's figures are.
pub fn show_figure(path: impl AsRef<Path>, caption: &str) -> std::io::Result<()> {
    let bytes = std::fs::read(path.as_ref())?;
    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
    let caption = caption.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    println!(
        "EVCXR_BEGIN_CONTENT text/html\n<figure><img src=\"data:image/png;base64,{data}\">\
         <figcaption>{caption}</figcaption></figure>\nEVCXR_END_CONTENT"
    );
    Ok(())
}
