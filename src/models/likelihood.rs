//! One VAE, five decoder likelihoods: the classic MLP encoder and decoder of [`Vae`], with the
//! decoder's output read as the parameters of a Bernoulli, a Gaussian (fixed or learned standard
//! deviation) or a continuous Bernoulli distribution over each pixel.
//!
//! Continuous densities are trained and scored on *dequantized* pixels `(k + u) / 256`, `k` the
//! 8-bit grey level and `u ~ U(0, 1)`, so that `-log p(x) + D ln 256` bounds the negative
//! log-probability of the 8-bit image (Theis, van den Oord and Bethge 2016): their bits per
//! dimension can be compared. A Bernoulli on grey levels is not a distribution over grey levels,
//! and a Bernoulli on binarized pixels models other data; their numbers are not on that scale.

use crate::data::images::binarize;
use crate::data::{Dataset, Images};
use crate::estimators::LogWeights;
use crate::models::vae::{Vae, VaeConfig, VaeOutput};
use crate::prob::{self, SeededRng};
use crate::train::{LossTerms, Model, Score, Step};
use candle_core::{D, DType, Device, Result, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

/// What the decoder's output means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Likelihood {
    /// Bernoulli cross-entropy on grey levels, as PyTorch's example (not a density of grey levels).
    Bernoulli,
    /// Bernoulli on pixels binarized anew at every epoch: a likelihood of binary images.
    BinarizedBernoulli,
    /// Gaussian with mean `sigmoid(out)` and the fixed standard deviation of the configuration.
    Gaussian,
    /// Gaussian with one standard deviation for all pixels, set to its optimum for each batch (the
    /// "optimal sigma-VAE" of Rybkin et al. 2021).
    LearnedGaussian,
    /// The continuous Bernoulli (Loaiza-Ganem and Cunningham 2019), a density on [0, 1].
    ContinuousBernoulli,
}

impl Likelihood {
    pub const ALL: [Likelihood; 5] = [
        Likelihood::Bernoulli,
        Likelihood::BinarizedBernoulli,
        Likelihood::Gaussian,
        Likelihood::LearnedGaussian,
        Likelihood::ContinuousBernoulli,
    ];

    /// The name on the command line (`--likelihood`).
    pub fn name(self) -> &'static str {
        match self {
            Likelihood::Bernoulli => "bernoulli",
            Likelihood::BinarizedBernoulli => "binarized-bernoulli",
            Likelihood::Gaussian => "gaussian",
            Likelihood::LearnedGaussian => "learned-gaussian",
            Likelihood::ContinuousBernoulli => "continuous-bernoulli",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.name() == name)
    }

    /// Whether it is a density over [0, 1] (or the real line), scored on dequantized pixels.
    pub fn is_density(self) -> bool {
        matches!(self, Likelihood::Gaussian | Likelihood::LearnedGaussian | Likelihood::ContinuousBernoulli)
    }
}

/// The model and its objective.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LikelihoodConfig {
    pub model: VaeConfig,
    pub likelihood: Likelihood,
    /// The standard deviation of [`Likelihood::Gaussian`] (1 makes the loss half the squared error
    /// plus a constant: the "MSE VAE"). [`Likelihood::LearnedGaussian`] fits its own.
    pub sigma: f64,
    /// Train on the reconstruction term *averaged* over pixels instead of summed (a common
    /// mistake, kept to show what it does). Scores are always the summed negative ELBO.
    pub pixel_mean: bool,
}

impl LikelihoodConfig {
    pub fn new(likelihood: Likelihood) -> Self {
        Self { model: VaeConfig::default(), likelihood, sigma: 1.0, pixel_mean: false }
    }
}

/// The learned standard deviation never goes below this (a decoder that reproduced a batch
/// exactly would otherwise send `log sigma` to minus infinity).
pub const MIN_SIGMA: f64 = 1e-3;

/// The [`Vae`]'s encoder and decoder, with the decoder's output read by `cfg.likelihood`.
pub struct LikelihoodVae {
    pub vae: Vae,
    pub cfg: LikelihoodConfig,
}

// ANCHOR: optimal_sigma
/// The one standard deviation that maximises the Gaussian likelihood of `x` given the decoder's
/// means: `sigma^2 = mean_j (x_j - mean_j)^2` over every pixel of the batch (the "optimal sigma"
/// of Rybkin et al. 2021), as `log sigma`, a constant for the gradient.
pub fn optimal_log_sigma(x: &Tensor, mean: &Tensor) -> Result<Tensor> {
    let mse = (x - mean)?.sqr()?.mean_all()?.detach();
    mse.maximum(MIN_SIGMA * MIN_SIGMA)?.log()? * 0.5
}
// ANCHOR_END: optimal_sigma

