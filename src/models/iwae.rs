//! The importance-weighted autoencoder (IWAE, Burda, Grosse & Salakhutdinov 2015).
//!
//! The same encoder and decoder as the VAE ([`crate::models::vae::Vae`]), trained on a tighter bound:
//! with `z_1..z_k ~ q(z|x)` and `w_j = p(x, z_j) / q(z_j|x)`,
//!
//! `L_k(x) = E[log (1/k) sum_j w_j]`,   `ELBO = L_1 <= L_5 <= L_50 <= ... <= log p(x)`.
//!
//! Likelihood numbers that are set beside the paper's are on *binarized* digits: every training
//! image is re-binarized at every epoch (each pixel black with probability its grey level,
//! "dynamic binarization"), and the test images are binarized once with a fixed seed.

use crate::data::images::BinarizedImages;
pub use crate::data::images::{binarize, binarized_images};
use crate::models::vae::{Vae, VaeConfig, bernoulli_log_likelihood_fast};
use crate::prob::{self, SeededRng};
use crate::train::{LossTerms, Model, Score, Step};
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

/// An IWAE (or, with `k = 1`, a VAE) trained on binarized digits: the MLP VAE's encoder and
/// decoder with the number of importance samples in its training bound.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IwaeConfig {
    pub model: VaeConfig,
    /// Importance samples per image in the training bound (1 = the VAE).
    pub k: usize,
}

impl IwaeConfig {
    pub fn new(k: usize) -> Self {
        Self { model: VaeConfig::default(), k }
    }
}

/// The most samples a training bound may take (each step decodes `k` times the batch).
pub const MAX_TRAINING_K: usize = 100_000;

fn check_k(k: usize) -> Result<()> {
    if k == 0 || k > MAX_TRAINING_K {
        candle_core::bail!("the IWAE's k must be between 1 and {MAX_TRAINING_K}, not {k}");
    }
    Ok(())
}

/// The IWAE: a [`Vae`] trained on the `k`-sample bound.
pub struct Iwae {
    pub vae: Vae,
}

// ANCHOR: bound
/// The negative `k`-sample bound averaged over the batch `x` (`(n, pixels)`), with the noise
/// `eps` (`(k, n, latent)`): what IWAE training minimizes. With `k = 1` it is the negative ELBO
/// (estimated with the single-sample KL, not the closed form).
pub fn negative_iw_bound(model: &Vae, x: &Tensor, eps: &Tensor) -> Result<Tensor> {
    let (k, n, d) = eps.dims3()?;
    let pixels = x.dim(1)?;
    let (mu, logvar) = model.encode_fast(x)?;
    let (mu, logvar) = (mu.unsqueeze(0)?.broadcast_as((k, n, d))?, logvar.unsqueeze(0)?.broadcast_as((k, n, d))?);
    let z = prob::reparameterize(&mu, &logvar, eps)?; // (k, n, d)
    let log_q = prob::gaussian_log_density(&z, &mu, &logvar)?; // (k, n)
    let log_prior = prob::standard_normal_log_density(&z)?;
    let logits = model.decode_fast(&z.reshape((k * n, d))?)?;
    let xs = x.unsqueeze(0)?.broadcast_as((k, n, pixels))?.reshape((k * n, pixels))?;
    let log_lik = bernoulli_log_likelihood_fast(&xs, &logits)?.reshape((k, n))?;
    let log_w = ((log_lik + log_prior)? - log_q)?; // (k, n)
    // log (1/k) sum_j w_j, per image; the gradient weighs each sample by its normalized weight.
    let bound = (log_w.log_sum_exp(0)? - (k as f64).ln())?; // (n,)
    bound.mean_all()?.neg()
}
// ANCHOR_END: bound

impl Model for Iwae {
    type Config = IwaeConfig;
    type Data = BinarizedImages;
    const NAME: &'static str = "iwae";

    fn new(cfg: &IwaeConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self { vae: Vae::new(cfg.model, vb)? })
    }

    fn rows(data: &BinarizedImages) -> usize {
        data.train_len()
    }

    fn loss(&self, cfg: &IwaeConfig, data: &BinarizedImages, at: Step, noise: &mut SeededRng) -> Result<LossTerms> {
        check_k(cfg.k)?;
        let x = data.batch(at.epoch, at.rows)?;
        let eps = noise.normal(&[cfg.k, at.rows.len(), cfg.model.latent_dim], x.device())?;
        Ok(LossTerms::plain(negative_iw_bound(&self.vae, &x, &eps)?))
    }

    /// The negative `k`-sample bound of the test digits, and the negative ELBO (`k = 1`).
    fn evaluate(&self, cfg: &IwaeConfig, data: &BinarizedImages, seed: u64) -> Result<Score> {
        check_k(cfg.k)?;
        let loss = -mean_bound(&self.vae, &data.test, cfg.k, seed)?;
        let elbo = if cfg.k == 1 { loss } else { -mean_bound(&self.vae, &data.test, 1, seed)? };
        Ok(Score { loss, terms: vec![("negative_elbo".into(), elbo)] })
    }
}

/// The mean `k`-sample bound over the rows of `x` (nats per image, higher is better), computed a
/// few images at a time so that memory stays bounded for large `k`.
pub fn mean_bound(model: &Vae, x: &Tensor, k: usize, seed: u64) -> Result<f64> {
    let n = x.dim(0)?;
    let d = model.cfg.latent_dim;
    let mut rng = SeededRng::derived(seed, "iw-eval", k as u64);
    // Images per chunk times samples per image stays near 50,000 decoder rows.
    let images = (50_000 / k.max(1)).clamp(1, 500);
    let mut total = 0.0;
    for s in (0..n).step_by(images) {
        let xb = x.narrow(0, s, images.min(n - s))?;
        let eps = rng.normal(&[k, xb.dim(0)?, d], x.device())?;
        // negative_iw_bound averages over images; undo that to sum.
        total += -(negative_iw_bound(model, &xb, &eps)?.to_scalar::<f32>()? as f64) * xb.dim(0)? as f64;
    }
    Ok(total / n as f64)
}

/// Latent units whose encoder mean varies over the rows of `x` by more than 0.01 (Burda et al.'s
/// criterion; IWAE training is reported to keep more of them active than VAE training).
pub fn active_units(model: &Vae, x: &Tensor) -> Result<usize> {
    crate::estimators::active_units(&crate::classic::latent::encode_means(model, x)?)
}
