//! The decoder likelihoods: each a proper density where it claims to be one, stable where the
//! textbook form is not, and the model trains and scores with each.

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use vae_book::data::{Images, Mnist};
use vae_book::models::likelihood::{self, Likelihood, LikelihoodConfig, LikelihoodVae};
use vae_book::models::vae::VaeConfig;
use vae_book::prob::{self, SeededRng};
use vae_book::train::{Model, RunConfig};

/// `sum_i f(x_i) dx` over a fine midpoint grid of [0, 1].
fn integrate(f: impl Fn(f64) -> f64) -> f64 {
    let n = 20_000;
    (0..n).map(|i| f((i as f64 + 0.5) / n as f64)).sum::<f64>() / n as f64
}

fn cb_density(x: f64, logit: f32) -> f64 {
    let dev = Device::Cpu;
    let x = Tensor::new(&[[x as f32]], &dev).unwrap();
    let l = Tensor::new(&[[logit]], &dev).unwrap();
    (prob::continuous_bernoulli_log_likelihood(&x, &l).unwrap().to_vec1::<f32>().unwrap()[0] as f64).exp()
}

#[test]
fn the_continuous_bernoulli_is_a_density_with_the_stated_mean() {
    for logit in [-30.0f32, -6.0, -1.0, -0.02, -0.005, 0.0, 0.003, 0.5, 4.0, 25.0] {
        let mass = integrate(|x| cb_density(x, logit));
        // Very confident logits pile the mass against one end; the midpoint grid still sees 99.9% of it.
        assert!((mass - 1.0).abs() < 2e-3, "logit {logit}: integrates to {mass}");
        let mean = integrate(|x| x * cb_density(x, logit)) / mass;
        let stated = prob::continuous_bernoulli_mean(logit) as f64;
        assert!((mean - stated).abs() < 2e-3, "logit {logit}: mean {mean}, formula {stated}");
    }
    // Its mean is not lambda: at logit 2 (lambda 0.88) the mean is 0.66.
    let lambda = 1.0 / (1.0 + (-2.0f64).exp());
    assert!((prob::continuous_bernoulli_mean(2.0) as f64 - lambda).abs() > 0.15);
    // The normaliser is continuous across the Taylor branch and finite at 0.
    let l = Tensor::new(
        &[0.0f32, prob::CB_TAYLOR_BELOW as f32 * 0.999, prob::CB_TAYLOR_BELOW as f32 * 1.001],
        &Device::Cpu,
    );
    let c = prob::continuous_bernoulli_log_norm(&l.unwrap()).unwrap().to_vec1::<f32>().unwrap();
    assert!((c[0] - std::f32::consts::LN_2).abs() < 1e-6 && (c[1] - c[2]).abs() < 1e-6, "{c:?}");
}

#[test]
fn gaussian_pixels_match_the_diagonal_gaussian_density() {
    let dev = Device::Cpu;
    let mut rng = SeededRng::new(3);
    let x = rng.normal(&[4, 7], &dev).unwrap();
    let mean = rng.normal(&[4, 7], &dev).unwrap();
    let log_sigma = Tensor::new(-0.7f32, &dev).unwrap();
    let ours = prob::gaussian_pixels_log_likelihood(&x, &mean, &log_sigma).unwrap().to_vec1::<f32>().unwrap();
    let logvar = mean.ones_like().unwrap().affine(-1.4, 0.0).unwrap();
    let theirs = prob::gaussian_log_density(&x, &mean, &logvar).unwrap().to_vec1::<f32>().unwrap();
    for (a, b) in ours.iter().zip(&theirs) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
}

fn tiny(likelihood: Likelihood) -> (LikelihoodVae, VarMap, Images) {
    let dev = Device::Cpu;
    let data = Mnist::embedded().unwrap();
    let images = Images::new(&data.train.take(300), &data.test.take(50), &dev).unwrap();
    let cfg = LikelihoodConfig { model: VaeConfig::tiny(), ..LikelihoodConfig::new(likelihood) };
    let varmap = VarMap::new();
    let model = LikelihoodVae::new(cfg, VarBuilder::from_varmap(&varmap, DType::F32, &dev)).unwrap();
    vae_book::init::pytorch_default_init(&varmap, 1).unwrap();
    (model, varmap, images)
}

