//! A small classifier of images, trained on the training images and their labels, whose last
//! hidden layer is the feature space in which the blur chapter compares sets of images (its
//! analogue of the FID's Inception features).
//!
//! ```text
//! 784 -dense-> 256 -ReLU-dense-> 64 features -ReLU-dense-> 10 class logits
//! ```

use crate::data::Images;
use crate::prob::SeededRng;
use crate::train::{LossTerms, Model, RunConfig, Score, Step};
use candle_core::{D, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder, linear};
use serde::{Deserialize, Serialize};

/// Rows per chunk when a whole set is passed through the network.
const CHUNK: usize = 1000;

/// The chapter's run: 10 epochs of batches of 128, Adam at 1e-3.
pub const BOOK_RUN: RunConfig = RunConfig { epochs: 10, batch_size: 128, lr: 1e-3, seed: 42, patience: None };

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    pub input_dim: usize,
    pub hidden: usize,
    /// Width of the feature layer (the last hidden layer).
    pub features: usize,
    pub classes: usize,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        Self { input_dim: 784, hidden: 256, features: 64, classes: 10 }
    }
}

pub struct Classifier {
    hidden: Linear,
    features: Linear,
    out: Linear,
    pub cfg: ClassifierConfig,
}

impl Classifier {
    pub fn new(cfg: ClassifierConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            hidden: linear(cfg.input_dim, cfg.hidden, vb.pp("hidden"))?,
            features: linear(cfg.hidden, cfg.features, vb.pp("features"))?,
            out: linear(cfg.features, cfg.classes, vb.pp("out"))?,
            cfg,
        })
    }

    /// The feature layer's activations, `(batch, features)`.
    pub fn features(&self, x: &Tensor) -> Result<Tensor> {
        self.features.forward(&self.hidden.forward(x)?.relu()?)?.relu()
    }

    /// Class logits, `(batch, classes)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.out.forward(&self.features(x)?)
    }

    /// The features of every row of `x`, row after row, computed in chunks.
    pub fn features_of(&self, x: &Tensor) -> Result<Vec<f32>> {
        let n = x.dim(0)?;
        let mut out = Vec::with_capacity(n * self.cfg.features);
        for s in (0..n).step_by(CHUNK) {
            out.extend(self.features(&x.narrow(0, s, CHUNK.min(n - s))?)?.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(out)
    }

    /// The most probable class of every row of `x`.
    pub fn classify(&self, x: &Tensor) -> Result<Vec<u32>> {
        let n = x.dim(0)?;
        let mut out = Vec::with_capacity(n);
        for s in (0..n).step_by(CHUNK) {
            out.extend(self.forward(&x.narrow(0, s, CHUNK.min(n - s))?)?.argmax(D::Minus1)?.to_vec1::<u32>()?);
        }
        Ok(out)
    }

    /// Mean cross-entropy (nats) and error rate on `x` with `labels`.
    pub fn score(&self, x: &Tensor, labels: &[u8]) -> Result<(f64, f64)> {
        let n = x.dim(0)?;
        let (mut nll, mut wrong) = (0.0, 0usize);
        for s in (0..n).step_by(CHUNK) {
            let m = CHUNK.min(n - s);
            let logits = self.forward(&x.narrow(0, s, m)?)?;
            let y = label_tensor(&labels[s..s + m], x.device())?;
            nll += candle_nn::loss::cross_entropy(&logits, &y)?.to_scalar::<f32>()? as f64 * m as f64;
            let guess = logits.argmax(D::Minus1)?.to_vec1::<u32>()?;
            wrong += guess.iter().zip(&labels[s..s + m]).filter(|(g, l)| **g != **l as u32).count();
        }
        Ok((nll / n as f64, wrong as f64 / n as f64))
    }
}

fn label_tensor(labels: &[u8], dev: &candle_core::Device) -> Result<Tensor> {
    Tensor::from_vec(labels.iter().map(|&l| l as u32).collect::<Vec<_>>(), labels.len(), dev)
}

impl Model for Classifier {
    type Config = ClassifierConfig;
    type Data = Images;
    const NAME: &'static str = "classifier";

    fn new(cfg: &ClassifierConfig, vb: VarBuilder) -> Result<Self> {
        Classifier::new(*cfg, vb)
    }

    fn rows(data: &Images) -> usize {
        data.train_labels.len()
    }

    /// Mean cross-entropy of a batch of training images.
    fn loss(&self, _cfg: &ClassifierConfig, data: &Images, at: Step, _noise: &mut SeededRng) -> Result<LossTerms> {
        let logits = self.forward(&data.batch(at.rows)?)?;
        let y = label_tensor(&data.batch_labels(at.rows), logits.device())?;
        Ok(LossTerms::plain(candle_nn::loss::cross_entropy(&logits, &y)?))
    }

    fn evaluate(&self, _cfg: &ClassifierConfig, data: &Images, _seed: u64) -> Result<Score> {
        let (nll, error) = self.score(&data.test, &data.test_labels)?;
        Ok(Score { loss: nll, terms: vec![("error".into(), error)] })
    }
}
