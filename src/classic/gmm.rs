//! A Gaussian mixture in two dimensions, fitted by expectation-maximisation (EM).
//!
//! The mixture `p(x) = sum_k pi_k N(x; mu_k, Sigma_k)` is an *explicit* model: its density is a
//! finite sum we can evaluate. It is also the simplest latent-variable model, the latent variable
//! being the component `k`; because `k` takes finitely many values, its posterior (the
//! "responsibility" `p(k | x)`) is Bayes' rule computed exactly, which is what EM's E-step does.

use crate::prob::SeededRng;
use std::f64::consts::PI;

/// A Gaussian in two dimensions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gaussian2 {
    pub mean: [f64; 2],
    pub cov: [[f64; 2]; 2],
}

impl Gaussian2 {
    fn det(&self) -> f64 {
        self.cov[0][0] * self.cov[1][1] - self.cov[0][1] * self.cov[1][0]
    }

    pub fn log_pdf(&self, x: [f64; 2]) -> f64 {
        let det = self.det();
        let (d0, d1) = (x[0] - self.mean[0], x[1] - self.mean[1]);
        // (x - mu)^T Sigma^-1 (x - mu) with the 2x2 inverse written out.
        let quad = (self.cov[1][1] * d0 * d0 - 2.0 * self.cov[0][1] * d0 * d1 + self.cov[0][0] * d1 * d1) / det;
        -0.5 * (quad + (4.0 * PI * PI * det).ln())
    }

    /// One draw: `mu + L eps` with `L` the Cholesky factor of the covariance.
    pub fn sample(&self, rng: &mut SeededRng) -> [f64; 2] {
        let l00 = self.cov[0][0].sqrt();
        let l10 = self.cov[1][0] / l00;
        let l11 = (self.cov[1][1] - l10 * l10).max(0.0).sqrt();
        let (e0, e1) = (rng.normal_f64(), rng.normal_f64());
        [self.mean[0] + l00 * e0, self.mean[1] + l10 * e0 + l11 * e1]
    }
}

/// `sum_k weights[k] N(x; components[k])`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mixture {
    pub weights: Vec<f64>,
    pub components: Vec<Gaussian2>,
}

impl Mixture {
    /// `log pi_k + log N(x; mu_k, Sigma_k)` for every `k`: the log joint `log p(x, k)`.
    fn log_joint(&self, x: [f64; 2]) -> Vec<f64> {
        self.weights.iter().zip(&self.components).map(|(w, c)| w.ln() + c.log_pdf(x)).collect()
    }

    /// `log p(x) = log sum_k p(x, k)`: the evidence, a finite sum.
    pub fn log_pdf(&self, x: [f64; 2]) -> f64 {
        log_sum_exp(&self.log_joint(x))
    }

    /// The posterior over components, `p(k | x) = p(x, k) / p(x)` (Bayes' rule).
    pub fn responsibilities(&self, x: [f64; 2]) -> Vec<f64> {
        let joint = self.log_joint(x);
        let evidence = log_sum_exp(&joint);
        joint.iter().map(|j| (j - evidence).exp()).collect()
    }

    /// The mean of `log p(x)` over the points (nats per point).
    pub fn mean_log_likelihood(&self, xs: &[[f64; 2]]) -> f64 {
        xs.iter().map(|&x| self.log_pdf(x)).sum::<f64>() / xs.len() as f64
    }

    /// `n` draws by ancestral sampling: the component first, then the point; returns both.
    pub fn sample(&self, n: usize, rng: &mut SeededRng) -> Vec<([f64; 2], usize)> {
        (0..n)
            .map(|_| {
                let u = rng.uniform_f64();
                let mut acc = 0.0;
                let k = self.weights.iter().position(|w| {
                    acc += w;
                    u < acc
                });
                let k = k.unwrap_or(self.weights.len() - 1);
                (self.components[k].sample(rng), k)
            })
            .collect()
    }

    /// The number of free parameters: `k - 1` weights, and 2 means + 3 covariances per component.
    pub fn parameter_count(&self) -> usize {
        6 * self.weights.len() - 1
    }
}

