//! The IDX reader: round trips, and a clear error for every kind of broken file.

use std::io::Write;
use std::path::Path;
use vae_book::data::Mnist;
use vae_book::data::idx::{self, IdxError, IdxImages, IdxLabels};

fn sample_images(count: usize) -> IdxImages {
    IdxImages { count, rows: 28, cols: 28, pixels: (0..count * 784).map(|i| (i % 251) as u8).collect() }
}

fn sample_labels(count: usize) -> IdxLabels {
    IdxLabels { labels: (0..count).map(|i| (i % 10) as u8).collect() }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Writes a full MNIST-style folder; `gz` picks gzip'd files.
fn write_dir(dir: &Path, n_train: usize, n_test: usize, gz: bool) {
    let files = [
        ("train-images-idx3-ubyte", idx::encode_images(&sample_images(n_train))),
        ("train-labels-idx1-ubyte", idx::encode_labels(&sample_labels(n_train))),
        ("t10k-images-idx3-ubyte", idx::encode_images(&sample_images(n_test))),
        ("t10k-labels-idx1-ubyte", idx::encode_labels(&sample_labels(n_test))),
    ];
    for (name, bytes) in files {
        if gz {
            std::fs::write(dir.join(format!("{name}.gz")), gzip(&bytes)).unwrap();
        } else {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

#[test]
fn images_and_labels_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let images = sample_images(5);
    let labels = sample_labels(5);
    let ip = dir.path().join("i");
    let lp = dir.path().join("l.gz");
    std::fs::write(&ip, idx::encode_images(&images)).unwrap();
    std::fs::write(&lp, gzip(&idx::encode_labels(&labels))).unwrap();
    assert_eq!(idx::read_images(&ip).unwrap(), images);
    assert_eq!(idx::read_labels(&lp).unwrap(), labels);
}

#[test]
fn truncated_file_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("train-images-idx3-ubyte");
    let mut bytes = idx::encode_images(&sample_images(3));
    bytes.truncate(bytes.len() - 100);
    std::fs::write(&p, bytes).unwrap();
    let e = idx::read_images(&p).unwrap_err();
    assert!(matches!(e, IdxError::Length { expected: 2352, found: 2252, .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("train-images-idx3-ubyte") && msg.contains("truncated"), "{msg}");
}

#[test]
fn short_header_and_wrong_magic_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x");
    std::fs::write(&p, [0u8, 0, 8]).unwrap();
    assert!(matches!(idx::read_images(&p).unwrap_err(), IdxError::ShortHeader { len: 3, .. }));
    // A label file handed to the image reader.
    std::fs::write(&p, idx::encode_labels(&sample_labels(4))).unwrap();
    let e = idx::read_images(&p).unwrap_err();
    assert!(matches!(e, IdxError::BadMagic { found: 2049, expected: 2051, .. }), "{e:?}");
    assert!(e.to_string().contains("wrong magic number 2049"), "{e}");
}

#[test]
fn corrupt_gzip_and_bad_labels_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.gz");
    let mut bytes = gzip(&idx::encode_images(&sample_images(2)));
    let n = bytes.len();
    bytes.truncate(n / 2);
    std::fs::write(&p, bytes).unwrap();
    assert!(matches!(idx::read_images(&p).unwrap_err(), IdxError::Gzip { .. }));
    let mut labels = idx::encode_labels(&sample_labels(3));
    labels[9] = 42;
    std::fs::write(&p, labels).unwrap();
    assert!(matches!(idx::read_labels(&p).unwrap_err(), IdxError::BadLabel { index: 1, label: 42, .. }));
}

#[test]
fn folder_of_files_loads_plain_or_gzipped() {
    for gz in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), 7, 3, gz);
        let data = Mnist::from_dir(dir.path()).unwrap();
        assert_eq!((data.train.len(), data.test.len(), data.train.image_size()), (7, 3, 784));
        assert_eq!(data.test.labels, vec![0, 1, 2]);
    }
}

#[test]
fn mismatched_counts_and_missing_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_dir(dir.path(), 7, 3, false);
    std::fs::write(dir.path().join("t10k-labels-idx1-ubyte"), idx::encode_labels(&sample_labels(4))).unwrap();
    let e = Mnist::from_dir(dir.path()).unwrap_err();
    assert!(matches!(e, IdxError::CountMismatch { n_images: 3, n_labels: 4, .. }), "{e:?}");
    std::fs::remove_file(dir.path().join("train-images-idx3-ubyte")).unwrap();
    let msg = Mnist::from_dir(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("neither train-images-idx3-ubyte nor train-images-idx3-ubyte.gz"), "{msg}");
}

