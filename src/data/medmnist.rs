//! Images in the MedMNIST format (Yang et al. 2023): one NumPy `.npz` archive per data set, holding
//! `train_images`, `train_labels`, `val_images`, `val_labels`, `test_images` and `test_labels`,
//! images as unsigned bytes `(n, side, side)` (grey) or `(n, side, side, 3)` (colour), labels as
//! integers `(n, 1)` (or `(n, k)` for multi-label sets). The book embeds none of them (their
//! packages download the files at run time); this reads one that a reader has downloaded, into the
//! same [`Mnist`] the image models train on: colour becomes grey (the mean of the three channels,
//! rounded), the label is the first column, and the validation split is not used.

use super::{Dataset, Mnist};
use candle_core::{DType, Tensor};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum MedMnistError {
    #[error("{file}: not a readable .npz archive with {array}: {msg}")]
    Read { file: String, array: String, msg: String },
    #[error("{file}: {array} {msg}")]
    Shape { file: String, array: String, msg: String },
}

/// The training and test splits of the MedMNIST-format archive at `path`.
pub fn load(path: &Path) -> Result<Mnist, MedMnistError> {
    Ok(Mnist {
        train: split(path, "train")?,
        test: split(path, "test")?,
        source: format!("MedMNIST-format archive {}", path.display()),
    })
}

fn split(path: &Path, name: &str) -> Result<Dataset, MedMnistError> {
    let file = path.display().to_string();
    let (images_name, labels_name) = (format!("{name}_images"), format!("{name}_labels"));
    let read = |array: &str| -> Result<Tensor, MedMnistError> {
        let mut found = Tensor::read_npz_by_name(path, &[array]).map_err(|e| MedMnistError::Read {
            file: file.clone(),
            array: array.into(),
            msg: e.to_string(),
        })?;
        Ok(found.remove(0))
    };
    let shape = |array: &str, msg: String| MedMnistError::Shape { file: file.clone(), array: array.into(), msg };
    let (images, labels) = (read(&images_name)?, read(&labels_name)?);
    let (pixels, side) = grey_pixels(&images).map_err(|msg| shape(&images_name, msg))?;
    let labels = first_labels(&labels).map_err(|msg| shape(&labels_name, msg))?;
    let count = pixels.len() / (side * side).max(1);
    if labels.len() != count {
        return Err(shape(&labels_name, format!("has {} labels for {count} images", labels.len())));
    }
    Ok(Dataset { pixels, labels, rows: side, cols: side })
}

/// The images' bytes, grey, and their side; colour images become the rounded mean of their channels.
fn grey_pixels(images: &Tensor) -> Result<(Vec<u8>, usize), String> {
    if images.dtype() != DType::U8 {
        return Err(format!("must hold unsigned bytes (uint8), found {:?}", images.dtype()));
    }
    let dims = images.dims().to_vec();
    let ok = matches!(dims.as_slice(), [_, h, w] | [_, h, w, 3] if h == w && *h > 0);
    if !ok {
        return Err(format!("must be (n, side, side) or (n, side, side, 3), found {dims:?}"));
    }
    let bytes = images.flatten_all().and_then(|t| t.to_vec1::<u8>()).map_err(|e| e.to_string())?;
    let pixels = if dims.len() == 4 {
        bytes.chunks_exact(3).map(|c| ((c[0] as u16 + c[1] as u16 + c[2] as u16 + 1) / 3) as u8).collect()
    } else {
        bytes
    };
    Ok((pixels, dims[1]))
}

