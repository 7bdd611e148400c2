//! The convolutional VAE: shapes through every layer, a falling loss, the shared figure interface.

use vae_book::candle_core::{Device, Tensor};
use vae_book::candle_nn::VarMap;
use vae_book::data::Images;
use vae_book::data::Mnist;
use vae_book::models::conv_vae::{self, ConvVae, ConvVaeConfig};
use vae_book::models::vae::{Autoencoder, negative_elbo};
use vae_book::prob::SeededRng;
use vae_book::train::{Run, RunConfig};

#[test]
fn shapes_go_down_to_the_code_and_back_to_784_pixels() {
    let dev = Device::Cpu;
    let varmap = VarMap::new();
    let model = conv_vae::build(ConvVaeConfig { latent_dim: 3 }, &varmap, 1, &dev).unwrap();
    let x = Mnist::embedded().unwrap().test.images(&dev).unwrap().narrow(0, 0, 5).unwrap();
    let (mu, logvar) = model.encode(&x).unwrap();
    assert_eq!((mu.dims(), logvar.dims()), (&[5, 3][..], &[5, 3][..]));
    let eps = SeededRng::new(2).normal(&[5, 3], &dev).unwrap();
    let out = model.forward(&x, &eps).unwrap();
    assert_eq!(out.logits.dims(), &[5, 784]);
    // Through the trait the figures use, the same numbers.
    let via_trait = Autoencoder::decode(&model, &out.z).unwrap();
    let diff = (via_trait - &out.logits).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert_eq!(diff, 0.0);
    // Parameters: the Keras example's layer sizes.
    let count: usize = varmap.all_vars().iter().map(|v| v.elem_count()).sum();
    let expected = (32 * 9 + 32) + (64 * 32 * 9 + 64) + (3136 * 16 + 16) + 2 * (16 * 3 + 3) // encoder
        + (3 * 3136 + 3136) + (64 * 64 * 9 + 64) + (64 * 32 * 9 + 32) + (32 * 9 + 1); // decoder
    assert_eq!(count, expected);
}

#[test]
fn a_short_run_lowers_the_loss() {
    let dev = Device::Cpu;
    let data = Mnist::embedded().unwrap();
    let images = Images::new(&data.train.take(512), &data.test.take(100), &dev).unwrap();
    let x_test = images.test.clone();
    let untrained = conv_vae::build(ConvVaeConfig { latent_dim: 2 }, &VarMap::new(), 9, &dev).unwrap();
    let before = conv_vae::evaluate(&untrained, &x_test, 9).unwrap().0;
    let schedule = RunConfig { epochs: 2, batch_size: 64, lr: 1e-3, seed: 9, patience: None };
    let mut run = Run::<ConvVae>::new(ConvVaeConfig { latent_dim: 2 }, schedule, &dev).unwrap();
    run.fit(&images, |_| {}).unwrap();
    let losses: Vec<f64> = run.history.iter().map(|e| e.train_loss).collect();
    let model = &run.model;
    let after = conv_vae::evaluate(model, &x_test, 9).unwrap().0;
    assert_eq!(after, run.history[1].eval.loss, "the trainer's score is the chapter's evaluation");
    assert!(losses[1] < losses[0] && after < before - 50.0, "{losses:?}, test {before} -> {after}");
    let eps = Tensor::zeros((100, 2), vae_book::candle_core::DType::F32, &dev).unwrap();
    let l = negative_elbo(&x_test, &model.forward(&x_test, &eps).unwrap()).unwrap();
    assert!(l.total.to_scalar::<f32>().unwrap().is_finite());
}

#[test]
fn the_fast_cpu_path_matches_the_plain_model_with_gradients() {
    use vae_book::models::vae::negative_elbo_fast;
    let dev = Device::Cpu;
    let varmap = VarMap::new();
    let model = conv_vae::build(ConvVaeConfig { latent_dim: 2 }, &varmap, 5, &dev).unwrap();
    let x = Mnist::embedded().unwrap().test.images(&dev).unwrap().narrow(0, 0, 17).unwrap();
    let eps = SeededRng::new(6).normal(&[17, 2], &dev).unwrap();
    let plain = negative_elbo(&x, &model.forward(&x, &eps).unwrap()).unwrap();
    let fast = negative_elbo_fast(&x, &model.forward_fast(&x, &eps).unwrap()).unwrap();
    let (p, f) = (plain.total.to_scalar::<f32>().unwrap(), fast.total.to_scalar::<f32>().unwrap());
    assert!((p - f).abs() < 1e-3, "loss: plain {p}, fast {f}");
    let (gp, gf) = (plain.total.backward().unwrap(), fast.total.backward().unwrap());
    for (name, var) in varmap.data().lock().unwrap().iter() {
        let (a, b) = (gf.get(var).unwrap(), gp.get(var).unwrap());
        let scale = b.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap().max(1e-6);
        let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff <= 1e-4 * scale, "{name}: gradients differ by {diff} (scale {scale})");
    }
}
