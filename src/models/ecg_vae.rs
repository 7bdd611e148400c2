//! A VAE of heartbeats, and the plain autoencoder it is compared with: the MLP VAE's encoder and
//! decoder on windows of an electrocardiogram (millivolts), with a Gaussian decoder whose one
//! standard deviation is the best for each batch (the "optimal sigma" of the likelihood chapter,
//! Rybkin et al. 2021). Trained on normal beats only, it scores any beat by how poorly the model
//! explains it: the negative ELBO, or `-log p(x)` by importance sampling. With `autoencoder` set,
//! the same networks are trained without the noise and the KL term (the code is the encoder's mean).

use crate::data::ecg::EcgSet;
use crate::estimators;
use crate::models::likelihood::optimal_log_sigma;
use crate::models::vae::{Vae, VaeConfig};
use crate::prob::{self, SeededRng};
use crate::train::{LossTerms, Model, RunConfig, Score, Step};
use candle_core::{D, DType, Result, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

/// The book's run: batches of 32 beats, Adam at 1e-3, at most 1,000 epochs of the 200 or so
/// training beats, stopping after 50 epochs without a better validation loss.
pub const BOOK_RUN: RunConfig = RunConfig { epochs: 1000, batch_size: 32, lr: 1e-3, seed: 42, patience: Some(50) };

/// Codes per beat averaged in each beat's negative ELBO score.
pub const ELBO_SAMPLES: usize = 16;

// ANCHOR: config
/// One commented configuration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EcgConfig {
    /// Samples per beat (fixed by the data: 252 at 360 Hz), hidden units, code dimensions.
    pub model: VaeConfig,
    /// Train a plain autoencoder (no noise, no KL term) instead of the VAE.
    pub autoencoder: bool,
}

impl Default for EcgConfig {
    fn default() -> Self {
        Self { model: VaeConfig { input_dim: 252, hidden: 64, latent_dim: 8 }, autoencoder: false }
    }
}
// ANCHOR_END: config

/// The VAE (or the autoencoder) of heartbeats.
pub struct EcgVae {
    pub vae: Vae,
    pub cfg: EcgConfig,
}

// ANCHOR: terms
impl EcgVae {
    /// Per-beat `-log p(x | z)` and KL for windows `x`, with codes drawn with `eps` (the autoencoder
    /// ignores it and has no KL); `log_sigma` is the decoder's, or the batch's best when `None`.
    pub fn terms(&self, x: &Tensor, eps: &Tensor, log_sigma: Option<f32>) -> Result<(Tensor, Tensor)> {
        let (mu, logvar) = self.vae.encode_fast(x)?;
        let z = if self.cfg.autoencoder { mu.clone() } else { prob::reparameterize(&mu, &logvar, eps)? };
        let mean = self.vae.decode_fast(&z)?;
        let log_sigma = match log_sigma {
            Some(s) => Tensor::new(s, x.device())?,
            None => optimal_log_sigma(x, &mean)?,
        };
        let recon = prob::gaussian_pixels_log_likelihood(x, &mean, &log_sigma)?.neg()?;
        let kl = if self.cfg.autoencoder { recon.zeros_like()? } else { prob::kl_standard_normal(&mu, &logvar)? };
        Ok((recon, kl))
    }
}
// ANCHOR_END: terms

impl EcgVae {
    fn noise(&self, rows: usize, rng: &mut SeededRng, dev: &candle_core::Device) -> Result<Tensor> {
        rng.normal(&[rows, self.cfg.model.latent_dim], dev)
    }

    /// The decoder's log standard deviation for scoring: the best single value for the training beats
    /// (their reconstructions from one code each, drawn from `seed`).
    pub fn fitted_log_sigma(&self, data: &EcgSet, seed: u64) -> Result<f32> {
        let x = &data.train;
        let eps = self.noise(x.dim(0)?, &mut SeededRng::derived(seed, "ecg-sigma", 0), x.device())?;
        let (mu, logvar) = self.vae.encode_fast(x)?;
        let z = if self.cfg.autoencoder { mu } else { prob::reparameterize(&mu, &logvar, &eps)? };
        optimal_log_sigma(x, &self.vae.decode_fast(&z)?)?.to_scalar::<f32>()
    }

    /// Each beat's negative ELBO, averaged over `samples` codes (for the autoencoder: its
    /// reconstruction's `-log p(x | z)` at the encoder's mean), nats per beat.
    pub fn negative_elbo(&self, x: &Tensor, log_sigma: f32, samples: usize, seed: u64) -> Result<Vec<f64>> {
        let mut rng = SeededRng::derived(seed, "ecg-elbo", samples as u64);
        let mut total = vec![0.0; x.dim(0)?];
        for _ in 0..samples.max(1) {
            let (recon, kl) = self.terms(x, &self.noise(x.dim(0)?, &mut rng, x.device())?, Some(log_sigma))?;
            let per_beat = (recon + kl)?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
            total.iter_mut().zip(per_beat).for_each(|(t, v)| *t += v / samples.max(1) as f64);
        }
        Ok(total)
    }

