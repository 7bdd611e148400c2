//! Latent-space tools, anomaly scores, importance-weighted bounds and PCA.

use vae_book::candle_core::{Device, Tensor};
use vae_book::classic::anomaly;
use vae_book::classic::latent;
use vae_book::classic::pca::Pca;
use vae_book::data::Mnist;
use vae_book::estimators;
use vae_book::models::vae::VaeConfig;
use vae_book::prob::SeededRng;
use vae_book::train::{TrainConfig, Trainer};

#[test]
fn interpolations_start_and_end_at_the_codes_and_slerp_keeps_the_norm() {
    let (a, b) = ([3.0f32, 0.0, 0.0], [0.0f32, 3.0, 0.0]);
    for f in [latent::lerp, latent::slerp] {
        assert_eq!(f(&a, &b, 0.0), a.to_vec());
        let end = f(&a, &b, 1.0);
        assert!(end.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-6), "{end:?}");
    }
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm(&latent::slerp(&a, &b, 0.5)) - 3.0).abs() < 1e-5);
    assert!((norm(&latent::lerp(&a, &b, 0.5)) - 3.0 / 2f32.sqrt()).abs() < 1e-5);
    let dev = Device::Cpu;
    let p = latent::path(&a, &b, 5, true, &dev).unwrap();
    assert_eq!(p.dims(), &[5, 3]);
    let t = latent::traversal(&a, 1, &[-1.0, 2.0], &dev).unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(t, vec![vec![3.0, -1.0, 0.0], vec![3.0, 2.0, 0.0]]);
}

#[test]
fn nearest_neighbours_and_knn_votes() {
    let dev = Device::Cpu;
    let pool = Tensor::new(&[[0.0f32, 0.0], [1.0, 0.0], [0.0, 2.0], [5.0, 5.0], [5.0, 6.0]], &dev).unwrap();
    let queries = Tensor::new(&[[0.9f32, 0.1], [5.0, 5.4]], &dev).unwrap();
    let near = latent::nearest(&queries, &pool, 3).unwrap();
    assert_eq!(near, vec![vec![1, 0, 2], vec![3, 4, 2]]);
    let labels = [7u8, 7, 1, 3, 3];
    assert_eq!(latent::knn_classify(&queries, &pool, &labels, 3).unwrap(), vec![7, 3]);
    let mu = Tensor::new(&[[1.0f32, 5.0], [3.0, 5.0]], &dev).unwrap();
    assert_eq!(latent::mean_variances(&mu).unwrap(), vec![1.0, 0.0]);
}