#[test]
fn embedded_subset_is_the_documented_split() {
    let data = Mnist::embedded().unwrap();
    assert_eq!((data.train.len(), data.test.len()), (9000, 1000));
    let mut per_class = [0; 10];
    for &l in &data.test.labels {
        per_class[l as usize] += 1;
    }
    assert_eq!(per_class, [100; 10], "the test set is class-balanced");
    // Real digits: mostly background with some ink, and every byte value range used.
    let ink = data.train.pixels.iter().filter(|&&p| p > 127).count() as f64 / data.train.pixels.len() as f64;
    assert!((0.05..0.3).contains(&ink), "fraction of inked pixels {ink}");
    assert_eq!(data.train.pixels.iter().max(), Some(&255));
}

#[test]
fn embedded_fashion_is_the_documented_split_of_real_clothes() {
    let data = Mnist::fashion().unwrap();
    assert_eq!((data.train.len(), data.test.len()), (9000, 1000));
    assert_eq!((data.train.rows, data.train.cols), (28, 28));
    for (set, per) in [(&data.train, 900), (&data.test, 100)] {
        let mut per_class = [0; 10];
        for &l in &set.labels {
            per_class[l as usize] += 1;
        }
        assert_eq!(per_class, [per; 10], "both sets are class-balanced");
        // Interleaved round-robin: any ten consecutive images hold one of each class.
        assert_eq!(&set.labels[..10], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }
    // Clothes are brighter than digits: Fashion-MNIST's mean is 0.286 of full scale, MNIST's 0.13.
    let mean = data.train.pixels.iter().map(|&p| p as f64).sum::<f64>() / data.train.pixels.len() as f64 / 255.0;
    assert!((0.26..0.31).contains(&mean), "mean pixel {mean}");
    let digits = Mnist::embedded().unwrap();
    assert_ne!(data.train.pixels[..784], digits.train.pixels[..784]);
    // No test image is a copy of a training image (the package has a few duplicates; the script skips them).
    let train: std::collections::HashSet<&[u8]> = data.train.pixels.chunks(784).collect();
    assert!(data.test.pixels.chunks(784).all(|img| !train.contains(img)), "a test image is also in the training set");
    // Trousers (1) are narrow and tall: their middle column is darker than a T-shirt's (0) in the mean image.
    let mean_at = |class: u8, pixel: usize| {
        let imgs: Vec<&[u8]> = data
            .train
            .pixels
            .chunks(784)
            .zip(&data.train.labels)
            .filter(|(_, l)| **l == class)
            .map(|(i, _)| i)
            .collect();
        imgs.iter().map(|i| i[pixel] as f64).sum::<f64>() / imgs.len() as f64
    };
    let between_the_legs = 22 * 28 + 14;
    assert!(
        mean_at(1, between_the_legs) < 0.5 * mean_at(3, between_the_legs),
        "class 1 is not trousers, 3 not dresses"
    );
}

#[test]
fn image_sets_are_named_as_the_command_line_names_them() {
    use vae_book::data::ImageSet;
    for set in ImageSet::ALL {
        assert_eq!(ImageSet::from_name(set.name()), Some(set));
        assert!(Mnist::open(set, None).unwrap().source.contains(if set == ImageSet::Fashion {
            "Fashion"
        } else {
            "MNIST"
        }));
    }
    assert_eq!(ImageSet::from_name("cifar"), None);
    assert_eq!(ImageSet::Fashion.class_names()[9], "ankle boot");
}

/// The early-stopping holdout takes the same number of digits from every class, the last ones of
/// each class, and leaves every other digit for training; a plain suffix would hold no 5s.
#[test]
fn balanced_holdout_takes_each_class_equally() {
    let train = Mnist::embedded().unwrap().train;
    let suffix = &train.labels[train.len() - 1000..];
    assert!(!suffix.contains(&5), "the suffix this replaces is skewed");
    let (keep, valid) = train.balanced_holdout(1000).unwrap();
    assert_eq!((keep.len(), valid.len()), (8000, 1000));
    for class in 0..10u8 {
        assert_eq!(valid.iter().filter(|&&i| train.labels[i] == class).count(), 100, "class {class}");
        let last_kept = keep.iter().rev().find(|&&i| train.labels[i] == class).unwrap();
        let first_held = valid.iter().find(|&&i| train.labels[i] == class).unwrap();
        assert!(last_kept < first_held, "class {class}: the held-out digits are the class's last");
    }
    let mut all: Vec<usize> = keep.iter().chain(&valid).copied().collect();
    all.sort();
    assert_eq!(all, (0..train.len()).collect::<Vec<_>>());
    assert_eq!(train.select(&valid).labels, valid.iter().map(|&i| train.labels[i]).collect::<Vec<_>>());
    for (n, why) in [(1001, "multiple of 10"), (9000, "class 2 has fewer than the 900")] {
        let err = train.balanced_holdout(n).unwrap_err();
        assert!(err.contains(why), "{n}: {err}");
    }
}
