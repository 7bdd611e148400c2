//! The importance-weighted autoencoder: its bound, its ordering in k, binarization and training.

use vae_book::candle_core::{Device, Tensor};
use vae_book::candle_nn::VarMap;
use vae_book::data::BinarizedImages;
use vae_book::data::Mnist;
use vae_book::models::iwae::{self, Iwae, IwaeConfig};
use vae_book::models::vae::VaeConfig;
use vae_book::prob::SeededRng;
use vae_book::train::build_model;
use vae_book::train::{Run, RunConfig};

fn small(k: usize) -> IwaeConfig {
    IwaeConfig { model: VaeConfig { input_dim: 784, hidden: 64, latent_dim: 4 }, k }
}

#[test]
fn binarization_keeps_the_mean_grey_level() {
    let test = Mnist::embedded().unwrap().test;
    let b = iwae::binarize(&test.pixels, &mut SeededRng::new(1)).unwrap();
    assert!(b.iter().all(|&v| v == 0.0 || v == 1.0));
    let grey = test.pixels.iter().map(|&p| p as f64 / 255.0).sum::<f64>() / b.len() as f64;
    let ones = b.iter().map(|&v| v as f64).sum::<f64>() / b.len() as f64;
    assert!((grey - ones).abs() < 0.002, "{grey} vs {ones}");
    // The same seed gives the same test set.
    let dev = Device::Cpu;
    let a = iwae::binarized_images(&test.pixels[..784 * 3], 784, 9, &dev).unwrap().to_vec2::<f32>().unwrap();
    let c = iwae::binarized_images(&test.pixels[..784 * 3], 784, 9, &dev).unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(a, c);
}

#[test]
fn one_sample_bound_is_the_single_sample_elbo() {
    let dev = Device::Cpu;
    let varmap = VarMap::new();
    let model = build_model(VaeConfig { input_dim: 784, hidden: 32, latent_dim: 3 }, &varmap, &dev).unwrap();
    vae_book::init::pytorch_default_init(&varmap, 4).unwrap();
    let x = Mnist::embedded().unwrap().test.images(&dev).unwrap().narrow(0, 0, 8).unwrap();
    let eps = SeededRng::new(5).normal(&[1, 8, 3], &dev).unwrap();
    let bound = iwae::negative_iw_bound(&model, &x, &eps).unwrap().to_scalar::<f32>().unwrap() as f64;
    // log p(x|z) + log p(z) - log q(z|x), written out with the plain (unfused) pieces.
    let (mu, logvar) = model.encode(&x).unwrap();
    let e = eps.squeeze(0).unwrap();
    let z = vae_book::prob::reparameterize(&mu, &logvar, &e).unwrap();
    let lik = vae_book::prob::bernoulli_log_likelihood_logits(&x, &model.decode(&z).unwrap()).unwrap();
    let prior = vae_book::prob::standard_normal_log_density(&z).unwrap();
    let q = vae_book::prob::gaussian_log_density(&z, &mu, &logvar).unwrap();
    let log_w: Tensor = ((lik + prior).unwrap() - q).unwrap();
    let want = -log_w.mean_all().unwrap().to_scalar::<f32>().unwrap() as f64;
    assert!((bound - want).abs() < 1e-3, "{bound} vs {want}");
}

#[test]
fn bounds_rise_with_k_and_training_lowers_the_loss() {
    let dev = Device::Cpu;
    let data = Mnist::embedded().unwrap();
    let images = BinarizedImages::new(&data.train.take(1000), &data.test.take(200), 1, &dev).unwrap();
    let schedule = RunConfig { epochs: 2, batch_size: 128, lr: 1e-3, seed: 3, patience: None };
    let mut run = Run::<Iwae>::new(small(5), schedule, &dev).unwrap();
    run.fit(&images, |_| {}).unwrap();
    let losses: Vec<f64> = run.history.iter().map(|e| e.train_loss).collect();
    assert!(losses[1] < losses[0], "{losses:?}");
    let (model, x) = (&run.model.vae, &images.test);
    let b: Vec<f64> = [1, 5, 50, 500].iter().map(|&k| iwae::mean_bound(model, x, k, 2).unwrap()).collect();
    for w in b.windows(2) {
        assert!(w[0] < w[1], "L_k must rise with k: {b:?}");
    }
}
