//! Variational inference on models whose posterior is known in closed form, so that every claim
//! about the ELBO can be checked to the last digit.
//!
//! - The identity `log p(x) = ELBO(q) + KL(q(z) || p(z|x))` (Bishop, PRML, Eq. 10.2) on a conjugate
//!   Gaussian model: `z ~ N(m0, s0^2)`, `x_i | z ~ N(z, sigma^2)`.
//! - Gradient-based VI with candle's autograd and the reparameterization trick.
//! - The variance of the reparameterization gradient against the score-function (REINFORCE) one.
//! - Mean-field Gaussians fitted to a correlated Gaussian by `KL(q||p)` and by `KL(p||q)`
//!   (PRML, Figure 10.2 and 10.3).

use crate::optim::Adam;
use crate::prob::SeededRng;
use candle_core::{Device, Result, Tensor, Var};
use std::f64::consts::{E, PI};

/// A one-dimensional Gaussian.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normal1 {
    pub mean: f64,
    pub var: f64,
}

impl Normal1 {
    pub fn log_pdf(&self, z: f64) -> f64 {
        -0.5 * ((2.0 * PI * self.var).ln() + (z - self.mean).powi(2) / self.var)
    }

    /// `KL(self || other)`.
    pub fn kl(&self, other: &Normal1) -> f64 {
        0.5 * ((other.var / self.var).ln() + (self.var + (self.mean - other.mean).powi(2)) / other.var - 1.0)
    }

    pub fn sd(&self) -> f64 {
        self.var.sqrt()
    }

    /// `k` draws, `mean + sd * eps` with `eps` from `rng`.
    pub fn samples(&self, k: usize, rng: &mut SeededRng) -> Vec<f64> {
        rng.normal_vec(k).into_iter().map(|e| self.mean + self.sd() * e as f64).collect()
    }
}

/// `z ~ N(prior.mean, prior.var)`, then `x_i | z ~ N(z, noise_var)` for each observation.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianModel {
    pub prior: Normal1,
    pub noise_var: f64,
    pub x: Vec<f64>,
}

impl GaussianModel {
    /// The book's example: prior N(0, 1), noise variance 1, and `n` observations drawn with
    /// `seed` around `z = 1.5`.
    pub fn example(n: usize, seed: u64) -> Self {
        let mut rng = SeededRng::new(seed);
        let x = rng.normal_vec(n).into_iter().map(|e| 1.5 + e as f64).collect();
        Self { prior: Normal1 { mean: 0.0, var: 1.0 }, noise_var: 1.0, x }
    }

    /// The same model with only the first `n` observations: the state of belief as data arrive.
    pub fn first(&self, n: usize) -> Self {
        Self { x: self.x[..n.min(self.x.len())].to_vec(), ..self.clone() }
    }

    fn n(&self) -> f64 {
        self.x.len() as f64
    }

    fn sum_x(&self) -> f64 {
        self.x.iter().sum()
    }

    fn sum_x2(&self) -> f64 {
        self.x.iter().map(|v| v * v).sum()
    }

    /// The exact posterior `p(z | x)`: precisions add, means are precision-weighted.
    pub fn posterior(&self) -> Normal1 {
        let precision = 1.0 / self.prior.var + self.n() / self.noise_var;
        let var = 1.0 / precision;
        Normal1 { mean: var * (self.prior.mean / self.prior.var + self.sum_x() / self.noise_var), var }
    }

    /// `log p(x, z) = log p(z) + sum_i log p(x_i | z)`.
    pub fn log_joint(&self, z: f64) -> f64 {
        let lik: f64 = self.x.iter().map(|&xi| Normal1 { mean: z, var: self.noise_var }.log_pdf(xi)).sum();
        self.prior.log_pdf(z) + lik
    }

    /// `d/dz log p(x, z)`.
    pub fn dlog_joint(&self, z: f64) -> f64 {
        (self.prior.mean - z) / self.prior.var + (self.sum_x() - self.n() * z) / self.noise_var
    }

    /// The exact log-evidence: Bayes' rule turned around, `log p(x) = log p(x, z) - log p(z | x)`,
    /// which holds at every `z`.
    pub fn log_evidence(&self) -> f64 {
        let z = self.posterior().mean;
        self.log_joint(z) - self.posterior().log_pdf(z)
    }

    /// The ELBO of `q` in closed form: `E_q[log p(x, z)] + H(q)`.
    pub fn elbo(&self, q: Normal1) -> f64 {
        let (n, s2) = (self.n(), self.noise_var);
        // E_q[(x_i - z)^2] summed over i = sum x^2 - 2 m sum x + n (m^2 + v)
        let sq = self.sum_x2() - 2.0 * q.mean * self.sum_x() + n * (q.mean * q.mean + q.var);
        let lik = -0.5 * n * (2.0 * PI * s2).ln() - sq / (2.0 * s2);
        let prior = -0.5 * (2.0 * PI * self.prior.var).ln()
            - ((q.mean - self.prior.mean).powi(2) + q.var) / (2.0 * self.prior.var);
        let entropy = 0.5 * (2.0 * PI * E * q.var).ln();
        lik + prior + entropy
    }