    /// Each beat's `-log p(x)` by importance sampling with `k` codes from `q(z | x)`, nats per beat.
    pub fn importance_nll(&self, x: &Tensor, log_sigma: f32, k: usize, seed: u64) -> Result<Vec<f64>> {
        let (mu, logvar) = self.vae.encode(x)?;
        let log_sigma = Tensor::new(log_sigma, x.device())?;
        let mut rng = SeededRng::derived(seed, "ecg-importance", k as u64);
        let log_p = estimators::gaussian_importance_log_p((&mu, &logvar), k, &mut rng, |z| {
            prob::gaussian_pixels_log_likelihood(x, &self.vae.decode(z)?, &log_sigma)
        })?;
        Ok(log_p.into_iter().map(|v| -v).collect())
    }

    /// The decoder's mean beat for each code of `z`, `(codes, samples)`.
    pub fn decode_means(&self, z: &Tensor) -> Result<Tensor> {
        self.vae.decode(z)
    }
}

impl Model for EcgVae {
    type Config = EcgConfig;
    type Data = EcgSet;
    const NAME: &'static str = "ecg";

    fn new(cfg: &EcgConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self { vae: Vae::new(cfg.model, vb)?, cfg: *cfg })
    }

    fn rows(data: &EcgSet) -> usize {
        data.train.dim(0).unwrap_or(0)
    }

    fn loss(&self, cfg: &EcgConfig, data: &EcgSet, at: Step, noise: &mut SeededRng) -> Result<LossTerms> {
        let x = data.batch(at.rows)?;
        let eps = self.noise(at.rows.len(), noise, x.device())?;
        let (recon, kl) = self.terms(&x, &eps, None)?;
        let (recon, kl) = (recon.mean_all()?, kl.mean_all()?);
        let objective = if cfg.autoencoder { recon.clone() } else { (&recon + &kl)? };
        Ok(LossTerms::new(objective, vec![("recon", recon), ("kl", kl)]))
    }

    /// The validation beats' negative ELBO (one code each) with the decoder's sigma fitted on the
    /// training beats, and its two terms.
    fn evaluate(&self, _cfg: &EcgConfig, data: &EcgSet, seed: u64) -> Result<Score> {
        let x = &data.validation;
        let log_sigma = self.fitted_log_sigma(data, seed)?;
        let eps = self.noise(x.dim(0)?, &mut SeededRng::derived(seed, "ecg-eval", 0), x.device())?;
        let (recon, kl) = self.terms(x, &eps, Some(log_sigma))?;
        let mean = |t: Tensor| -> Result<f64> { t.to_dtype(DType::F64)?.mean(D::Minus1)?.to_scalar::<f64>() };
        let (recon, kl) = (mean(recon)?, mean(kl)?);
        let terms = vec![("recon".into(), recon), ("kl".into(), kl), ("sigma".into(), (log_sigma as f64).exp())];
        Ok(Score { loss: recon + kl, terms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ecg::BeatConfig;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    fn model(autoencoder: bool) -> (EcgVae, EcgSet) {
        let dev = Device::Cpu;
        let data = EcgSet::embedded(BeatConfig::default(), &dev).unwrap();
        let cfg = EcgConfig { model: VaeConfig { input_dim: 252, hidden: 16, latent_dim: 3 }, autoencoder };
        let varmap = VarMap::new();
        let m = EcgVae::new(&cfg, VarBuilder::from_varmap(&varmap, DType::F32, &dev)).unwrap();
        crate::init::pytorch_default_init(&varmap, 3).unwrap();
        (m, data)
    }

    /// The autoencoder has no KL term and ignores the noise; the VAE uses it.
    #[test]
    fn the_autoencoder_is_deterministic_and_the_vae_is_not() {
        for (autoencoder, same) in [(true, true), (false, false)] {
            let (m, data) = model(autoencoder);
            let x = data.validation.narrow(0, 0, 8).unwrap();
            let mut rng = SeededRng::new(1);
            let terms = |eps: Tensor| m.terms(&x, &eps, Some(-1.0)).unwrap();
            let (a, kl) = terms(rng.normal(&[8, 3], x.device()).unwrap());
            let (b, _) = terms(rng.normal(&[8, 3], x.device()).unwrap());
            let diff = (a - b).unwrap().abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
            assert_eq!(diff == 0.0, same, "autoencoder {autoencoder}: {diff}");
            let kl = kl.sum_all().unwrap().to_scalar::<f32>().unwrap();
            assert_eq!(kl == 0.0, autoencoder, "{kl}");
        }
    }

    /// Importance sampling gives a bound on -log p(x) tighter than the ELBO, beat by beat on
    /// average.
    #[test]
    fn importance_sampling_is_tighter_than_the_elbo() {
        let (m, data) = model(false);
        let x = data.validation.narrow(0, 0, 16).unwrap();
        let sigma = m.fitted_log_sigma(&data, 1).unwrap();
        let elbo: f64 = m.negative_elbo(&x, sigma, 32, 1).unwrap().iter().sum();
        let nll: f64 = m.importance_nll(&x, sigma, 200, 1).unwrap().iter().sum();
        assert!(nll < elbo, "{nll} vs {elbo}");
    }
}
