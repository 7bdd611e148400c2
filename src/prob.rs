//! Probability pieces of the VAE, each summed over its last dimension so one row is one example.
//!
//! - Gaussian log-density: `log N(x; mu, diag(exp(logvar))) = -1/2 sum_j [log(2 pi) + logvar_j + (x_j - mu_j)^2 / exp(logvar_j)]`
//! - Bernoulli log-likelihood from logits `l`: `sum_j [x_j l_j - softplus(l_j)]`, computed as
//!   `-sum_j [max(l_j, 0) - x_j l_j + log(1 + exp(-|l_j|))]`, which never overflows.
//! - Gaussian pixels with one shared standard deviation, and the continuous Bernoulli (a Bernoulli
//!   made into a density on [0, 1] by its normaliser `C(l) = l / tanh(l / 2)`).
//! - KL of `N(mu, diag(exp(logvar)))` from `N(0, I)` (Kingma & Welling 2014, Appendix B):
//!   `-1/2 sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j))`.
//! - Reparameterization (Kingma & Welling 2014, Section 2.4): `z = mu + exp(logvar / 2) * eps`,
//!   `eps ~ N(0, I)`.
//!
//! Noise comes from [`SeededRng`], a seeded Rust generator, because candle's CPU generator
//! cannot be seeded: the same seed gives the same run, bit for bit, on the CPU.

use candle_core::{D, Device, Result, Tensor};
use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};
use rand_distr::{Distribution, StandardNormal};

/// `ln(2 pi)`.
pub const LN_2PI: f64 = 1.837_877_066_409_345_3;

/// Log-density of a diagonal Gaussian, summed over the last dimension: shape `(batch,)`.
pub fn gaussian_log_density(x: &Tensor, mu: &Tensor, logvar: &Tensor) -> Result<Tensor> {
    let sq = (x - mu)?.sqr()?;
    let scaled = (sq / logvar.exp()?)?;
    ((scaled + logvar)?.affine(1.0, LN_2PI)? * -0.5)?.sum(D::Minus1)
}

/// Log-density of `N(0, I)`, summed over the last dimension.
pub fn standard_normal_log_density(z: &Tensor) -> Result<Tensor> {
    (z.sqr()?.affine(1.0, LN_2PI)? * -0.5)?.sum(D::Minus1)
}

// ANCHOR: bernoulli
/// `softplus(l) = log(1 + e^l)`, elementwise, written as `max(l, 0) + log(1 + e^-|l|)` so that
/// large `|l|` neither overflows nor loses precision.
pub fn softplus(logits: &Tensor) -> Result<Tensor> {
    logits.relu()? + logits.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?
}

/// Stable Bernoulli log-likelihood of targets `x` in [0, 1] under `logits`, summed per row.
pub fn bernoulli_log_likelihood_logits(x: &Tensor, logits: &Tensor) -> Result<Tensor> {
    // -log p(x | l) = softplus(l) - x l
    let nll = (softplus(logits)? - (x * logits)?)?;
    nll.sum(D::Minus1)?.neg()
}

// ANCHOR_END: bernoulli

/// The textbook form `sum x log p + (1 - x) log(1 - p)` with `p = sigmoid(l)`.
///
/// Kept to show why the stable form exists: it is NaN or -inf once `p` rounds to 0 or 1
/// (logits beyond about +-17 in f32).
pub fn bernoulli_log_likelihood_naive(x: &Tensor, logits: &Tensor) -> Result<Tensor> {
    let p = candle_nn::ops::sigmoid(logits)?;
    let one_minus_p = p.affine(-1.0, 1.0)?;
    let one_minus_x = x.affine(-1.0, 1.0)?;
    ((x * p.log()?)? + (one_minus_x * one_minus_p.log()?)?)?.sum(D::Minus1)
}

// ANCHOR: gaussian_pixels
/// Log-likelihood of pixels `x` under independent Gaussians with means `mean` and one standard
/// deviation `exp(log_sigma)` for every pixel (`log_sigma` a scalar tensor), summed per row:
/// `-sum_j [ln(2 pi) / 2 + log_sigma + (x_j - mean_j)^2 / (2 sigma^2)]`.
pub fn gaussian_pixels_log_likelihood(x: &Tensor, mean: &Tensor, log_sigma: &Tensor) -> Result<Tensor> {
    let pixels = x.dim(D::Minus1)? as f64;
    let sq = (x - mean)?.sqr()?.sum(D::Minus1)?; // (batch,)
    let inv_var = (log_sigma * -2.0)?.exp()?;
    let log_norm = (log_sigma.affine(pixels, pixels * 0.5 * LN_2PI)?).broadcast_as(sq.shape())?;
    ((sq.broadcast_mul(&inv_var)? * 0.5)? + log_norm)?.neg()
}
// ANCHOR_END: gaussian_pixels

/// Below this `|l|` the continuous Bernoulli's log-normaliser uses its Taylor series (the exact
/// form divides zero by zero at `l = 0`).
pub const CB_TAYLOR_BELOW: f64 = 1e-2;

// ANCHOR: continuous_bernoulli
/// `log C(l)`, the log-normaliser of the continuous Bernoulli with logit `l` (Loaiza-Ganem and
/// Cunningham 2019): with `lambda = sigmoid(l)`, `C = 2 atanh(1 - 2 lambda) / (1 - 2 lambda)`,
/// which simplifies to `l / tanh(l / 2)`: 2 at `l = 0`, about `|l|` for large `|l|`.
pub fn continuous_bernoulli_log_norm(logits: &Tensor) -> Result<Tensor> {
    let small = logits.abs()?.lt(CB_TAYLOR_BELOW)?;
    let safe = small.where_cond(&logits.ones_like()?.affine(CB_TAYLOR_BELOW, 0.0)?, logits)?;
    let exact = (safe.abs()?.log()? - (&safe * 0.5)?.tanh()?.abs()?.log()?)?;
    let taylor = (logits.sqr()? / 12.0)?.affine(1.0, std::f64::consts::LN_2)?; // log 2 + l^2 / 12
    small.where_cond(&taylor, &exact)
}