    /// A Monte Carlo estimate of the ELBO with `k` samples from `q`: the mean of
    /// `log p(x, z) - log q(z)`, and its standard error.
    pub fn elbo_mc(&self, q: Normal1, k: usize, rng: &mut SeededRng) -> (f64, f64) {
        let values: Vec<f64> = q.samples(k, rng).into_iter().map(|z| self.log_joint(z) - q.log_pdf(z)).collect();
        mean_and_se(&values)
    }
}

/// Mean and standard error of the mean.
pub fn mean_and_se(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, (var / n).sqrt())
}

/// The result of fitting `q` by stochastic gradient ascent on the ELBO.
#[derive(Debug, Clone)]
pub struct ViFit {
    pub q: Normal1,
    /// The closed-form ELBO of the current `q` after each step.
    pub elbo: Vec<f64>,
}

// ANCHOR: fit
/// Fits `q = N(m, exp(2 log_s))` to the posterior by Adam on a Monte Carlo ELBO: `samples`
/// reparameterized draws per step, gradients from candle's autograd, the learning rate decaying
/// from `lr` to `lr / 10`.
pub fn fit_gaussian_vi(model: &GaussianModel, steps: usize, samples: usize, lr: f64, seed: u64) -> Result<ViFit> {
    let dev = Device::Cpu;
    let m = Var::new(&[0.0f32], &dev)?;
    let log_s = Var::new(&[0.0f32], &dev)?;
    let mut opt = Adam::new(vec![("m".into(), m.clone()), ("log_s".into(), log_s.clone())], lr)?;
    let mut rng = SeededRng::new(seed);
    let (m0, v0, s2) = (model.prior.mean, model.prior.var, model.noise_var);
    let (n, sx, sx2) = (model.n(), model.sum_x(), model.sum_x2());
    let mut elbo = Vec::with_capacity(steps);
    for step in 0..steps {
        // Noisy gradients never settle at a fixed rate: decay it linearly to a tenth.
        opt.lr = lr * (1.0 - 0.9 * step as f64 / steps as f64);
        let eps = rng.normal(&[samples], &dev)?;
        let z = (m.broadcast_as(samples)? + (log_s.exp()?.broadcast_as(samples)? * eps)?)?; // (samples,)
        // log p(x, z) up to constants, from the sufficient statistics n, sum x, sum x^2.
        let prior = (z.affine(1.0, -m0)?.sqr()? * (-0.5 / v0))?;
        let lik = ((z.sqr()? * n)? - (z.clone() * (2.0 * sx))?)?.affine(-0.5 / s2, -0.5 * sx2 / s2)?;
        let entropy = log_s.sum_all()?; // H(q) = log s + const
        let elbo_mc = ((prior + lik)?.mean_all()? + entropy)?;
        opt.step(&elbo_mc.neg()?.backward()?)?; // ascend the ELBO
        let q = Normal1 { mean: scalar(&m)?, var: (2.0 * scalar(&log_s)?).exp() };
        elbo.push(model.elbo(q));
    }
    Ok(ViFit { q: Normal1 { mean: scalar(&m)?, var: (2.0 * scalar(&log_s)?).exp() }, elbo })
}
// ANCHOR_END: fit

fn scalar(v: &Var) -> Result<f64> {
    Ok(v.as_tensor().to_vec1::<f32>()?[0] as f64)
}

/// The variance of two unbiased estimators of `d ELBO / d m` at `q`, with `k` samples each.
#[derive(Debug, Clone, PartialEq)]
pub struct GradientVariance {
    pub k: usize,
    pub exact: f64,
    pub reparam_mean: f64,
    pub reparam_var: f64,
    pub score_mean: f64,
    pub score_var: f64,
}

/// Repeats each estimator `reps` times for every `k` and measures its mean and variance.
///
/// - reparameterization: `mean_k d/dz log p(x, z_k)` with `z_k = m + s eps_k` (the entropy does
///   not depend on `m`);
/// - score function: `mean_k (log p(x, z_k) - log q(z_k)) (z_k - m) / s^2`.
pub fn gradient_variance(
    model: &GaussianModel,
    q: Normal1,
    ks: &[usize],
    reps: usize,
    seed: u64,
) -> Vec<GradientVariance> {
    let exact = model.dlog_joint(q.mean); // E_q of a linear function of z
    let mut rng = SeededRng::new(seed);
    ks.iter()
        .map(|&k| {
            let (mut rep, mut score) = (Vec::with_capacity(reps), Vec::with_capacity(reps));
            for _ in 0..reps {
                let zs = q.samples(k, &mut rng);
                rep.push(zs.iter().map(|&z| model.dlog_joint(z)).sum::<f64>() / k as f64);
                let f = |z: f64| (model.log_joint(z) - q.log_pdf(z)) * (z - q.mean) / q.var;
                score.push(zs.iter().map(|&z| f(z)).sum::<f64>() / k as f64);
            }
            let var = |v: &[f64]| {
                let (m, se) = mean_and_se(v);
                (m, se * se * v.len() as f64)
            };
            let ((rm, rv), (sm, sv)) = (var(&rep), var(&score));
            GradientVariance { k, exact, reparam_mean: rm, reparam_var: rv, score_mean: sm, score_var: sv }
        })
        .collect()
}

