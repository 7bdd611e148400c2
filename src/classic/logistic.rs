//! Bayesian logistic regression: a model whose posterior has no closed form, so variational
//! inference earns its keep. The VI answer (a mean-field Gaussian fitted with candle's autograd) is
//! checked against a long Hamiltonian Monte Carlo run and an importance-sampling estimate of the
//! evidence.
//!
//! Model: `w ~ N(0, prior_var I)` over an intercept and standardized features, and
//! `y_i | w ~ Bernoulli(sigmoid(w . x_i))`.

use crate::data::tabular::Table;
use crate::optim::Adam;
use crate::prob::SeededRng;
use candle_core::{Device, Result, Tensor, Var};
use std::f64::consts::PI;

/// Rows of features (the first column is the constant 1 of the intercept) and 0/1 targets.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticData {
    /// Row-major, `rows * dim` values.
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    /// Parameters per row: the intercept plus one per feature.
    pub dim: usize,
}

impl LogisticData {
    pub fn rows(&self) -> usize {
        self.y.len()
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.dim..(i + 1) * self.dim]
    }

    fn logit(&self, i: usize, w: &[f64]) -> f64 {
        self.row(i).iter().zip(w).map(|(a, b)| a * b).sum()
    }

    /// `sum_i log p(y_i | w)`.
    pub fn log_likelihood(&self, w: &[f64]) -> f64 {
        (0..self.rows()).map(|i| self.y[i] * self.logit(i, w) - softplus(self.logit(i, w))).sum()
    }
}

/// Splits `table` into a training and a test set (a seeded shuffle, `test` rows held out), standardizes
/// every feature with the training rows' mean and standard deviation, and prepends the intercept's 1.
/// The target is the class index (for the breast cancer data: 1 = benign).
pub fn split(table: &Table, test: usize, seed: u64) -> (LogisticData, LogisticData) {
    let order = SeededRng::new(seed).permutation(table.rows());
    let (test_rows, train_rows) = order.split_at(test.min(table.rows()));
    let d = table.features;
    let mut mean = vec![0.0; d];
    let mut sd = vec![0.0; d];
    let n = train_rows.len() as f64;
    for &i in train_rows {
        for (m, v) in mean.iter_mut().zip(table.row(i as usize)) {
            *m += v / n;
        }
    }
    for &i in train_rows {
        for ((s, m), v) in sd.iter_mut().zip(&mean).zip(table.row(i as usize)) {
            *s += (v - m).powi(2) / n;
        }
    }
    let build = |rows: &[u32]| {
        let mut x = Vec::with_capacity(rows.len() * (d + 1));
        for &i in rows {
            x.push(1.0);
            for ((v, m), s) in table.row(i as usize).iter().zip(&mean).zip(&sd) {
                x.push((v - m) / s.sqrt().max(1e-12));
            }
        }
        LogisticData { x, y: rows.iter().map(|&i| table.labels[i as usize] as f64).collect(), dim: d + 1 }
    };
    (build(train_rows), build(test_rows))
}

/// `log(1 + e^t)`, without overflow.
fn softplus(t: f64) -> f64 {
    t.max(0.0) + (-t.abs()).exp().ln_1p()
}

fn sigmoid(t: f64) -> f64 {
    1.0 / (1.0 + (-t).exp())
}

/// The posterior `p(w | y) ∝ N(w; 0, prior_var I) prod_i p(y_i | w)`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticModel {
    pub data: LogisticData,
    pub prior_var: f64,
}

impl LogisticModel {
    pub fn dim(&self) -> usize {
        self.data.dim
    }

    /// `log p(y, w)`, with all constants.
    pub fn log_joint(&self, w: &[f64]) -> f64 {
        let prior: f64 = w.iter().map(|v| -0.5 * (v * v / self.prior_var + (2.0 * PI * self.prior_var).ln())).sum();
        prior + self.data.log_likelihood(w)
    }

    /// Writes `d/dw log p(y, w)` into `grad`: `X^T (y - sigmoid(X w)) - w / prior_var`.
    pub fn grad_log_joint(&self, w: &[f64], grad: &mut [f64]) {
        for (g, v) in grad.iter_mut().zip(w) {
            *g = -v / self.prior_var;
        }
        for i in 0..self.data.rows() {
            let r = self.data.y[i] - sigmoid(self.data.logit(i, w));
            for (g, xij) in grad.iter_mut().zip(self.data.row(i)) {
                *g += r * xij;
            }
        }
    }

