//! The IDX file format of MNIST: a big-endian header (magic, item count, dimensions), then bytes.
//!
//! Images use magic 2051 (`0x00000803`: unsigned bytes, 3 dimensions), labels magic 2049
//! (`0x00000801`: unsigned bytes, 1 dimension). Files may be gzip'd (`.gz`, detected by content).
//! Every check names the file and the problem, so a truncated download never becomes a panic.

use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

pub const IMAGES_MAGIC: u32 = 2051;
pub const LABELS_MAGIC: u32 = 2049;

#[derive(Debug, thiserror::Error)]
pub enum IdxError {
    #[error("{path}: cannot read the file: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a valid gzip stream: {source}")]
    Gzip { path: PathBuf, source: std::io::Error },
    #[error("{path}: file too short for an IDX header ({len} bytes; need {need})")]
    ShortHeader { path: PathBuf, len: usize, need: usize },
    #[error("{path}: wrong magic number {found} (expected {expected}: {what})")]
    BadMagic { path: PathBuf, found: u32, expected: u32, what: &'static str },
    #[error("{path}: bad dimensions {rows}x{cols} (expected positive sizes)")]
    BadDims { path: PathBuf, rows: u32, cols: u32 },
    #[error("{path}: truncated or oversized: header promises {expected} data bytes, file has {found}")]
    Length { path: PathBuf, expected: usize, found: usize },
    #[error("{path}: label {label} at index {index} is not a class 0-9")]
    BadLabel { path: PathBuf, index: usize, label: u8 },
    #[error("{images} has {n_images} images but {labels} has {n_labels} labels")]
    CountMismatch { images: PathBuf, n_images: usize, labels: PathBuf, n_labels: usize },
}

/// Images as raw bytes, row-major: image `i` is `pixels[i * rows * cols..(i + 1) * rows * cols]`.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxImages {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
}

/// One byte per item.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxLabels {
    pub labels: Vec<u8>,
}

/// Reads a whole file, un-gzipping it when it starts with the gzip magic bytes.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, IdxError> {
    let raw = std::fs::read(path).map_err(|source| IdxError::Io { path: path.into(), source })?;
    decode_maybe_gz(raw, path)
}

/// Un-gzips `raw` if it is gzip'd; `path` only names the source in errors.
pub fn decode_maybe_gz(raw: Vec<u8>, path: &Path) -> Result<Vec<u8>, IdxError> {
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|source| IdxError::Gzip { path: path.into(), source })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn header(bytes: &[u8], path: &Path, need: usize, magic: u32, what: &'static str) -> Result<(), IdxError> {
    // The magic number first: "this is a label file" says more than "the header is short".
    if bytes.len() >= 4 {
        let found = be_u32(bytes, 0);
        if found != magic {
            return Err(IdxError::BadMagic { path: path.into(), found, expected: magic, what });
        }
    }
    if bytes.len() < need {
        return Err(IdxError::ShortHeader { path: path.into(), len: bytes.len(), need });
    }
    Ok(())
}

fn check_len(bytes: &[u8], path: &Path, header: usize, expected: usize) -> Result<(), IdxError> {
    let found = bytes.len() - header;
    if found != expected {
        return Err(IdxError::Length { path: path.into(), expected, found });
    }
    Ok(())
}

/// Parses an image file's bytes (already un-gzipped).
pub fn parse_images(bytes: &[u8], path: &Path) -> Result<IdxImages, IdxError> {
    header(bytes, path, 16, IMAGES_MAGIC, "an image file, unsigned bytes in 3 dimensions")?;
    let (count, rows, cols) = (be_u32(bytes, 4), be_u32(bytes, 8), be_u32(bytes, 12));
    if rows == 0 || cols == 0 {
        return Err(IdxError::BadDims { path: path.into(), rows, cols });
    }
    let (count, rows, cols) = (count as usize, rows as usize, cols as usize);
    check_len(bytes, path, 16, count * rows * cols)?;
    Ok(IdxImages { count, rows, cols, pixels: bytes[16..].to_vec() })
}

/// Parses a label file's bytes (already un-gzipped); labels must be digit classes 0-9.
pub fn parse_labels(bytes: &[u8], path: &Path) -> Result<IdxLabels, IdxError> {
    header(bytes, path, 8, LABELS_MAGIC, "a label file, unsigned bytes in 1 dimension")?;
    let count = be_u32(bytes, 4) as usize;
    check_len(bytes, path, 8, count)?;
    let labels = bytes[8..].to_vec();
    if let Some((index, &label)) = labels.iter().enumerate().find(|(_, l)| **l > 9) {
        return Err(IdxError::BadLabel { path: path.into(), index, label });
    }
    Ok(IdxLabels { labels })
}

pub fn read_images(path: &Path) -> Result<IdxImages, IdxError> {
    parse_images(&read_maybe_gz(path)?, path)
}

pub fn read_labels(path: &Path) -> Result<IdxLabels, IdxError> {
    parse_labels(&read_maybe_gz(path)?, path)
}

/// Serialises images to IDX bytes (the inverse of [`parse_images`]).
pub fn encode_images(images: &IdxImages) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + images.pixels.len());
    for v in [IMAGES_MAGIC, images.count as u32, images.rows as u32, images.cols as u32] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&images.pixels);
    out
}

/// Serialises labels to IDX bytes (the inverse of [`parse_labels`]).
pub fn encode_labels(labels: &IdxLabels) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.labels.len());
    out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&(labels.labels.len() as u32).to_be_bytes());
    out.extend_from_slice(&labels.labels);
    out
}