fn log_sum_exp(v: &[f64]) -> f64 {
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// A mixture fitted by EM and the mean log-likelihood before each iteration and at the end.
#[derive(Debug, Clone)]
pub struct EmFit {
    pub mixture: Mixture,
    pub log_likelihood: Vec<f64>,
}

// ANCHOR: em
/// Fits a `k`-component mixture to `xs` by `iterations` rounds of EM (fewer if the log-likelihood
/// stops rising). The means start at `k` data points chosen with `seed`, the covariances at the
/// data's covariance, the weights uniform. `floor` is added to every variance: without it a
/// component can shrink onto a few identical points and the likelihood grows without bound.
pub fn fit_em(xs: &[[f64; 2]], k: usize, iterations: usize, floor: f64, seed: u64) -> EmFit {
    let all = weighted_gaussian(xs, &vec![1.0; xs.len()], floor);
    let starts = SeededRng::new(seed).permutation(xs.len());
    let components = starts.iter().take(k).map(|&i| Gaussian2 { mean: xs[i as usize], cov: all.cov }).collect();
    let mut mixture = Mixture { weights: vec![1.0 / k as f64; k], components };
    let mut log_likelihood = vec![mixture.mean_log_likelihood(xs)];
    for _ in 0..iterations {
        // E-step: each point's posterior over components, by Bayes' rule.
        let resp: Vec<Vec<f64>> = xs.iter().map(|&x| mixture.responsibilities(x)).collect();
        // M-step: each component refitted to the points, weighted by their responsibilities.
        for (j, component) in mixture.components.iter_mut().enumerate() {
            let w: Vec<f64> = resp.iter().map(|r| r[j]).collect();
            mixture.weights[j] = w.iter().sum::<f64>() / xs.len() as f64;
            *component = weighted_gaussian(xs, &w, floor);
        }
        let ll = mixture.mean_log_likelihood(xs);
        let gain = ll - log_likelihood.last().copied().unwrap_or(f64::NEG_INFINITY);
        log_likelihood.push(ll);
        if gain < 1e-10 {
            break; // EM never lowers the likelihood; once it stops rising we are at a fixed point.
        }
    }
    EmFit { mixture, log_likelihood }
}
// ANCHOR_END: em

/// EM from `restarts` starting points (seeds `seed`, `seed + 1`, ...): each run climbs to a local
/// maximum of the likelihood, and the best one is kept. Also returns each run's final mean
/// log-likelihood, in seed order.
pub fn fit_em_restarts(
    xs: &[[f64; 2]],
    k: usize,
    iterations: usize,
    floor: f64,
    restarts: usize,
    seed: u64,
) -> (EmFit, Vec<f64>) {
    let mut runs: Vec<EmFit> =
        (0..restarts.max(1) as u64).map(|r| fit_em(xs, k, iterations, floor, seed + r)).collect();
    let finals: Vec<f64> = runs.iter().map(|f| f.log_likelihood.last().copied().unwrap_or(f64::NEG_INFINITY)).collect();
    let best = (0..runs.len()).max_by(|&a, &b| finals[a].total_cmp(&finals[b])).unwrap_or(0);
    (runs.swap_remove(best), finals) // `runs` has at least one element: restarts.max(1)
}

/// The maximum-likelihood Gaussian of points with weights `w`, `floor` added to its variances.
fn weighted_gaussian(xs: &[[f64; 2]], w: &[f64], floor: f64) -> Gaussian2 {
    let total: f64 = w.iter().sum::<f64>().max(1e-300);
    let mut mean = [0.0; 2];
    for (x, wi) in xs.iter().zip(w) {
        mean[0] += wi * x[0] / total;
        mean[1] += wi * x[1] / total;
    }
    let mut cov = [[floor, 0.0], [0.0, floor]];
    for (x, wi) in xs.iter().zip(w) {
        let d = [x[0] - mean[0], x[1] - mean[1]];
        for (r, dr) in d.iter().enumerate() {
            for (c, dc) in d.iter().enumerate() {
                cov[r][c] += wi * dr * dc / total;
            }
        }
    }
    Gaussian2 { mean, cov }
}

/// The Bayesian information criterion, `-2 log-likelihood + parameters * ln n` (lower is better).
pub fn bic(mixture: &Mixture, xs: &[[f64; 2]]) -> f64 {
    let n = xs.len() as f64;
    -2.0 * n * mixture.mean_log_likelihood(xs) + mixture.parameter_count() as f64 * n.ln()
}