#[test]
fn every_likelihood_scores_and_only_the_gaussians_have_a_sigma() {
    for l in Likelihood::ALL {
        let (model, _, data) = tiny(l);
        let score = model.evaluate(&model.cfg, &data, 0).unwrap();
        assert!(score.loss.is_finite(), "{l:?}: {score:?}");
        let sigma = model.fitted_sigma(&data, 0).unwrap();
        assert_eq!(sigma.is_some(), matches!(l, Likelihood::Gaussian | Likelihood::LearnedGaussian), "{l:?}");
        assert_eq!(Likelihood::from_name(l.name()), Some(l));
    }
    // Dequantized pixels stay inside the 8-bit bins: k/256 <= x < (k+1)/256.
    let x = Tensor::new(&[[0.0f32, 1.0, 128.0 / 255.0]], &Device::Cpu).unwrap();
    let d = likelihood::dequantize(&x, &mut SeededRng::new(1)).unwrap().to_vec2::<f32>().unwrap();
    for (v, k) in d[0].iter().zip([0.0f32, 255.0, 128.0]) {
        assert!(*v >= k / 256.0 && *v < (k + 1.0) / 256.0, "{v} outside bin {k}");
    }
    assert!((likelihood::bits_per_dim(0.0, 784) - 8.0).abs() < 1e-12, "a flat density on [0,1] is 8 bits");
}

#[test]
fn the_optimal_sigma_maximises_the_gaussian_likelihood() {
    let (model, _, data) = tiny(Likelihood::LearnedGaussian);
    let x = data.test.narrow(0, 0, 20).unwrap();
    let out = model.vae.decode(&model.vae.encode(&x).unwrap().0).unwrap();
    let best = model.log_likelihood(&x, &out, None).unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
    let mean = candle_nn::ops::sigmoid(&out).unwrap();
    let sigma = likelihood::optimal_log_sigma(&x, &mean).unwrap().exp().unwrap().to_scalar::<f32>().unwrap() as f64;
    for factor in [0.8, 0.95, 1.05, 1.25] {
        let other = model.log_likelihood(&x, &out, Some(sigma * factor)).unwrap().sum_all().unwrap();
        assert!(other.to_scalar::<f32>().unwrap() < best, "sigma x {factor} does better than the optimum");
    }
}

#[test]
fn a_per_pixel_mean_makes_the_reconstruction_784_times_lighter() {
    let (model, _, data) = tiny(Likelihood::Bernoulli);
    let rows: Vec<u32> = (0..32).collect();
    let at = vae_book::train::Step { epoch: 1, step: 0, rows: &rows };
    let sum = model.loss(&model.cfg, &data, at, &mut SeededRng::new(5)).unwrap();
    let cfg = LikelihoodConfig { pixel_mean: true, ..model.cfg };
    let mean = model.loss(&cfg, &data, at, &mut SeededRng::new(5)).unwrap();
    let value = |t: &Tensor| t.to_scalar::<f32>().unwrap();
    let (recon, kl) = (value(&sum.terms[0].1), value(&sum.terms[1].1));
    assert!((value(&sum.objective) - (recon + kl)).abs() < 1e-3);
    assert!((value(&mean.objective) - (recon / 784.0 + kl)).abs() < 1e-3);
    // Either way the reported terms are the summed ones.
    assert_eq!(value(&mean.terms[0].1), recon);
}

#[test]
fn training_lowers_every_likelihoods_test_loss() {
    let run = RunConfig { epochs: 2, batch_size: 64, lr: 1e-3, seed: 42, patience: None };
    for l in [Likelihood::LearnedGaussian, Likelihood::ContinuousBernoulli] {
        let (model, _, data) = tiny(l);
        let before = model.evaluate(&model.cfg, &data, 0).unwrap().loss;
        let mut r = vae_book::train::Run::<LikelihoodVae>::new(model.cfg, run, &Device::Cpu).unwrap();
        r.fit(&data, |_| {}).unwrap();
        let after = r.history.last().unwrap().eval.loss;
        assert!(after < before, "{l:?}: {before} -> {after}");
    }
}