/// A two-dimensional Gaussian `N(mean, cov)` and a mean-field (diagonal) Gaussian fitted to it.
#[derive(Debug, Clone, PartialEq)]
pub struct MeanFieldFit {
    pub mean: [f64; 2],
    pub cov: [[f64; 2]; 2],
    /// `q` minimizing `KL(q || p)`: means and variances.
    pub reverse: ([f64; 2], [f64; 2]),
    /// `q` minimizing `KL(p || q)`.
    pub forward: ([f64; 2], [f64; 2]),
}

/// Fits a diagonal Gaussian to `N(mean, [[1, rho], [rho, 1]])` both ways, by Adam on the closed-form
/// KL divergences (candle's autograd for the gradients).
pub fn fit_mean_field(mean: [f64; 2], rho: f64, steps: usize) -> Result<MeanFieldFit> {
    let dev = Device::Cpu;
    let det = 1.0 - rho * rho;
    let prec = [[1.0 / det, -rho / det], [-rho / det, 1.0 / det]];
    let p_mean = Tensor::new(&[mean[0] as f32, mean[1] as f32], &dev)?;
    let fit = |forward: bool| -> Result<([f64; 2], [f64; 2])> {
        let mu = Var::new(&[-1.0f32, 1.0], &dev)?;
        let log_v = Var::new(&[0.5f32, -0.5], &dev)?;
        let mut opt = Adam::new(vec![("mu".into(), mu.clone()), ("log_v".into(), log_v.clone())], 0.05)?;
        for _ in 0..steps {
            let d = (mu.as_tensor() - &p_mean)?; // (2,)
            let v = log_v.exp()?;
            let kl = if forward {
                // KL(p||q) = 1/2 sum_i [(cov_ii + d_i^2) / v_i + log v_i] + const
                ((d.sqr()?.affine(1.0, 1.0)? / &v)? + log_v.as_tensor())?.sum_all()?.affine(0.5, 0.0)?
            } else {
                // KL(q||p) = 1/2 [sum_i prec_ii v_i + d^T prec d - sum_i log v_i] + const
                let pd = Tensor::new(&[prec[0][0] as f32, prec[1][1] as f32], &dev)?;
                let quad = {
                    let d0 = d.get(0)?;
                    let d1 = d.get(1)?;
                    (((d0.sqr()? * prec[0][0])? + (d1.sqr()? * prec[1][1])?)? + ((d0 * d1)? * (2.0 * prec[0][1]))?)?
                };
                (((v * pd)?.sum_all()? + quad)? - log_v.sum_all()?)?.affine(0.5, 0.0)?
            };
            opt.step(&kl.backward()?)?;
        }
        let m = mu.as_tensor().to_vec1::<f32>()?;
        let v = log_v.exp()?.to_vec1::<f32>()?;
        Ok(([m[0] as f64, m[1] as f64], [v[0] as f64, v[1] as f64]))
    };
    Ok(MeanFieldFit { mean, cov: [[1.0, rho], [rho, 1.0]], reverse: fit(false)?, forward: fit(true)? })
}

/// Points on the ellipse where a 2-D Gaussian's density is `k` standard deviations from its mean.
pub fn ellipse(mean: [f64; 2], cov: [[f64; 2]; 2], k: f64, points: usize) -> Vec<(f32, f32)> {
    // Eigen-decomposition of a symmetric 2x2 matrix.
    let (a, b, c) = (cov[0][0], cov[0][1], cov[1][1]);
    let tr = a + c;
    let disc = ((a - c).powi(2) / 4.0 + b * b).sqrt();
    let (l1, l2) = (tr / 2.0 + disc, tr / 2.0 - disc);
    let angle = if b.abs() < 1e-12 { if a >= c { 0.0 } else { PI / 2.0 } } else { (l1 - a).atan2(b) };
    let (ca, sa) = (angle.cos(), angle.sin());
    (0..=points)
        .map(|i| {
            let t = 2.0 * PI * i as f64 / points as f64;
            let (u, v) = (k * l1.sqrt() * t.cos(), k * l2.max(0.0).sqrt() * t.sin());
            ((mean[0] + ca * u - sa * v) as f32, (mean[1] + sa * u + ca * v) as f32)
        })
        .collect()
}
