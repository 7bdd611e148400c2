//! Bayesian logistic regression: gradients, HMC and VI against quadrature on a one-weight model.

use vae_book::classic::logistic::{self, FullGaussian, HmcConfig, LogisticData, LogisticModel, MeanField};
use vae_book::data::tabular;
use vae_book::prob::SeededRng;

/// An intercept-only model: 30 ones and 10 zeros, prior N(0, 1). Its posterior is one-dimensional,
/// so quadrature gives its moments and evidence to many digits.
fn coin_model() -> LogisticModel {
    let y: Vec<f64> = (0..40).map(|i| if i < 30 { 1.0 } else { 0.0 }).collect();
    LogisticModel { data: LogisticData { x: vec![1.0; 40], y, dim: 1 }, prior_var: 1.0 }
}

/// (log p(y), posterior mean, posterior s.d.) by the midpoint rule on [-6, 6].
fn quadrature(model: &LogisticModel) -> (f64, f64, f64) {
    let (n, lo, h) = (120_000, -6.0, 12.0 / 120_000.0);
    let grid: Vec<f64> = (0..n).map(|i| lo + h * (i as f64 + 0.5)).collect();
    let logs: Vec<f64> = grid.iter().map(|&w| model.log_joint(&[w])).collect();
    let m = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let p: Vec<f64> = logs.iter().map(|l| (l - m).exp()).collect();
    let z: f64 = p.iter().sum();
    let mean = grid.iter().zip(&p).map(|(w, p)| w * p).sum::<f64>() / z;
    let var = grid.iter().zip(&p).map(|(w, p)| (w - mean).powi(2) * p).sum::<f64>() / z;
    (m + (z * h).ln(), mean, var.sqrt())
}

#[test]
fn gradient_matches_finite_differences() {
    let (train, _) = logistic::split(&tabular::breast_cancer().unwrap(), 169, 0);
    let model = LogisticModel { data: train, prior_var: 1.0 };
    let mut rng = SeededRng::new(1);
    let w: Vec<f64> = (0..model.dim()).map(|_| 0.3 * rng.normal_f64()).collect();
    let mut grad = vec![0.0; model.dim()];
    model.grad_log_joint(&w, &mut grad);
    for j in [0, 1, 7, 30] {
        let (mut up, mut down) = (w.clone(), w.clone());
        up[j] += 1e-5;
        down[j] -= 1e-5;
        let numeric = (model.log_joint(&up) - model.log_joint(&down)) / 2e-5;
        assert!((numeric - grad[j]).abs() < 1e-4 * (1.0 + numeric.abs()), "w_{j}: {numeric} vs {}", grad[j]);
    }
}

#[test]
fn split_standardizes_with_training_statistics() {
    let (train, test) = logistic::split(&tabular::breast_cancer().unwrap(), 169, 0);
    assert_eq!((train.rows(), test.rows(), train.dim, test.dim), (400, 169, 31, 31));
    let n = train.rows() as f64;
    for c in 0..train.dim {
        let mean = (0..train.rows()).map(|i| train.row(i)[c]).sum::<f64>() / n;
        let var = (0..train.rows()).map(|i| (train.row(i)[c] - mean).powi(2)).sum::<f64>() / n;
        if c == 0 {
            assert!((0..train.rows()).all(|i| train.row(i)[0] == 1.0) && test.row(0)[0] == 1.0, "intercept column");
        } else {
            assert!(mean.abs() < 1e-10 && (var - 1.0).abs() < 1e-9, "column {c}: {mean} {var}");
        }
    }
}

#[test]
fn hmc_matches_quadrature_on_one_weight() {
    let model = coin_model();
    let (_, mean, sd) = quadrature(&model);
    let cfg = HmcConfig { step_size: 0.2, leapfrog_steps: 10, warmup: 200, draws: 20_000, seed: 4 };
    let chain = logistic::hmc(&model, cfg, &[-3.0]);
    let (m, s) = chain.moments();
    assert!(chain.acceptance > 0.8, "acceptance {}", chain.acceptance);
    // Draws are nearly independent with these settings: the standard error is about sd / sqrt(n).
    assert!((m[0] - mean).abs() < 4.0 * sd / (cfg.draws as f64).sqrt(), "mean {} vs {mean}", m[0]);
    assert!((s[0] / sd - 1.0).abs() < 0.03, "sd {} vs {sd}", s[0]);
}

#[test]
fn vi_and_importance_sampling_match_quadrature_on_one_weight() {
    let model = coin_model();
    let (log_p, mean, sd) = quadrature(&model);
    let vi = logistic::fit_vi(&model, 3000, 16, 0.05, 2).unwrap();
    // This posterior is nearly Gaussian, so the best Gaussian q is close to it.
    assert!((vi.q.mean[0] - mean).abs() < 0.05 && (vi.q.sd[0] / sd - 1.0).abs() < 0.1, "{:?} vs {mean} {sd}", vi.q);
    let (elbo, se) = logistic::elbo(&model, &vi.q, 50_000, 3);
    assert!(elbo < log_p + 3.0 * se && elbo > log_p - 0.05, "ELBO {elbo} ± {se}, log p(y) {log_p}");
    let proposal = FullGaussian::new(vec![mean], &[2.0 * sd * sd]).unwrap();
    let (est, est_se, ess) = logistic::log_evidence(&model, &proposal, 20_000, 5);
    assert!((est - log_p).abs() < 4.0 * est_se + 1e-4, "IS {est} ± {est_se}, quadrature {log_p}");
    assert!(ess > 5_000.0, "effective sample size {ess}");
}

#[test]
fn full_gaussian_agrees_with_the_mean_field_density_when_diagonal() {
    let q = MeanField { mean: vec![0.5, -1.0, 2.0], sd: vec![0.3, 1.5, 0.7] };
    let cov: Vec<f64> = (0..9).map(|i| if i % 4 == 0 { q.sd[i / 4].powi(2) } else { 0.0 }).collect();
    let full = FullGaussian::new(q.mean.clone(), &cov).unwrap();
    let mut rng = SeededRng::new(9);
    for _ in 0..5 {
        let (w, log_pdf) = full.sample_with_log_pdf(&mut rng);
        assert!((log_pdf - q.log_pdf(&w)).abs() < 1e-10);
    }
    assert!(FullGaussian::new(vec![0.0, 0.0], &[1.0, 2.0, 2.0, 1.0]).is_none(), "not positive definite");
}