impl LikelihoodVae {
    pub fn new(cfg: LikelihoodConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self { vae: Vae::new(cfg.model, vb)?, cfg })
    }

    // ANCHOR: log_likelihood
    /// `log p(x | z)` per row from the decoder's output `out` (logits). The Gaussians use `sigma`
    /// if given; otherwise the fixed one, or for the learned Gaussian this batch's optimum.
    pub fn log_likelihood(&self, x: &Tensor, out: &Tensor, sigma: Option<f64>) -> Result<Tensor> {
        match self.cfg.likelihood {
            Likelihood::Bernoulli | Likelihood::BinarizedBernoulli => prob::bernoulli_log_likelihood_logits(x, out),
            Likelihood::Gaussian | Likelihood::LearnedGaussian => {
                let mean = candle_nn::ops::sigmoid(out)?;
                let log_sigma = match (sigma, self.cfg.likelihood) {
                    (Some(s), _) => Tensor::new(s.ln() as f32, x.device())?,
                    (None, Likelihood::Gaussian) => Tensor::new(self.cfg.sigma.ln() as f32, x.device())?,
                    (None, _) => optimal_log_sigma(x, &mean)?,
                };
                prob::gaussian_pixels_log_likelihood(x, &mean, &log_sigma)
            }
            Likelihood::ContinuousBernoulli => prob::continuous_bernoulli_log_likelihood(x, out),
        }
    }
    // ANCHOR_END: log_likelihood

    /// The negative ELBO's two terms per row, `(recon, kl)`, with one code per image from `eps`.
    pub fn terms(&self, x: &Tensor, eps: &Tensor, sigma: Option<f64>) -> Result<(Tensor, Tensor)> {
        let VaeOutput { logits, mu, logvar, .. } = self.vae.forward_fast(x, eps)?;
        let recon = self.log_likelihood(x, &logits, sigma)?.neg()?;
        Ok((recon, prob::kl_standard_normal(&mu, &logvar)?))
    }

    /// The Gaussians' standard deviation for scoring held-out images: the fixed one, or for the
    /// learned Gaussian the optimum over the whole training set (one code per image from `seed`),
    /// so that no test image sets it. `None` for the other likelihoods.
    pub fn fitted_sigma(&self, data: &Images, seed: u64) -> Result<Option<f64>> {
        match self.cfg.likelihood {
            Likelihood::Gaussian => Ok(Some(self.cfg.sigma)),
            Likelihood::LearnedGaussian => {
                let x = prepare(self.cfg.likelihood, &data.train, &mut SeededRng::derived(seed, "sigma-fit", 0))?;
                let eps = SeededRng::derived(seed, "sigma-fit", 1)
                    .normal(&[x.dim(0)?, self.cfg.model.latent_dim], x.device())?;
                let mean = candle_nn::ops::sigmoid(&self.vae.forward_fast(&x, &eps)?.logits)?;
                Ok(Some(optimal_log_sigma(&x, &mean)?.exp()?.to_scalar::<f32>()? as f64))
            }
            _ => Ok(None),
        }
    }

    /// What a picture of the decoder's output at `z` shows: the mean of `p(x | z)` per pixel.
    pub fn mean_images(&self, z: &Tensor) -> Result<Vec<f32>> {
        let out = self.vae.decode(z)?;
        match self.cfg.likelihood {
            Likelihood::ContinuousBernoulli => {
                Ok(out.flatten_all()?.to_vec1::<f32>()?.into_iter().map(prob::continuous_bernoulli_mean).collect())
            }
            _ => candle_nn::ops::sigmoid(&out)?.flatten_all()?.to_vec1(),
        }
    }
}

/// Grey levels `x = k / 255` to dequantized `(k + u) / 256`, `u ~ U(0, 1)` from `rng`.
pub fn dequantize(x: &Tensor, rng: &mut SeededRng) -> Result<Tensor> {
    let u = Tensor::from_vec(rng.uniform_vec(x.elem_count(), 0.0, 1.0)?, x.shape(), x.device())?;
    // Round to the integer grey level first: k / 255 in f32, times 255, is k only to about 1e-5.
    (x.affine(255.0, 0.0)?.round()? + u)?.affine(1.0 / 256.0, 0.0)
}

/// The pixels a likelihood is trained on: grey levels, a fresh binarization, or dequantized values.
fn prepare(likelihood: Likelihood, x: &Tensor, rng: &mut SeededRng) -> Result<Tensor> {
    match likelihood {
        Likelihood::Bernoulli => Ok(x.clone()),
        Likelihood::BinarizedBernoulli => {
            let bytes: Vec<u8> = x.flatten_all()?.to_vec1::<f32>()?.iter().map(|v| (v * 255.0).round() as u8).collect();
            Tensor::from_vec(binarize(&bytes, rng)?, x.shape(), x.device())
        }
        _ => dequantize(x, rng),
    }
}