/// The first column of integer labels `(n, k)` or `(n,)`, each between 0 and 255.
fn first_labels(labels: &Tensor) -> Result<Vec<u8>, String> {
    let column = match labels.dims() {
        [_] => labels.clone(),
        [_, k] if *k > 0 => labels.narrow(1, 0, 1).and_then(|t| t.flatten_all()).map_err(|e| e.to_string())?,
        dims => return Err(format!("must be (n,) or (n, k), found {dims:?}")),
    };
    let values = column.to_dtype(DType::F64).and_then(|t| t.to_vec1::<f64>()).map_err(|e| e.to_string())?;
    values
        .into_iter()
        .map(|v| {
            if v.fract() == 0.0 && (0.0..=255.0).contains(&v) { Ok(v as u8) } else { Err(format!("has the label {v}")) }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn bytes(shape: &[usize], f: impl Fn(usize) -> u8) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor::from_vec((0..n).map(f).collect::<Vec<u8>>(), shape, &Device::Cpu).unwrap()
    }

    fn labels(values: &[i64]) -> Tensor {
        Tensor::from_slice(values, (values.len(), 1), &Device::Cpu).unwrap()
    }

    /// A file written as NumPy's `savez_compressed` writes it: each array deflated in the archive.
    fn write_compressed(path: &Path, arrays: &[(&str, &Tensor)]) {
        let plain = path.with_extension("plain.npz");
        Tensor::write_npz(arrays, &plain).unwrap();
        let mut from = zip::ZipArchive::new(std::fs::File::open(&plain).unwrap()).unwrap();
        let mut to = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
        let deflated: zip::write::FileOptions<()> =
            zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for i in 0..from.len() {
            let mut entry = from.by_index(i).unwrap();
            let name = entry.name().unwrap().to_string();
            to.start_file(name, deflated).unwrap();
            std::io::copy(&mut entry, &mut to).unwrap();
        }
        to.finish().unwrap();
    }

    #[test]
    fn reads_grey_and_colour_archives_compressed_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let grey = bytes(&[3, 4, 4], |i| (i * 5 % 256) as u8);
        let colour = bytes(&[2, 4, 4, 3], |i| (i % 256) as u8);
        let (train_labels, test_labels) = (labels(&[0, 2, 1]), labels(&[1, 1]));
        for compressed in [false, true] {
            let path = dir.path().join(format!("set-{compressed}.npz"));
            let arrays = [
                ("train_images", &grey),
                ("train_labels", &train_labels),
                ("test_images", &colour),
                ("test_labels", &test_labels),
            ];
            if compressed {
                write_compressed(&path, &arrays)
            } else {
                Tensor::write_npz(&arrays, &path).unwrap()
            }
            let m = load(&path).unwrap();
            assert_eq!((m.train.rows, m.train.cols, m.train.labels.clone()), (4, 4, vec![0, 2, 1]));
            assert_eq!(m.train.pixels, grey.flatten_all().unwrap().to_vec1::<u8>().unwrap());
            // Colour: the first pixel's channels are 0, 1, 2, so its grey level is 1.
            assert_eq!((m.test.pixels.len(), m.test.pixels[0], m.test.labels.clone()), (2 * 16, 1, vec![1, 1]));
        }
    }

    #[test]
    fn bad_archives_are_one_line_errors_naming_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.npz");
        let err = |arrays: &[(&str, &Tensor)]| {
            Tensor::write_npz(arrays, &path).unwrap();
            load(&path).unwrap_err().to_string()
        };
        let (images, two) = (bytes(&[2, 4, 4], |_| 7), labels(&[0, 1]));
        let missing = err(&[("train_images", &images), ("train_labels", &two)]);
        assert!(missing.contains("test_images") && missing.starts_with(&path.display().to_string()), "{missing}");
        let floats = images.to_dtype(DType::F32).unwrap();
        let e = err(&[("train_images", &floats), ("train_labels", &two)]);
        assert!(e.contains("train_images must hold unsigned bytes"), "{e}");
        let oblong = bytes(&[2, 4, 5], |_| 7);
        let e = err(&[("train_images", &oblong), ("train_labels", &two)]);
        assert!(e.contains("must be (n, side, side)"), "{e}");
        let e = err(&[("train_images", &images), ("train_labels", &labels(&[0, 1, 2]))]);
        assert!(e.contains("has 3 labels for 2 images"), "{e}");
        let e = err(&[("train_images", &images), ("train_labels", &labels(&[0, 300]))]);
        assert!(e.contains("has the label 300"), "{e}");
        std::fs::write(&path, b"not a zip").unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("not a readable .npz archive"), "{e}");
    }
}
