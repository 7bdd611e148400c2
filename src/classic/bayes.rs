//! Bayes' rule where everything is exact: the Beta-Bernoulli model updated as coin flips arrive,
//! and the evidence `p(x)` of the conjugate Gaussian model of [`crate::classic::vi`] estimated by Monte Carlo,
//! naively (sampling the prior) and by importance sampling, against its exact value.

use crate::classic::vi::{GaussianModel, Normal1};
use crate::prob::SeededRng;

/// `ln Gamma(x)` for `x > 0` (Lanczos approximation, g = 7, 9 terms; relative error below 1e-13).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Gamma(x) Gamma(1 - x) = pi / sin(pi x).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + G + 0.5;
    let series: f64 = C[0] + C[1..].iter().enumerate().map(|(i, c)| c / (x + i as f64 + 1.0)).sum::<f64>();
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + series.ln()
}

/// A Beta distribution over a coin's probability of heads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Beta {
    pub a: f64,
    pub b: f64,
}

impl Beta {
    pub fn ln_pdf(&self, p: f64) -> f64 {
        (self.a - 1.0) * p.ln() + (self.b - 1.0) * (1.0 - p).ln() - ln_beta(self.a, self.b)
    }

    /// The posterior after `heads` and `tails`: conjugacy turns Bayes' rule into two additions.
    pub fn update(&self, heads: usize, tails: usize) -> Beta {
        Beta { a: self.a + heads as f64, b: self.b + tails as f64 }
    }

    /// The exact evidence of a sequence with `heads` and `tails`:
    /// `p(x) = B(a + heads, b + tails) / B(a, b)`.
    pub fn ln_evidence(&self, heads: usize, tails: usize) -> f64 {
        ln_beta(self.a + heads as f64, self.b + tails as f64) - ln_beta(self.a, self.b)
    }

    pub fn mean(&self) -> f64 {
        self.a / (self.a + self.b)
    }
}

/// `ln B(a, b) = ln Gamma(a) + ln Gamma(b) - ln Gamma(a + b)`.
pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// `n` coin flips with probability `p` of heads (true = heads), from `seed`.
pub fn coin_flips(n: usize, p: f64, seed: u64) -> Vec<bool> {
    SeededRng::new(seed).uniform_vec(n, 0.0, 1.0).unwrap_or_default().into_iter().map(|u| (u as f64) < p).collect()
}

/// `log((1/k) sum_i exp(w_i))`, computed without overflow.
pub fn log_mean_exp(w: &[f64]) -> f64 {
    let m = w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m + (w.iter().map(|v| (v - m).exp()).sum::<f64>() / w.len() as f64).ln()
}

/// Two Monte Carlo estimates of `log p(x)` with `k` samples each:
/// naive, `log mean p(x | z_i)` with `z_i` from the prior; and importance sampling,
/// `log mean p(x, z_i) / r(z_i)` with `z_i` from a proposal `r`.
pub fn evidence_estimates(model: &GaussianModel, proposal: Normal1, k: usize, rng: &mut SeededRng) -> (f64, f64) {
    let prior = model.prior;
    // log p(x | z) = log p(x, z) - log p(z) for prior samples; the importance weights for proposal ones.
    let naive: Vec<f64> = prior.samples(k, rng).into_iter().map(|z| model.log_joint(z) - prior.log_pdf(z)).collect();
    let weights: Vec<f64> =
        proposal.samples(k, rng).into_iter().map(|z| model.log_joint(z) - proposal.log_pdf(z)).collect();
    (log_mean_exp(&naive), log_mean_exp(&weights))
}

/// The root-mean-square error of both estimators over `reps` repetitions, for each `k`.
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceError {
    pub k: usize,
    pub naive_rmse: f64,
    pub importance_rmse: f64,
}

pub fn evidence_errors(
    model: &GaussianModel,
    proposal: Normal1,
    ks: &[usize],
    reps: usize,
    seed: u64,
) -> Vec<EvidenceError> {
    let exact = model.log_evidence();
    let mut rng = SeededRng::new(seed);
    ks.iter()
        .map(|&k| {
            let (mut naive, mut imp) = (0.0, 0.0);
            for _ in 0..reps {
                let (a, b) = evidence_estimates(model, proposal, k, &mut rng);
                naive += (a - exact).powi(2);
                imp += (b - exact).powi(2);
            }
            EvidenceError { k, naive_rmse: (naive / reps as f64).sqrt(), importance_rmse: (imp / reps as f64).sqrt() }
        })
        .collect()
}