/// Held-out grey levels `x` as the likelihood scores them (binarized or dequantized with noise
/// from `seed`), the same for every model with the same `seed`.
pub fn test_input(likelihood: Likelihood, x: &Tensor, seed: u64) -> Result<Tensor> {
    prepare(likelihood, x, &mut SeededRng::derived(seed, "likelihood-test", 0))
}

/// [`test_input`] of a data set's images.
pub fn test_pixels(likelihood: Likelihood, test: &Dataset, seed: u64, dev: &Device) -> Result<Tensor> {
    test_input(likelihood, &test.images(dev)?, seed)
}

impl Model for LikelihoodVae {
    type Config = LikelihoodConfig;
    type Data = Images;
    const NAME: &'static str = "likelihood";

    fn new(cfg: &LikelihoodConfig, vb: VarBuilder) -> Result<Self> {
        LikelihoodVae::new(*cfg, vb)
    }

    fn rows(data: &Images) -> usize {
        data.train_labels.len()
    }

    // ANCHOR: loss
    fn loss(&self, cfg: &LikelihoodConfig, data: &Images, at: Step, noise: &mut SeededRng) -> Result<LossTerms> {
        let x = prepare(cfg.likelihood, &data.batch(at.rows)?, noise)?;
        let eps = noise.normal(&[at.rows.len(), cfg.model.latent_dim], x.device())?;
        let (recon, kl) = self.terms(&x, &eps, None)?;
        let (recon, kl) = (recon.mean_all()?, kl.mean_all()?);
        // The mistake: a per-pixel average makes the reconstruction 784 times lighter than the KL.
        let pixels = if cfg.pixel_mean { cfg.model.input_dim as f64 } else { 1.0 };
        let objective = ((&recon / pixels)? + &kl)?;
        Ok(LossTerms::new(objective, vec![("recon", recon), ("kl", kl)]))
    }
    // ANCHOR_END: loss

    /// The summed negative ELBO of the test images (prepared as in training, with a fixed seed).
    fn evaluate(&self, cfg: &LikelihoodConfig, data: &Images, seed: u64) -> Result<Score> {
        let x = test_input(cfg.likelihood, &data.test, seed)?;
        let (recon, kl) = evaluate_terms(self, &x, self.fitted_sigma(data, seed)?, seed)?;
        Ok(Score { loss: recon + kl, terms: vec![("recon".into(), recon), ("kl".into(), kl)] })
    }
}

/// The mean reconstruction and KL terms over the rows of `x` (nats per image), one code each;
/// `sigma` for the Gaussians (see [`LikelihoodVae::fitted_sigma`]).
pub fn evaluate_terms(model: &LikelihoodVae, x: &Tensor, sigma: Option<f64>, seed: u64) -> Result<(f64, f64)> {
    let eps = SeededRng::derived(seed, "eval", 0).normal(&[x.dim(0)?, model.cfg.model.latent_dim], x.device())?;
    let (recon, kl) = model.terms(x, &eps, sigma)?;
    let mean = |t: Tensor| -> Result<f64> { t.to_dtype(DType::F64)?.mean(D::Minus1)?.to_scalar::<f64>() };
    Ok((mean(recon)?, mean(kl)?))
}

/// Nats per image on dequantized pixels to bits per dimension of the 8-bit image:
/// `(nats / D + ln 256) / ln 2`.
pub fn bits_per_dim(nats: f64, pixels: usize) -> f64 {
    (nats / pixels as f64 + 256f64.ln()) / std::f64::consts::LN_2
}

/// `-log p(x)` averaged over the rows of `x` (nats per image) by importance sampling `k` codes per
/// image from `q(z | x)`: `-log (1/k) sum_j p(x | z_j) p(z_j) / q(z_j | x)`.
pub fn importance_nll(model: &LikelihoodVae, x: &Tensor, sigma: Option<f64>, k: usize, seed: u64) -> Result<f64> {
    let (mu, logvar) = model.vae.encode(x)?;
    let mut rng = SeededRng::derived(seed, "likelihood-importance", k as u64);
    let mut weights = LogWeights::new(x.dim(0)?, k);
    for _ in 0..k {
        let z = prob::reparameterize(&mu, &logvar, &rng.normal(mu.dims(), x.device())?)?;
        let log_lik = model.log_likelihood(x, &model.vae.decode(&z)?, sigma)?;
        let log_w =
            ((log_lik + prob::standard_normal_log_density(&z)?)? - prob::gaussian_log_density(&z, &mu, &logvar)?)?;
        weights.push_copies(&log_w.to_dtype(DType::F64)?.to_vec1::<f64>()?);
    }
    let log_p = weights.log_mean_exp();
    Ok(-log_p.iter().sum::<f64>() / log_p.len().max(1) as f64)
}
