//! Importance-weighted estimates of `log p(x)` for a trained VAE (Burda, Grosse & Salakhutdinov 2015).
//!
//! With `z_1..z_k` drawn from the encoder's `q(z|x)` and weights `w_j = p(x, z_j) / q(z_j|x)`,
//! `log (1/k) sum_j w_j` is a lower bound on `log p(x)` in expectation that rises with `k`:
//! `k = 1` is the ELBO, large `k` approaches `log p(x)`.

use crate::models::vae::Autoencoder;
use crate::prob::{self, SeededRng};
use candle_core::{Result, Tensor};

// ANCHOR: log_weights
/// `log w_j = log p(x|z_j) + log p(z_j) - log q(z_j|x)` for `k` draws per image: `(n, k)`.
pub fn log_weights(model: &impl Autoencoder, x: &Tensor, k: usize, rng: &mut SeededRng) -> Result<Tensor> {
    let (n, pixels) = x.dims2()?;
    let (mu, logvar) = model.encode(x)?;
    let d = mu.dim(1)?;
    let eps = rng.normal(&[k, n, d], x.device())?;
    let mu = mu.unsqueeze(0)?.broadcast_as((k, n, d))?;
    let logvar = logvar.unsqueeze(0)?.broadcast_as((k, n, d))?;
    let z = prob::reparameterize(&mu, &logvar, &eps)?; // (k, n, d)
    let log_q = prob::gaussian_log_density(&z, &mu, &logvar)?; // (k, n)
    let log_prior = prob::standard_normal_log_density(&z)?;
    let logits = model.decode(&z.reshape((k * n, d))?)?;
    let xs = x.unsqueeze(0)?.broadcast_as((k, n, pixels))?.reshape((k * n, pixels))?;
    let log_lik = prob::bernoulli_log_likelihood_logits(&xs, &logits)?.reshape((k, n))?;
    ((log_lik + log_prior)? - log_q)?.t()
}
// ANCHOR_END: log_weights

/// [`log_weights`] for every row of `x`, `chunk` images at a time, as one row of `k` values per image.
pub fn log_weights_chunked(
    model: &impl Autoencoder,
    x: &Tensor,
    k: usize,
    chunk: usize,
    rng: &mut SeededRng,
) -> Result<Vec<Vec<f64>>> {
    let n = x.dim(0)?;
    let mut out = Vec::with_capacity(n);
    for s in (0..n).step_by(chunk.max(1)) {
        let w = log_weights(model, &x.narrow(0, s, chunk.max(1).min(n - s))?, k, rng)?;
        out.extend(w.to_dtype(candle_core::DType::F64)?.to_vec2::<f64>()?);
    }
    Ok(out)
}

/// The importance-weighted bound with `k` samples for every row of `x`, in nats (higher is better),
/// computed `chunk` images at a time.
pub fn iw_bound(model: &impl Autoencoder, x: &Tensor, k: usize, chunk: usize, rng: &mut SeededRng) -> Result<Vec<f64>> {
    Ok(log_weights_chunked(model, x, k, chunk, rng)?.iter().map(|w| crate::classic::bayes::log_mean_exp(w)).collect())
}

/// `log (1/k) sum_j p(x | z_j) p(z_j) / q(z_j)` for every row, with `z_j` drawn `k` times from the
/// Gaussian `q = N(mu, exp(logvar))` of each row and `log_lik(z)` giving `log p(x | z)` per row:
/// the importance estimate of a conditional model's `log p(x | ...)` (the CVAE's, M2's per label).
pub fn gaussian_importance_log_p(
    (mu, logvar): (&Tensor, &Tensor),
    k: usize,
    rng: &mut SeededRng,
    mut log_lik: impl FnMut(&Tensor) -> Result<Tensor>,
) -> Result<Vec<f64>> {
    let mut weights = LogWeights::new(mu.dim(0)?, k);
    for _ in 0..k {
        let z = prob::reparameterize(mu, logvar, &rng.normal(mu.dims(), mu.device())?)?;
        let log_w =
            ((log_lik(&z)? + prob::standard_normal_log_density(&z)?)? - prob::gaussian_log_density(&z, mu, logvar)?)?;
        weights.push_copies(&log_w.to_dtype(candle_core::DType::F64)?.to_vec1::<f64>()?);
    }
    Ok(weights.log_mean_exp())
}

/// Burda et al.'s threshold: a latent unit is *active* when its encoder mean varies across the data
/// by more than this (variance over examples of `E_q[z_d]`).
pub const ACTIVE_UNIT_VARIANCE: f32 = 0.01;

/// How many latent units are active, from the encoder means of a data set (`(examples, latent)`).
pub fn active_units(means: &Tensor) -> Result<usize> {
    Ok(count_active(&crate::classic::latent::mean_variances(means)?))
}

/// How many of these per-unit variances of the encoder mean exceed [`ACTIVE_UNIT_VARIANCE`].
pub fn count_active(mean_variances: &[f32]) -> usize {
    mean_variances.iter().filter(|&&v| v > ACTIVE_UNIT_VARIANCE).count()
}

/// Log importance weights gathered pass by pass, `k` per example, for estimators that score a
/// batch repeated several times in one pass (copy `j` of example `i` at position `j * n + i`).
pub struct LogWeights {
    rows: Vec<Vec<f64>>,
}

impl LogWeights {
    /// Room for `k` weights of each of `n` examples.
    pub fn new(n: usize, k: usize) -> Self {
        Self { rows: vec![Vec::with_capacity(k); n] }
    }

    /// Adds one pass's weights: any number of copies of the `n` examples, copy-major.
    pub fn push_copies(&mut self, log_w: &[f64]) {
        let n = self.rows.len().max(1);
        for (j, &w) in log_w.iter().enumerate() {
            self.rows[j % n].push(w);
        }
    }

    /// `log (1/k) sum_j w_j` for each example: its importance-sampled `log p`.
    pub fn log_mean_exp(&self) -> Vec<f64> {
        self.rows.iter().map(|w| crate::classic::bayes::log_mean_exp(w)).collect()
    }
}
