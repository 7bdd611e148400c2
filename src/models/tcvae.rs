//! β-TCVAE (Chen, Li, Grosse and Duvenaud 2018): the VAE's KL term split in three parts, and only
//! the total correlation of the code weighted by β.
//!
//! Averaged over the data, the KL term of the ELBO is
//! `E_x KL(q(z|x) || p(z)) = I(x; z) + KL(q(z) || Π_d q(z_d)) + Σ_d KL(q(z_d) || p(z_d))`:
//! the information the code keeps about the image, the *total correlation* of the aggregate
//! posterior `q(z) = E_x q(z|x)` (how far its units are from independent), and each unit's distance
//! from the prior. A β-VAE weights all three by β; β-TCVAE weights only the total correlation:
//! `loss = reconstruction + I + β TC + Σ_d KL_d = negative ELBO + (β - 1) TC`. With a weight `w`
//! on the two other parts as well, `w = β = b` gives a β-VAE and `w = β = 1` the VAE, so one model
//! trains all three of the disentanglement chapter's losses.
//!
//! `q(z)` and `q(z_d)` are mixtures over all N training images. Each batch estimates them by the
//! paper's *minibatch-weighted sampling*: for a batch of M images,
//! `log q(z_i) ≈ log Σ_j q(z_i | x_j) - log(N M)`, and the same per unit. The estimate is biased
//! (it counts the batch's posteriors as if the other images' added nothing at `z_i`), so its parts
//! are a training signal more than a measurement.

use crate::classic::latent;
use crate::classic::mig::{self, Mig};
use crate::data::sprites::{FACTORS, SpriteSet};
use crate::models::vae::{Vae, VaeConfig, bernoulli_log_likelihood_fast};
use crate::prob::{self, LN_2PI, SeededRng};
use crate::train::{LossTerms, Model, RunConfig, Score, Step};
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

/// A first run: 20 epochs of batches of 128 (the minibatch-weighted estimate compares every code
/// of a batch with every image's posterior), Adam at 1e-3.
pub const BOOK_RUN: RunConfig = RunConfig { epochs: 20, batch_size: 128, lr: 1e-3, seed: 42, patience: None };

/// One commented configuration: the MLP VAE's network and the weight of the total correlation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TcvaeConfig {
    /// Sizes of the encoder and decoder (the sprites are 32 x 32 = 1,024 pixels).
    pub model: VaeConfig,
    /// The weight of the total correlation (1 gives the plain VAE's loss).
    pub beta: f64,
    /// The weight of the two other parts, the mutual information and the units' KL (Chen et al.'s
    /// alpha and gamma, both 1 in β-TCVAE). With `kl_weight = beta = b` the loss is a β-VAE's.
    #[serde(default = "one")]
    pub kl_weight: f64,
}

fn one() -> f64 {
    1.0
}

impl Default for TcvaeConfig {
    fn default() -> Self {
        Self { model: VaeConfig { input_dim: 1024, hidden: 400, latent_dim: 10 }, beta: 6.0, kl_weight: 1.0 }
    }
}

// ANCHOR: parts
/// The three parts of the KL term, per image, estimated on one batch by minibatch-weighted sampling.
pub struct KlParts {
    /// `E[log q(z|x) - log q(z)]`: the index-code mutual information.
    pub mutual_information: Tensor,
    /// `E[log q(z) - Σ_d log q(z_d)]`.
    pub total_correlation: Tensor,
    /// `E[Σ_d log q(z_d) - log p(z)]`: the units' KL from the prior.
    pub dimension_kl: Tensor,
}

/// The parts for codes `z` drawn from `q(z | x)` with mean `mu` and log-variance `logvar` (each
/// `(M, d)`), the batch drawn from `dataset_size` images. They add up to the one-sample estimate
/// of the KL term, `mean(log q(z|x) - log p(z))`.
pub fn kl_parts(z: &Tensor, mu: &Tensor, logvar: &Tensor, dataset_size: usize) -> Result<KlParts> {
    let (m, d) = z.dims2()?;
    let log_nm = ((dataset_size.max(m) * m) as f64).ln();
    // log q(z_i,d | x_j) for every code i, image j and unit d: (M, M, d).
    let z_i = z.unsqueeze(1)?.broadcast_as((m, m, d))?;
    let (mu_j, logvar_j) = (mu.unsqueeze(0)?.broadcast_as((m, m, d))?, logvar.unsqueeze(0)?.broadcast_as((m, m, d))?);
    let scaled = ((z_i - mu_j)?.sqr()? / logvar_j.exp()?)?;
    let log_q_unit = (scaled + logvar_j)?.affine(-0.5, -0.5 * LN_2PI)?;
    let log_qz = (log_q_unit.sum(2)?.log_sum_exp(1)? - log_nm)?; // (M,)
    let log_qz_units = (log_q_unit.log_sum_exp(1)? - log_nm)?.sum(1)?; // (M,)
    let log_qz_x = prob::gaussian_log_density(z, mu, logvar)?;
    let log_pz = prob::standard_normal_log_density(z)?;
    Ok(KlParts {
        mutual_information: (log_qz_x - &log_qz)?.mean_all()?,
        total_correlation: (log_qz - &log_qz_units)?.mean_all()?,
        dimension_kl: (log_qz_units - log_pz)?.mean_all()?,
    })
}
// ANCHOR_END: parts