    /// The posterior mode, by gradient ascent with a step of `1 / L` for `L` a bound on the curvature.
    pub fn map(&self, iterations: usize) -> Vec<f64> {
        // The Hessian's largest eigenvalue is at most ||X||_F^2 / 4 + 1 / prior_var.
        let lipschitz = self.data.x.iter().map(|v| v * v).sum::<f64>() / 4.0 + 1.0 / self.prior_var;
        let mut w = vec![0.0; self.dim()];
        let mut g = vec![0.0; self.dim()];
        for _ in 0..iterations {
            self.grad_log_joint(&w, &mut g);
            for (wi, gi) in w.iter_mut().zip(&g) {
                *wi += gi / lipschitz;
            }
        }
        w
    }
}

/// How [`hmc`] samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HmcConfig {
    /// The leapfrog step; each trajectory uses it times a uniform factor in [0.8, 1.2].
    pub step_size: f64,
    pub leapfrog_steps: usize,
    /// Draws discarded at the start.
    pub warmup: usize,
    pub draws: usize,
    pub seed: u64,
}

/// Draws from one Markov chain, row-major (`draws * dim`).
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    pub draws: Vec<f64>,
    pub dim: usize,
    /// The fraction of proposals accepted after warm-up.
    pub acceptance: f64,
}

impl Chain {
    pub fn len(&self) -> usize {
        self.draws.len() / self.dim
    }

    pub fn is_empty(&self) -> bool {
        self.draws.is_empty()
    }

    pub fn draw(&self, t: usize) -> &[f64] {
        &self.draws[t * self.dim..(t + 1) * self.dim]
    }

    /// The mean and standard deviation of each coordinate.
    pub fn moments(&self) -> (Vec<f64>, Vec<f64>) {
        let n = self.len() as f64;
        let mut mean = vec![0.0; self.dim];
        for t in 0..self.len() {
            for (m, v) in mean.iter_mut().zip(self.draw(t)) {
                *m += v / n;
            }
        }
        let mut var = vec![0.0; self.dim];
        for t in 0..self.len() {
            for ((s, m), v) in var.iter_mut().zip(&mean).zip(self.draw(t)) {
                *s += (v - m).powi(2) / (n - 1.0);
            }
        }
        (mean, var.into_iter().map(f64::sqrt).collect())
    }

    /// The sample covariance of coordinates `a` and `b`, as a 2x2 matrix.
    pub fn covariance2(&self, a: usize, b: usize) -> ([f64; 2], [[f64; 2]; 2]) {
        let n = self.len() as f64;
        let (ma, mb) = (
            (0..self.len()).map(|t| self.draw(t)[a]).sum::<f64>() / n,
            (0..self.len()).map(|t| self.draw(t)[b]).sum::<f64>() / n,
        );
        let c = |i: usize, j: usize, mi: f64, mj: f64| {
            (0..self.len()).map(|t| (self.draw(t)[i] - mi) * (self.draw(t)[j] - mj)).sum::<f64>() / (n - 1.0)
        };
        let ab = c(a, b, ma, mb);
        ([ma, mb], [[c(a, a, ma, ma), ab], [ab, c(b, b, mb, mb)]])
    }

    /// The full sample covariance matrix, row-major.
    pub fn covariance(&self) -> Vec<f64> {
        let (mean, _) = self.moments();
        let (n, d) = (self.len() as f64, self.dim);
        let mut cov = vec![0.0; d * d];
        for t in 0..self.len() {
            let w = self.draw(t);
            for i in 0..d {
                for j in 0..d {
                    cov[i * d + j] += (w[i] - mean[i]) * (w[j] - mean[j]) / (n - 1.0);
                }
            }
        }
        cov
    }
}

