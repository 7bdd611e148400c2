//! The Gaussian mixture and EM.

use vae_book::classic::gmm::{self, Gaussian2, Mixture};
use vae_book::prob::SeededRng;
use vae_book::report::mixture;

fn two_blobs() -> Mixture {
    Mixture {
        weights: vec![0.3, 0.7],
        components: vec![
            Gaussian2 { mean: [-2.0, 0.0], cov: [[0.5, 0.2], [0.2, 0.4]] },
            Gaussian2 { mean: [2.0, 1.0], cov: [[1.0, -0.3], [-0.3, 0.6]] },
        ],
    }
}

#[test]
fn densities_integrate_to_one() {
    let m = two_blobs();
    let (h, mut total) = (0.02, 0.0);
    for i in 0..900 {
        for j in 0..650 {
            let x = [-9.0 + h * (i as f64 + 0.5), -6.0 + h * (j as f64 + 0.5)];
            total += m.log_pdf(x).exp() * h * h;
        }
    }
    assert!((total - 1.0).abs() < 1e-5, "integral {total}");
}

#[test]
fn responsibilities_are_bayes_rule() {
    let m = two_blobs();
    let x = [0.3, 0.4];
    let r = m.responsibilities(x);
    let joint: Vec<f64> = (0..2).map(|k| m.weights[k] * m.components[k].log_pdf(x).exp()).collect();
    let evidence: f64 = joint.iter().sum();
    assert!((evidence.ln() - m.log_pdf(x)).abs() < 1e-12);
    for k in 0..2 {
        assert!((r[k] - joint[k] / evidence).abs() < 1e-12);
    }
    assert!((r.iter().sum::<f64>() - 1.0).abs() < 1e-12);
}

#[test]
fn ancestral_samples_follow_the_weights_and_moments() {
    let m = two_blobs();
    let samples = m.sample(20_000, &mut SeededRng::new(3));
    let first = samples.iter().filter(|(_, k)| *k == 0).count() as f64 / samples.len() as f64;
    assert!((first - 0.3).abs() < 0.015, "share of component 0: {first}");
    let from_second: Vec<[f64; 2]> = samples.iter().filter(|(_, k)| *k == 1).map(|(x, _)| *x).collect();
    let n = from_second.len() as f64;
    let mean1 = from_second.iter().map(|x| x[1]).sum::<f64>() / n;
    let cov01 = from_second.iter().map(|x| (x[0] - 2.0) * (x[1] - 1.0)).sum::<f64>() / n;
    assert!((mean1 - 1.0).abs() < 0.03 && (cov01 + 0.3).abs() < 0.03, "mean {mean1}, cov {cov01}");
}

#[test]
fn em_never_lowers_the_likelihood_and_recovers_a_known_mixture() {
    let truth = two_blobs();
    let xs: Vec<[f64; 2]> = truth.sample(4000, &mut SeededRng::new(5)).into_iter().map(|(x, _)| x).collect();
    // The guarantee holds for the plain likelihood (no variance floor).
    for k in 1..=4 {
        for seed in 0..3 {
            let fit = gmm::fit_em(&xs, k, 100, 0.0, seed);
            assert!(fit.log_likelihood.len() > 2);
            for w in fit.log_likelihood.windows(2) {
                assert!(w[1] >= w[0] - 1e-12, "k {k} seed {seed}: {} then {}", w[0], w[1]);
            }
        }
    }
    let (fit, _) = gmm::fit_em_restarts(&xs, 2, 500, 1e-6, 5, 0);
    let mut got = fit.mixture.components.clone();
    got.sort_by(|a, b| a.mean[0].total_cmp(&b.mean[0]));
    for (g, t) in got.iter().zip(&truth.components) {
        for d in 0..2 {
            assert!((g.mean[d] - t.mean[d]).abs() < 0.1, "mean {:?} vs {:?}", g.mean, t.mean);
            for e in 0..2 {
                assert!((g.cov[d][e] - t.cov[d][e]).abs() < 0.1, "cov {:?} vs {:?}", g.cov, t.cov);
            }
        }
    }
    // The fitted mixture explains its data at least as well as the truth does (it maximises it).
    assert!(fit.mixture.mean_log_likelihood(&xs) >= truth.mean_log_likelihood(&xs));
}

#[test]
fn bic_prefers_three_components_for_the_iris_petals() {
    let xs = mixture::petals().unwrap();
    let fits = mixture::fits().unwrap();
    let best = fits.iter().min_by(|a, b| gmm::bic(&a.1.mixture, &xs).total_cmp(&gmm::bic(&b.1.mixture, &xs))).unwrap();
    assert_eq!(best.0, 3);
    // One of the three components takes exactly the 50 setosa flowers, as the chapter says.
    let iris = vae_book::data::tabular::iris().unwrap();
    let owner = |x: [f64; 2]| {
        let r = best.1.mixture.responsibilities(x);
        (0..3).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap()
    };
    let setosa: Vec<usize> = xs.iter().zip(&iris.labels).filter(|(_, l)| **l == 0).map(|(x, _)| owner(*x)).collect();
    assert!(setosa.iter().all(|k| *k == setosa[0]));
    let others = xs.iter().zip(&iris.labels).filter(|(x, l)| **l != 0 && owner(**x) == setosa[0]).count();
    assert_eq!(others, 0);
}