/// A β-TCVAE: the MLP VAE's encoder and decoder, trained on the loss of the module's documentation.
pub struct Tcvae {
    pub vae: Vae,
}

impl Model for Tcvae {
    type Config = TcvaeConfig;
    type Data = SpriteSet;
    const NAME: &'static str = "tcvae";

    fn new(cfg: &TcvaeConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self { vae: Vae::new(cfg.model, vb)? })
    }

    fn rows(data: &SpriteSet) -> usize {
        data.images.train_labels.len()
    }

    // ANCHOR: loss
    fn loss(&self, cfg: &TcvaeConfig, data: &SpriteSet, at: Step, noise: &mut SeededRng) -> Result<LossTerms> {
        let x = data.images.batch(at.rows)?;
        let (mu, logvar) = self.vae.encode_fast(&x)?;
        let eps = noise.normal(&[at.rows.len(), cfg.model.latent_dim], x.device())?;
        let z = prob::reparameterize(&mu, &logvar, &eps)?;
        let recon = bernoulli_log_likelihood_fast(&x, &self.vae.decode_fast(&z)?)?.neg()?.mean_all()?;
        let parts = kl_parts(&z, &mu, &logvar, Self::rows(data))?;
        let rest = (&parts.mutual_information + &parts.dimension_kl)?.affine(cfg.kl_weight, 0.0)?;
        let kl = (rest + parts.total_correlation.affine(cfg.beta, 0.0)?)?;
        let terms = vec![
            ("reconstruction", recon.clone()),
            ("mutual_information", parts.mutual_information),
            ("total_correlation", parts.total_correlation),
            ("dimension_kl", parts.dimension_kl),
        ];
        Ok(LossTerms::new((recon + kl)?, terms))
    }
    // ANCHOR_END: loss

    /// The test images' negative ELBO (closed-form KL, one code per image), with its two terms.
    fn evaluate(&self, cfg: &TcvaeConfig, data: &SpriteSet, seed: u64) -> Result<Score> {
        let x = &data.images.test;
        let (mu, logvar) = self.vae.encode_fast(x)?;
        let eps = SeededRng::derived(seed, "tcvae-eval", 0).normal(&[x.dim(0)?, cfg.model.latent_dim], x.device())?;
        let z = prob::reparameterize(&mu, &logvar, &eps)?;
        let recon = bernoulli_log_likelihood_fast(x, &self.vae.decode_fast(&z)?)?.neg()?.mean_all()?;
        let kl = prob::kl_standard_normal(&mu, &logvar)?.mean_all()?;
        let (recon, kl) = (recon.to_scalar::<f32>()? as f64, kl.to_scalar::<f32>()? as f64);
        Ok(Score { loss: recon + kl, terms: vec![("reconstruction".into(), recon), ("kl".into(), kl)] })
    }
}

/// The MIG of the encoder means of the test sprites against their factors.
pub fn test_mig(model: &Tcvae, data: &SpriteSet) -> Result<Mig> {
    let codes = latent::encode_means(&model.vae, &data.images.test)?;
    let units = codes.dim(1)?;
    let factors: Vec<Vec<usize>> = (0..FACTORS.len()).map(|k| data.test_factor(k)).collect();
    mig::mig(&codes.flatten_all()?.to_vec1::<f32>()?, units, &factors, mig::BINS)
        .map_err(|e| candle_core::Error::Msg(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn normal(rng: &mut SeededRng, shape: &[usize]) -> Tensor {
        rng.normal(shape, &Device::Cpu).unwrap()
    }

    /// The three parts add up to the one-sample KL estimate, whatever the codes.
    #[test]
    fn the_parts_add_up_to_the_kl_estimate() {
        let mut rng = SeededRng::new(5);
        let (mu, logvar, eps) = (normal(&mut rng, &[64, 4]), normal(&mut rng, &[64, 4]), normal(&mut rng, &[64, 4]));
        let z = prob::reparameterize(&mu, &logvar, &eps).unwrap();
        let p = kl_parts(&z, &mu, &logvar, 1000).unwrap();
        let sum: f32 = [&p.mutual_information, &p.total_correlation, &p.dimension_kl]
            .iter()
            .map(|t| t.to_scalar::<f32>().unwrap())
            .sum();
        let direct = (prob::gaussian_log_density(&z, &mu, &logvar).unwrap()
            - prob::standard_normal_log_density(&z).unwrap())
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
        assert!((sum - direct).abs() < 1e-3, "{sum} vs {direct}");
    }

    /// Codes whose units move together have a larger total correlation than independent ones.
    #[test]
    fn correlated_units_have_more_total_correlation() {
        let mut rng = SeededRng::new(6);
        let a = normal(&mut rng, &[256, 1]);
        let independent = Tensor::cat(&[&a, &normal(&mut rng, &[256, 1])], 1).unwrap();
        let together = Tensor::cat(&[&a, &a], 1).unwrap();
        let logvar = Tensor::full(-3.0f32, (256, 2), &Device::Cpu).unwrap();
        let eps = normal(&mut rng, &[256, 2]);
        let tc = |mu: &Tensor| {
            let z = prob::reparameterize(mu, &logvar, &eps).unwrap();
            kl_parts(&z, mu, &logvar, 256).unwrap().total_correlation.to_scalar::<f32>().unwrap()
        };
        let (ti, tt) = (tc(&independent), tc(&together));
        assert!(tt > ti + 0.5, "together {tt}, independent {ti}");
    }
}