// ANCHOR: hmc
/// Hamiltonian Monte Carlo from `start`: each proposal follows the gradient of `log p(y, w)` for
/// `leapfrog_steps` steps with a random momentum, and is accepted with probability
/// `min(1, exp(-change in energy))`, which makes the chain's stationary distribution the posterior.
pub fn hmc(model: &LogisticModel, cfg: HmcConfig, start: &[f64]) -> Chain {
    let d = model.dim();
    let mut rng = SeededRng::new(cfg.seed);
    let (mut w, mut grad) = (start.to_vec(), vec![0.0; d]);
    model.grad_log_joint(&w, &mut grad);
    let mut log_p = model.log_joint(&w);
    let mut draws = Vec::with_capacity(cfg.draws * d);
    let mut accepted = 0;
    for t in 0..cfg.warmup + cfg.draws {
        let eps = cfg.step_size * (0.8 + 0.4 * rng.uniform_f64());
        let mut p: Vec<f64> = (0..d).map(|_| rng.normal_f64()).collect();
        let h0 = -log_p + 0.5 * p.iter().map(|v| v * v).sum::<f64>();
        let (mut w1, mut g1) = (w.clone(), grad.clone());
        for _ in 0..cfg.leapfrog_steps {
            p.iter_mut().zip(&g1).for_each(|(pi, gi)| *pi += 0.5 * eps * gi);
            w1.iter_mut().zip(&p).for_each(|(wi, pi)| *wi += eps * pi);
            model.grad_log_joint(&w1, &mut g1);
            p.iter_mut().zip(&g1).for_each(|(pi, gi)| *pi += 0.5 * eps * gi);
        }
        let log_p1 = model.log_joint(&w1);
        let h1 = -log_p1 + 0.5 * p.iter().map(|v| v * v).sum::<f64>();
        if rng.uniform_f64().ln() < h0 - h1 {
            (w, grad, log_p) = (w1, g1, log_p1);
            accepted += usize::from(t >= cfg.warmup);
        }
        if t >= cfg.warmup {
            draws.extend_from_slice(&w);
        }
    }
    Chain { draws, dim: d, acceptance: accepted as f64 / cfg.draws.max(1) as f64 }
}
// ANCHOR_END: hmc

/// A mean-field Gaussian `q(w) = prod_j N(w_j; mean_j, sd_j^2)`.
#[derive(Debug, Clone, PartialEq)]
pub struct MeanField {
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
}

impl MeanField {
    pub fn log_pdf(&self, w: &[f64]) -> f64 {
        w.iter()
            .zip(&self.mean)
            .zip(&self.sd)
            .map(|((v, m), s)| -0.5 * (((v - m) / s).powi(2) + (2.0 * PI * s * s).ln()))
            .sum()
    }

    pub fn sample(&self, rng: &mut SeededRng) -> Vec<f64> {
        self.mean.iter().zip(&self.sd).map(|(m, s)| m + s * rng.normal_f64()).collect()
    }
}

/// The fitted `q` and the Monte Carlo ELBO of each step.
#[derive(Debug, Clone)]
pub struct LogisticVi {
    pub q: MeanField,
    pub elbo: Vec<f64>,
}

// ANCHOR: vi
/// Fits a mean-field Gaussian to the posterior by Adam on a reparameterized Monte Carlo ELBO with
/// `samples` draws per step; candle's autograd differentiates it. The learning rate decays from
/// `lr` to `lr / 10`.
pub fn fit_vi(model: &LogisticModel, steps: usize, samples: usize, lr: f64, seed: u64) -> Result<LogisticVi> {
    let dev = Device::Cpu;
    let (n, d) = (model.data.rows(), model.dim());
    let x = Tensor::from_vec(model.data.x.iter().map(|&v| v as f32).collect::<Vec<_>>(), (n, d), &dev)?;
    let xt = x.t()?.contiguous()?; // (d, n)
    let y = Tensor::from_vec(model.data.y.iter().map(|&v| v as f32).collect::<Vec<_>>(), (1, n), &dev)?;
    let mean = Var::zeros(d, candle_core::DType::F32, &dev)?;
    let log_sd = Var::from_tensor(&Tensor::full(-2f32, d, &dev)?)?;
    let mut opt = Adam::new(vec![("mean".into(), mean.clone()), ("log_sd".into(), log_sd.clone())], lr)?;
    let mut rng = SeededRng::new(seed);
    let mut elbo = Vec::with_capacity(steps);
    for step in 0..steps {
        opt.lr = lr * (1.0 - 0.9 * step as f64 / steps as f64);
        let eps = rng.normal(&[samples, d], &dev)?;
        let w = eps.broadcast_mul(&log_sd.exp()?)?.broadcast_add(&mean)?; // (samples, d)
        let logits = w.matmul(&xt)?; // (samples, n)
        // log p(y | w) = y * logit - softplus(logit)
        let log_lik = (logits.broadcast_mul(&y)? - crate::prob::softplus(&logits)?)?.sum_all()?;
        let log_prior = (w.sqr()?.sum_all()? * (-0.5 / model.prior_var))?;
        let entropy = log_sd.sum_all()?; // H(q) = sum_j log sd_j + const
        let elbo_mc = (((log_lik + log_prior)? / samples as f64)? + entropy)?;
        opt.step(&elbo_mc.neg()?.backward()?)?;
        // Add back the constants dropped above, so the number is the ELBO itself.
        let constants =
            -0.5 * d as f64 * (2.0 * PI * model.prior_var).ln() + 0.5 * d as f64 * (2.0 * PI).ln() + 0.5 * d as f64;
        elbo.push(elbo_mc.to_scalar::<f32>()? as f64 + constants);
    }
    let to64 = |t: Tensor| -> Result<Vec<f64>> { Ok(t.to_vec1::<f32>()?.into_iter().map(f64::from).collect()) };
    let q = MeanField { mean: to64(mean.as_tensor().clone())?, sd: to64(log_sd.exp()?)? };
    Ok(LogisticVi { q, elbo })
}
// ANCHOR_END: vi