/// Log-likelihood of `x` in [0, 1] under the continuous Bernoulli, summed per row: the Bernoulli
/// formula plus the log-normaliser that makes it a density on [0, 1].
pub fn continuous_bernoulli_log_likelihood(x: &Tensor, logits: &Tensor) -> Result<Tensor> {
    let log_norm = continuous_bernoulli_log_norm(logits)?.sum(D::Minus1)?;
    bernoulli_log_likelihood_logits(x, logits)? + log_norm
}
// ANCHOR_END: continuous_bernoulli

/// The mean of the continuous Bernoulli with logit `l`: `lambda / tanh(l / 2) - 1 / l`, which is
/// not `lambda` (1/2 + l/12 near `l = 0`); what a picture of the decoder's output should show.
pub fn continuous_bernoulli_mean(logit: f32) -> f32 {
    let l = logit as f64;
    if l.abs() < CB_TAYLOR_BELOW {
        return (0.5 + l / 12.0) as f32;
    }
    let lambda = 1.0 / (1.0 + (-l).exp());
    (lambda / (l / 2.0).tanh() - 1.0 / l) as f32
}

// ANCHOR: kl
/// Analytic `KL(N(mu, diag(exp(logvar))) || N(0, I))` per row: never negative.
pub fn kl_standard_normal(mu: &Tensor, logvar: &Tensor) -> Result<Tensor> {
    kl_standard_normal_dims(mu, logvar)?.sum(D::Minus1)
}

/// The same KL for each latent dimension, `(B, d)`, before the sum (the dimensions are
/// independent under a diagonal Gaussian, so their KLs add up to the whole).
pub fn kl_standard_normal_dims(mu: &Tensor, logvar: &Tensor) -> Result<Tensor> {
    let inner = ((logvar.affine(1.0, 1.0)? - mu.sqr()?)? - logvar.exp()?)?;
    inner * -0.5
}

// ANCHOR_END: kl

/// Analytic `KL(N(mu_q, diag(exp(logvar_q))) || N(mu_p, diag(exp(logvar_p))))` per row, for a
/// learned prior such as the conditional prior network of [`crate::models::quadrant`].
pub fn kl_gaussians(mu_q: &Tensor, logvar_q: &Tensor, mu_p: &Tensor, logvar_p: &Tensor) -> Result<Tensor> {
    // 0.5 * sum( logvar_p - logvar_q + (var_q + (mu_q - mu_p)^2) / var_p - 1 )
    let spread = (logvar_q.exp()? + (mu_q - mu_p)?.sqr()?)?;
    let ratio = (spread / logvar_p.exp()?)?;
    (((logvar_p - logvar_q)? + ratio)?.affine(0.5, -0.5)?).sum(D::Minus1)
}

// ANCHOR: reparameterize
/// The reparameterization trick: `z = mu + exp(logvar / 2) * eps`, differentiable in `mu` and
/// `logvar` because the randomness sits in `eps`.
pub fn reparameterize(mu: &Tensor, logvar: &Tensor, eps: &Tensor) -> Result<Tensor> {
    mu + (logvar * 0.5)?.exp()? * eps
}

// ANCHOR_END: reparameterize

/// A seeded random number generator for noise, shuffling and initial weights.
pub struct SeededRng {
    rng: StdRng,
}

impl SeededRng {
    pub fn new(seed: u64) -> Self {
        Self { rng: StdRng::seed_from_u64(seed) }
    }

    /// A generator for one purpose (`stream`) at one step (`index`) of a run with `seed`, so that
    /// epoch 7's shuffle is the same whether or not the run was resumed at epoch 5.
    pub fn derived(seed: u64, stream: &str, index: u64) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325; // FNV-1a over the stream name
        for b in stream.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        Self::new(seed ^ h ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    /// Standard normal noise of the given shape.
    pub fn normal(&mut self, shape: &[usize], dev: &Device) -> Result<Tensor> {
        Tensor::from_vec(self.normal_vec(shape.iter().product()), shape, dev)
    }

    /// `n` standard normal values (the same stream as [`SeededRng::normal`]).
    pub fn normal_vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| StandardNormal.sample(&mut self.rng)).collect()
    }

    /// One standard normal value in double precision (for samplers that accumulate many steps).
    pub fn normal_f64(&mut self) -> f64 {
        StandardNormal.sample(&mut self.rng)
    }

    /// One uniform value in `[0, 1)`, in double precision.
    pub fn uniform_f64(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    /// Uniform values in `[low, high)`.
    pub fn uniform_vec(&mut self, n: usize, low: f32, high: f32) -> Result<Vec<f32>> {
        let dist = rand_distr::Uniform::new(low, high)
            .map_err(|e| candle_core::Error::Msg(format!("uniform({low}, {high}): {e}")))?;
        Ok((0..n).map(|_| dist.sample(&mut self.rng)).collect())
    }

    /// A random permutation of `0..n`.
    pub fn permutation(&mut self, n: usize) -> Vec<u32> {
        let mut idx: Vec<u32> = (0..n as u32).collect();
        idx.shuffle(&mut self.rng);
        idx
    }
}
