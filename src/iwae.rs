//! The importance-weighted autoencoder (IWAE, Burda, Grosse & Salakhutdinov 2015).
//!
//! The same encoder and decoder as the VAE ([`crate::vae::Vae`]), trained on a tighter bound:
//! with `z_1..z_k ~ q(z|x)` and `w_j = p(x, z_j) / q(z_j|x)`,
//!
//! `L_k(x) = E[log (1/k) sum_j w_j]`,   `ELBO = L_1 <= L_5 <= L_50 <= ... <= log p(x)`.
//!
//! Likelihood numbers that are set beside the paper's are on *binarized* digits: every training
//! image is re-binarized at every epoch (each pixel black with probability its grey level,
//! "dynamic binarization"), and the test images are binarized once with a fixed seed.

use crate::init;
use crate::optim::Adam;
use crate::prob::{self, SeededRng};
use crate::train::{TrainError, build_model, fit_autograd, named_vars};
use crate::vae::{Vae, VaeConfig, bernoulli_log_likelihood_fast};
use candle_core::{DType, Device, Result, Tensor};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};

/// Everything that determines an IWAE (or, with `k = 1`, a VAE) run on binarized digits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IwaeConfig {
    pub model: VaeConfig,
    /// Importance samples per image in the training bound (1 = the VAE).
    pub k: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub seed: u64,
}

impl IwaeConfig {
    pub fn new(k: usize) -> Self {
        Self { model: VaeConfig::default(), k, epochs: 10, batch_size: 128, lr: 1e-3, seed: 42 }
    }
}

/// Pixels 0-255 to 0/1 values: each pixel is 1 with probability `value / 255`.
pub fn binarize(pixels: &[u8], rng: &mut SeededRng) -> Result<Vec<f32>> {
    let u = rng.uniform_vec(pixels.len(), 0.0, 1.0)?;
    Ok(pixels.iter().zip(u).map(|(&p, u)| if u < p as f32 / 255.0 { 1.0 } else { 0.0 }).collect())
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

/// Trains a model on `train` pixels (bytes, `n * 784`), binarized anew each epoch. Calls
/// `on_epoch(epoch, mean training loss)` after each epoch; returns the model and its variables.
pub fn train(
    cfg: &IwaeConfig,
    train: &[u8],
    dev: &Device,
    on_epoch: impl FnMut(usize, f64),
) -> std::result::Result<(Vae, VarMap), TrainError> {
    let d = cfg.model.input_dim;
    let n = train.len() / d;
    let varmap = VarMap::new();
    let model = build_model(cfg.model, &varmap, dev)?;
    init::pytorch_default_init(&varmap, cfg.seed)?;
    let mut opt = Adam::new(named_vars(&varmap)?, cfg.lr)?;
    // The digits binarized for the current epoch: drawn anew when the epoch changes.
    let mut binarized: (usize, Vec<f32>) = (0, Vec::new());
    let step = |epoch: usize, idx: &[u32], noise: &mut SeededRng| -> Result<Tensor> {
        if binarized.0 != epoch {
            binarized = (epoch, binarize(train, &mut SeededRng::derived(cfg.seed, "binarize", epoch as u64))?);
        }
        let mut xb = Vec::with_capacity(idx.len() * d);
        for &i in idx {
            xb.extend_from_slice(&binarized.1[i as usize * d..(i as usize + 1) * d]);
        }
        let x = Tensor::from_vec(xb, (idx.len(), d), dev)?;
        let eps = noise.normal(&[cfg.k, idx.len(), cfg.model.latent_dim], dev)?;
        negative_iw_bound(&model, &x, &eps)
    };
    fit_autograd(&mut opt, n, cfg.epochs, cfg.batch_size, cfg.seed, step, on_epoch)?;
    Ok((model, varmap))
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
    let mu = crate::latent::encode_means(model, x)?;
    Ok(crate::latent::mean_variances(&mu)?.iter().filter(|v| **v > 0.01).count())
}

/// Binarized test images `(n, 784)` with a fixed seed, the same for every model.
pub fn binarized_images(pixels: &[u8], dim: usize, seed: u64, dev: &Device) -> Result<Tensor> {
    let values = binarize(pixels, &mut SeededRng::derived(seed, "test-binarization", 0))?;
    Tensor::from_vec(values, (pixels.len() / dim, dim), dev)?.to_dtype(DType::F32)
}
