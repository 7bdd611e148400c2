//! Bayes' rule and the evidence against exact values.

use vae_book::classic::bayes::{self, Beta};
use vae_book::classic::vi::{GaussianModel, Normal1};
use vae_book::prob::SeededRng;

#[test]
fn ln_gamma_matches_factorials_and_half_integers() {
    for n in 1..20u32 {
        let fact: f64 = (1..n).map(|i| i as f64).product();
        assert!((bayes::ln_gamma(n as f64) - fact.ln()).abs() < 1e-10, "n = {n}");
    }
    assert!((bayes::ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
}

#[test]
fn beta_bernoulli_evidence_is_the_product_of_predictives() {
    // p(x_1..x_n) = prod_i p(x_i | x_<i), each predictive the current posterior mean (or 1 - it).
    let prior = Beta { a: 2.0, b: 2.0 };
    let flips = bayes::coin_flips(30, 0.7, 4);
    let (mut post, mut log_p) = (prior, 0.0);
    for &h in &flips {
        log_p += if h { post.mean() } else { 1.0 - post.mean() }.ln();
        post = if h { post.update(1, 0) } else { post.update(0, 1) };
    }
    let heads = flips.iter().filter(|h| **h).count();
    assert!((log_p - prior.ln_evidence(heads, flips.len() - heads)).abs() < 1e-10);
    assert_eq!(post, prior.update(heads, flips.len() - heads));
    // A density integrates to one (midpoint rule).
    let n = 100_000;
    let total: f64 = (0..n).map(|i| post.ln_pdf((i as f64 + 0.5) / n as f64).exp() / n as f64).sum();
    assert!((total - 1.0).abs() < 1e-6, "{total}");
}

#[test]
fn evidence_estimators_converge_and_importance_sampling_wins() {
    let model = GaussianModel::example(20, 7);
    let post = model.posterior();
    let proposal = Normal1 { mean: post.mean, var: 2.0 * post.var };
    let errs = bayes::evidence_errors(&model, proposal, &[10, 1000], 200, 9);
    assert!(errs[1].naive_rmse < errs[0].naive_rmse, "{errs:?}");
    assert!(errs[1].importance_rmse < errs[0].importance_rmse, "{errs:?}");
    for e in &errs {
        assert!(e.importance_rmse * 3.0 < e.naive_rmse, "{e:?}");
    }
    assert!(errs[1].importance_rmse < 0.03, "{errs:?}");
    // With the exact posterior as proposal, every weight equals p(x): zero variance.
    let (_, exact_is) = bayes::evidence_estimates(&model, post, 5, &mut SeededRng::new(1));
    assert!((exact_is - model.log_evidence()).abs() < 1e-9);
}

#[test]
fn gaussian_posterior_is_prior_times_likelihood_and_updates_one_point_at_a_time() {
    let model = GaussianModel::example(20, 7);
    // Updating on one observation at a time, the previous posterior as the prior, ends where the
    // batch update does.
    let mut belief = model.prior;
    for &x in &model.x {
        belief = GaussianModel { prior: belief, noise_var: model.noise_var, x: vec![x] }.posterior();
    }
    let batch = model.posterior();
    assert!((belief.mean - batch.mean).abs() < 1e-12 && (belief.var - batch.var).abs() < 1e-12);
    // Precisions add: 1 / var = 1 / prior var + n / noise var.
    for n in [0, 1, 5, 20] {
        let post = model.first(n).posterior();
        assert!((1.0 / post.var - (1.0 + n as f64)).abs() < 1e-12, "n = {n}");
    }
    // The normalised product of prior and likelihood on a grid is the closed-form posterior.
    let m = model.first(5);
    let h = 1e-3;
    let grid: Vec<f64> = (0..12_000).map(|i| -6.0 + h * (i as f64 + 0.5)).collect();
    let evidence: f64 = grid.iter().map(|&z| m.log_joint(z).exp() * h).sum();
    assert!((evidence.ln() - m.log_evidence()).abs() < 1e-9);
    let post = m.posterior();
    for &z in &[-1.0, 0.5, 0.8, 2.0] {
        assert!((m.log_joint(z) - evidence.ln() - post.log_pdf(z)).abs() < 1e-9, "z = {z}");
    }
}