#[test]
fn auc_is_the_probability_of_ranking_an_anomaly_higher() {
    assert_eq!(anomaly::auc(&[0.1, 0.2, 0.9, 0.8], &[false, false, true, true]), 1.0);
    assert_eq!(anomaly::auc(&[0.9, 0.8, 0.1, 0.2], &[false, false, true, true]), 0.0);
    assert_eq!(anomaly::auc(&[0.5, 0.5, 0.5, 0.5], &[false, true, false, true]), 0.5);
    let mut rng = SeededRng::new(3);
    let scores: Vec<f64> = (0..300).map(|_| (rng.normal_f64() * 4.0).round()).collect(); // with ties
    let truth: Vec<bool> = (0..300).map(|i| i % 3 == 0).collect();
    let (mut wins, mut pairs) = (0.0, 0.0);
    for (s, t) in scores.iter().zip(&truth) {
        for (s2, t2) in scores.iter().zip(&truth) {
            if *t && !*t2 {
                pairs += 1.0;
                wins += if s > s2 {
                    1.0
                } else if s == s2 {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    let auc = anomaly::auc(&scores, &truth);
    assert!((auc - wins / pairs).abs() < 1e-12);
    // The trapezoid area under the ROC curve is the same number.
    let roc = anomaly::roc(&scores, &truth);
    assert_eq!((roc[0], *roc.last().unwrap()), ((0.0, 0.0), (1.0, 1.0)));
    let area: f64 = roc.windows(2).map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0).sum();
    assert!((area - auc).abs() < 1e-12, "{area} vs {auc}");
}

#[test]
fn pca_recovers_a_low_dimensional_subspace() {
    let dev = Device::Cpu;
    let mut rng = SeededRng::new(4);
    // 500 points in a 3-D subspace of R^10, plus tiny noise.
    let basis: Vec<f32> = rng.normal_vec(3 * 10);
    let mut data = Vec::new();
    for _ in 0..500 {
        let c = rng.normal_vec(3);
        let noise = rng.normal_vec(10);
        data.extend((0..10).map(|j| (0..3).map(|i| c[i] * basis[i * 10 + j]).sum::<f32>() + 1e-3 * noise[j] + 2.0));
    }
    let x = Tensor::from_vec(data, (500, 10), &dev).unwrap();
    let pca = Pca::fit(&x, 3, 100).unwrap();
    let gram = pca.basis.t().unwrap().matmul(&pca.basis).unwrap().to_vec2::<f32>().unwrap();
    for (i, row) in gram.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            assert!((v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-4, "basis not orthonormal: {gram:?}");
        }
    }
    let err = (pca.reconstruct(&x).unwrap() - &x).unwrap().sqr().unwrap().sum(1).unwrap().mean_all().unwrap();
    assert!(err.to_scalar::<f32>().unwrap() < 1e-4);
    let two = Pca::fit(&x, 2, 100).unwrap();
    let err2 = (two.reconstruct(&x).unwrap() - &x).unwrap().sqr().unwrap().sum(1).unwrap().mean_all().unwrap();
    assert!(err2.to_scalar::<f32>().unwrap() > 0.01, "two directions cannot hold three");
}

#[test]
fn importance_weighted_bounds_rise_with_k_and_k1_is_the_elbo() {
    let dev = Device::Cpu;
    let cfg = TrainConfig {
        model: VaeConfig { input_dim: 784, hidden: 64, latent_dim: 4 },
        epochs: 1,
        train_size: Some(1000),
        test_size: Some(200),
        seed: 2,
        ..TrainConfig::default()
    };
    let mut t = Trainer::new(cfg, &dev).unwrap();
    t.train_epoch(|_, _| {}).unwrap();
    let x = t.data.test.images(&dev).unwrap();
    let mean = |v: Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    let bounds: Vec<f64> = [1, 10, 100]
        .iter()
        .map(|&k| mean(estimators::iw_bound(&t.model, &x, k, 50, &mut SeededRng::new(k as u64)).unwrap()))
        .collect();
    assert!(bounds[0] < bounds[1] && bounds[1] < bounds[2], "{bounds:?}");
    // The mean log-weight is the ELBO: compare with the estimate that uses the closed-form KL.
    let w = estimators::log_weights_chunked(&t.model, &x, 100, 50, &mut SeededRng::new(7)).unwrap();
    let from_weights = mean(w.iter().map(|r| mean(r.clone())).collect());
    let (mu, logvar) = t.model.encode(&x).unwrap();
    let closed_kl = vae_book::classic::amortize::elbo_per_image(&t.model, &x, &mu, &logvar, 100, &mut SeededRng::new(8))
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap() as f64;
    assert!((from_weights - closed_kl).abs() < 0.5, "mean log-weight {from_weights} vs ELBO {closed_kl}");
}

#[test]
fn datasets_filter_by_label() {
    let test = Mnist::embedded().unwrap().test;
    let no_sevens = test.filter(|l| l != 7);
    assert_eq!(no_sevens.len(), 900);
    assert!(no_sevens.labels.iter().all(|&l| l != 7));
    let first = test.labels.iter().position(|&l| l != 7).unwrap();
    assert_eq!(&no_sevens.pixels[..784], &test.pixels[first * 784..(first + 1) * 784]);
}
