//! Image data as the trainer's models read it: grey levels in tensors with their labels, and
//! digits binarized anew at every epoch (the IWAE's "dynamic binarization").

use super::{Dataset, Mnist};
use crate::prob::SeededRng;
use candle_core::{DType, Device, Result, Tensor};
use std::cell::RefCell;

/// A training and a test set of images, `(n, pixels)` grey levels in [0, 1], with their labels.
pub struct Images {
    pub train: Tensor,
    pub test: Tensor,
    pub train_labels: Vec<u8>,
    pub test_labels: Vec<u8>,
}

impl Images {
    pub fn new(train: &Dataset, test: &Dataset, dev: &Device) -> Result<Self> {
        Ok(Self {
            train: train.images(dev)?,
            test: test.images(dev)?,
            train_labels: train.labels.clone(),
            test_labels: test.labels.clone(),
        })
    }

    pub fn from_mnist(data: &Mnist, dev: &Device) -> Result<Self> {
        Self::new(&data.train, &data.test, dev)
    }

    /// The training images of `rows`, `(rows.len(), pixels)`.
    pub fn batch(&self, rows: &[u32]) -> Result<Tensor> {
        self.train.index_select(&Tensor::from_slice(rows, rows.len(), self.train.device())?, 0)
    }

    /// The labels of training `rows`.
    pub fn batch_labels(&self, rows: &[u32]) -> Vec<u8> {
        rows.iter().map(|&r| self.train_labels[r as usize]).collect()
    }
}

/// Pixels 0-255 to 0/1 values: each pixel is 1 with probability `value / 255`.
pub fn binarize(pixels: &[u8], rng: &mut SeededRng) -> Result<Vec<f32>> {
    let u = rng.uniform_vec(pixels.len(), 0.0, 1.0)?;
    Ok(pixels.iter().zip(u).map(|(&p, u)| if u < p as f32 / 255.0 { 1.0 } else { 0.0 }).collect())
}

/// Binarized test images `(n, dim)` with a fixed seed, the same for every model.
pub fn binarized_images(pixels: &[u8], dim: usize, seed: u64, dev: &Device) -> Result<Tensor> {
    let values = binarize(pixels, &mut SeededRng::derived(seed, "test-binarization", 0))?;
    Tensor::from_vec(values, (pixels.len() / dim, dim), dev)?.to_dtype(DType::F32)
}

/// Training digits binarized anew at each epoch (from `seed` and the epoch), and test digits
/// binarized once: how likelihoods on MNIST are made comparable with Burda et al.
pub struct BinarizedImages {
    train: Vec<u8>,
    pub dim: usize,
    seed: u64,
    pub test: Tensor,
    pub test_labels: Vec<u8>,
    /// The epoch whose binarization is held, and its values.
    current: RefCell<(usize, Vec<f32>)>,
}

impl BinarizedImages {
    /// `seed` fixes both the test binarization and every epoch's.
    pub fn new(train: &Dataset, test: &Dataset, seed: u64, dev: &Device) -> Result<Self> {
        let dim = train.image_size();
        Ok(Self {
            train: train.pixels.clone(),
            dim,
            seed,
            test: binarized_images(&test.pixels, dim, seed, dev)?,
            test_labels: test.labels.clone(),
            current: RefCell::new((0, Vec::new())),
        })
    }

    pub fn train_len(&self) -> usize {
        self.train.len() / self.dim.max(1)
    }

    /// Training `rows` as binarized in `epoch`, `(rows.len(), dim)`.
    pub fn batch(&self, epoch: usize, rows: &[u32]) -> Result<Tensor> {
        let mut current = self.current.borrow_mut();
        if current.0 != epoch {
            *current = (epoch, binarize(&self.train, &mut SeededRng::derived(self.seed, "binarize", epoch as u64))?);
        }
        let d = self.dim;
        let mut values = Vec::with_capacity(rows.len() * d);
        for &i in rows {
            values.extend_from_slice(&current.1[i as usize * d..(i as usize + 1) * d]);
        }
        Tensor::from_vec(values, (rows.len(), d), self.test.device())
    }
}
