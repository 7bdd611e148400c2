//! Variational inference where the answer is known: the ELBO identity, gradient VI, gradient
//! variances and the two mean-field fits, each against closed forms.

use vae_book::classic::vi::{self, GaussianModel, Normal1};
use vae_book::prob::SeededRng;

fn model() -> GaussianModel {
    GaussianModel::example(20, 7)
}

#[test]
fn log_evidence_is_elbo_plus_kl_to_the_posterior() {
    let m = model();
    let post = m.posterior();
    let log_px = m.log_evidence();
    for q in
        [post, Normal1 { mean: 0.0, var: 1.0 }, Normal1 { mean: 3.0, var: 0.01 }, Normal1 { mean: post.mean, var: 0.2 }]
    {
        let (elbo, kl) = (m.elbo(q), q.kl(&post));
        assert!((log_px - (elbo + kl)).abs() < 1e-6, "q {q:?}: log p(x) {log_px} vs ELBO {elbo} + KL {kl}");
        assert!(kl >= 0.0 && elbo <= log_px + 1e-12);
    }
    assert!(post.kl(&post).abs() < 1e-12);
}

#[test]
fn log_evidence_matches_the_marginal_likelihood_formula() {
    // x ~ N(m0 1, s^2 I + v0 1 1^T): by the matrix determinant lemma and Sherman-Morrison.
    let m = model();
    let (n, s2, v0, m0) = (m.x.len() as f64, m.noise_var, m.prior.var, m.prior.mean);
    let d: Vec<f64> = m.x.iter().map(|x| x - m0).collect();
    let (sd, sd2) = (d.iter().sum::<f64>(), d.iter().map(|v| v * v).sum::<f64>());
    let logdet = n * s2.ln() + (1.0 + n * v0 / s2).ln();
    let quad = sd2 / s2 - (v0 / (s2 * s2)) * sd * sd / (1.0 + n * v0 / s2);
    let direct = -0.5 * (n * (2.0 * std::f64::consts::PI).ln() + logdet + quad);
    assert!((direct - m.log_evidence()).abs() < 1e-9, "{direct} vs {}", m.log_evidence());
}

#[test]
fn monte_carlo_elbo_agrees_within_its_error() {
    let m = model();
    let q = Normal1 { mean: 1.0, var: 0.3 };
    let (est, se) = m.elbo_mc(q, 20_000, &mut SeededRng::new(3));
    assert!((est - m.elbo(q)).abs() < 4.0 * se, "MC {est} +- {se} vs exact {}", m.elbo(q));
}

#[test]
fn gradient_vi_finds_the_exact_posterior() {
    let m = model();
    let post = m.posterior();
    let fit = vi::fit_gaussian_vi(&m, 1500, 16, 0.05, 1).unwrap();
    assert!((fit.q.mean - post.mean).abs() < 0.05 * post.sd(), "{:?} vs {post:?}", fit.q);
    assert!((fit.q.var / post.var - 1.0).abs() < 0.1, "{:?} vs {post:?}", fit.q);
    let last = *fit.elbo.last().unwrap();
    assert!(last > fit.elbo[0] && m.log_evidence() - last < 0.01, "ELBO {last} vs log p(x) {}", m.log_evidence());
}

#[test]
fn reparameterization_gradients_vary_less_than_score_function_ones() {
    let m = model();
    let post = m.posterior();
    let q = Normal1 { mean: post.mean + 2.0 * post.sd(), var: post.var };
    for row in vi::gradient_variance(&m, q, &[1, 10, 100], 2000, 5) {
        let (rse, sse) = ((row.reparam_var / 2000.0).sqrt(), (row.score_var / 2000.0).sqrt());
        assert!((row.reparam_mean - row.exact).abs() < 4.0 * rse + 1e-9, "{row:?}");
        assert!((row.score_mean - row.exact).abs() < 4.0 * sse, "{row:?}");
        assert!(row.reparam_var * 10.0 < row.score_var, "{row:?}");
    }
}

#[test]
fn mean_field_fits_underestimate_or_cover() {
    let rho = 0.9;
    let fit = vi::fit_mean_field([0.5, -0.5], rho, 3000).unwrap();
    for i in 0..2 {
        // KL(q||p): variance 1 / precision_ii = 1 - rho^2; KL(p||q): the marginal variance 1.
        assert!((fit.reverse.1[i] - (1.0 - rho * rho)).abs() < 0.01, "{fit:?}");
        assert!((fit.forward.1[i] - 1.0).abs() < 0.01, "{fit:?}");
        assert!((fit.reverse.0[i] - fit.mean[i]).abs() < 0.01 && (fit.forward.0[i] - fit.mean[i]).abs() < 0.01);
    }
}
