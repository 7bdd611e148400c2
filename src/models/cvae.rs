//! The conditional VAE (Sohn, Lee & Yan 2015), class-conditional form: the encoder and the decoder
//! both see the label `y` (one-hot), so the code `z` only has to describe what the label does not:
//! the style of the digit.
//!
//! `q(z | x, y) = N(mu(x, y), diag(exp(logvar(x, y))))`, `p(z) = N(0, I)`, `p(x | z, y)` Bernoulli.

use crate::data::Images;
use crate::estimators;
use crate::models::vae::{VaeOutput, negative_elbo};
use crate::prob::{self, SeededRng};
use crate::train::{LossTerms, Model, Score, Step};
use candle_core::{Device, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CvaeConfig {
    pub input_dim: usize,
    pub hidden: usize,
    pub latent_dim: usize,
    pub classes: usize,
}

impl Default for CvaeConfig {
    fn default() -> Self {
        Self { input_dim: 784, hidden: 400, latent_dim: 2, classes: 10 }
    }
}

// ANCHOR: model
pub struct Cvae {
    hidden: Linear,
    mu: Linear,
    logvar: Linear,
    dec_hidden: Linear,
    dec_out: Linear,
    pub cfg: CvaeConfig,
}

impl Cvae {
    pub fn new(cfg: CvaeConfig, vb: VarBuilder) -> Result<Self> {
        let (enc, dec) = (vb.pp("encoder"), vb.pp("decoder"));
        Ok(Self {
            hidden: candle_nn::linear(cfg.input_dim + cfg.classes, cfg.hidden, enc.pp("hidden"))?,
            mu: candle_nn::linear(cfg.hidden, cfg.latent_dim, enc.pp("mu"))?,
            logvar: candle_nn::linear(cfg.hidden, cfg.latent_dim, enc.pp("logvar"))?,
            dec_hidden: candle_nn::linear(cfg.latent_dim + cfg.classes, cfg.hidden, dec.pp("hidden"))?,
            dec_out: candle_nn::linear(cfg.hidden, cfg.input_dim, dec.pp("out"))?,
            cfg,
        })
    }

    /// `q(z | x, y)`: the label is appended to the pixels.
    pub fn encode(&self, x: &Tensor, y: &Tensor) -> Result<(Tensor, Tensor)> {
        let h = self.hidden.forward(&Tensor::cat(&[x, y], 1)?)?.relu()?;
        Ok((self.mu.forward(&h)?, self.logvar.forward(&h)?))
    }

    /// Logits of `p(x | z, y)`: the label is appended to the code.
    pub fn decode(&self, z: &Tensor, y: &Tensor) -> Result<Tensor> {
        self.dec_out.forward(&self.dec_hidden.forward(&Tensor::cat(&[z, y], 1)?)?.relu()?)
    }

    pub fn forward(&self, x: &Tensor, y: &Tensor, eps: &Tensor) -> Result<VaeOutput> {
        let (mu, logvar) = self.encode(x, y)?;
        let z = prob::reparameterize(&mu, &logvar, eps)?;
        let logits = self.decode(&z, y)?;
        Ok(VaeOutput { logits, mu, logvar, z })
    }
}
// ANCHOR_END: model

/// One-hot rows for `labels`, `(n, classes)`.
pub fn one_hot(labels: &[u8], classes: usize, dev: &Device) -> Result<Tensor> {
    let mut v = vec![0f32; labels.len() * classes];
    for (i, &l) in labels.iter().enumerate() {
        if (l as usize) >= classes {
            candle_core::bail!("label {l} at row {i} is not below the {classes} classes");
        }
        v[i * classes + l as usize] = 1.0;
    }
    Tensor::from_vec(v, (labels.len(), classes), dev)
}

impl Model for Cvae {
    type Config = CvaeConfig;
    type Data = Images;
    const NAME: &'static str = "cvae";

    fn new(cfg: &CvaeConfig, vb: VarBuilder) -> Result<Self> {
        Cvae::new(*cfg, vb)
    }

    fn rows(data: &Images) -> usize {
        data.train_labels.len()
    }

    /// The negative ELBO of `-log p(x | y)` for a batch of grey-level training images (per image).
    fn loss(&self, cfg: &CvaeConfig, data: &Images, at: Step, noise: &mut SeededRng) -> Result<LossTerms> {
        let x = data.batch(at.rows)?;
        let y = one_hot(&data.batch_labels(at.rows), cfg.classes, x.device())?;
        let eps = noise.normal(&[at.rows.len(), cfg.latent_dim], x.device())?;
        let l = negative_elbo(&x, &self.forward(&x, &y, &eps)?)?;
        Ok(LossTerms::new(l.total, vec![("recon", l.recon), ("kl", l.kl)]))
    }

    fn evaluate(&self, _cfg: &CvaeConfig, data: &Images, seed: u64) -> Result<Score> {
        Ok(Score { loss: evaluate(self, &data.test, &data.test_labels, seed)?, terms: Vec::new() })
    }
}

/// The test negative ELBO `-log p(x | y)` bound, one sample per image with noise from `seed`.
pub fn evaluate(model: &Cvae, x: &Tensor, labels: &[u8], seed: u64) -> Result<f64> {
    let y = one_hot(labels, model.cfg.classes, x.device())?;
    let eps = SeededRng::derived(seed, "eval", 0).normal(&[x.dim(0)?, model.cfg.latent_dim], x.device())?;
    negative_elbo(x, &model.forward(x, &y, &eps)?)?.total.to_scalar::<f32>().map(f64::from)
}

/// Pixel probabilities for every `(label, z)` pair: `labels.len() * z.dim(0)` images, label-major.
pub fn generate(model: &Cvae, labels: &[u8], z: &Tensor) -> Result<Tensor> {
    let k = z.dim(0)?;
    let mut rows = Vec::new();
    for &l in labels {
        let y = one_hot(&vec![l; k], model.cfg.classes, z.device())?;
        rows.push(candle_nn::ops::sigmoid(&model.decode(z, &y)?)?);
    }
    Tensor::cat(&rows, 0)
}

/// `-log p(x | y)` averaged over the rows of `x`, by importance sampling `k` codes per image from
/// `q(z | x, y)`: `-log (1/k) sum_j p(x | z_j, y) p(z_j) / q(z_j | x, y)`.
pub fn importance_nll(model: &Cvae, x: &Tensor, labels: &[u8], k: usize, seed: u64) -> Result<f64> {
    let y = one_hot(labels, model.cfg.classes, x.device())?;
    let (mu, logvar) = model.encode(x, &y)?;
    let mut rng = SeededRng::derived(seed, "cvae-importance", k as u64);
    let log_p = estimators::gaussian_importance_log_p((&mu, &logvar), k, &mut rng, |z| {
        prob::bernoulli_log_likelihood_logits(x, &model.decode(z, &y)?)
    })?;
    Ok(-log_p.iter().sum::<f64>() / log_p.len().max(1) as f64)
}