/// `E_q[log p(y, w) - log q(w)]` by Monte Carlo with `k` draws: the estimate and its standard error.
pub fn elbo(model: &LogisticModel, q: &MeanField, k: usize, seed: u64) -> (f64, f64) {
    let mut rng = SeededRng::new(seed);
    let values: Vec<f64> = (0..k)
        .map(|_| {
            let w = q.sample(&mut rng);
            model.log_joint(&w) - q.log_pdf(&w)
        })
        .collect();
    crate::classic::vi::mean_and_se(&values)
}

/// A Gaussian with a full covariance, sampled through its Cholesky factor.
#[derive(Debug, Clone, PartialEq)]
pub struct FullGaussian {
    pub mean: Vec<f64>,
    /// Lower-triangular, row-major.
    chol: Vec<f64>,
    log_det: f64,
}

impl FullGaussian {
    /// `None` if `cov` (row-major, `d * d`) is not positive definite.
    pub fn new(mean: Vec<f64>, cov: &[f64]) -> Option<Self> {
        let d = mean.len();
        let mut l = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..=i {
                let s = cov[i * d + j] - (0..j).map(|k| l[i * d + k] * l[j * d + k]).sum::<f64>();
                if i == j {
                    if s <= 0.0 {
                        return None;
                    }
                    l[i * d + i] = s.sqrt();
                } else {
                    l[i * d + j] = s / l[j * d + j];
                }
            }
        }
        let log_det = 2.0 * (0..d).map(|i| l[i * d + i].ln()).sum::<f64>();
        Some(Self { mean, chol: l, log_det })
    }

    /// Draws `mean + L eps` and returns it with its log-density.
    pub fn sample_with_log_pdf(&self, rng: &mut SeededRng) -> (Vec<f64>, f64) {
        let d = self.mean.len();
        let eps: Vec<f64> = (0..d).map(|_| rng.normal_f64()).collect();
        let w = (0..d).map(|i| self.mean[i] + (0..=i).map(|k| self.chol[i * d + k] * eps[k]).sum::<f64>()).collect();
        let log_pdf = -0.5 * (eps.iter().map(|e| e * e).sum::<f64>() + self.log_det + d as f64 * (2.0 * PI).ln());
        (w, log_pdf)
    }
}

/// `log p(y)` by importance sampling with `k` draws from `proposal`: the estimate, its standard
/// error (delta method), and the effective sample size of the weights.
pub fn log_evidence(model: &LogisticModel, proposal: &FullGaussian, k: usize, seed: u64) -> (f64, f64, f64) {
    let mut rng = SeededRng::new(seed);
    let log_w: Vec<f64> = (0..k)
        .map(|_| {
            let (w, log_r) = proposal.sample_with_log_pdf(&mut rng);
            model.log_joint(&w) - log_r
        })
        .collect();
    let m = log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = log_w.iter().map(|v| (v - m).exp()).collect();
    let (mean, se) = crate::classic::vi::mean_and_se(&w);
    let ess = w.iter().sum::<f64>().powi(2) / w.iter().map(|v| v * v).sum::<f64>();
    (m + mean.ln(), se / mean, ess)
}

/// The mean over `data` of the posterior predictive `log p(y_i | x_i)`, with the predictive
/// probability averaged over `draws` (each a weight vector), and the accuracy of predicting
/// `y = 1` when that probability exceeds 1/2.
pub fn predictive(data: &LogisticData, draws: &[Vec<f64>]) -> (f64, f64) {
    let (mut log_p, mut correct) = (0.0, 0usize);
    for i in 0..data.rows() {
        let p1 = draws.iter().map(|w| sigmoid(data.logit(i, w))).sum::<f64>() / draws.len() as f64;
        let p_y = if data.y[i] == 1.0 { p1 } else { 1.0 - p1 };
        log_p += p_y.max(1e-300).ln();
        correct += usize::from((p1 > 0.5) == (data.y[i] == 1.0));
    }
    (log_p / data.rows() as f64, correct as f64 / data.rows() as f64)
}
