//! The conditional VAE: one-hot labels, shapes, and samples that follow their label.

use vae_book::candle_core::Device;
use vae_book::cvae::{self, CvaeConfig};
use vae_book::data::Mnist;
use vae_book::latent;
use vae_book::prob::SeededRng;

#[test]
fn one_hot_rows_and_bad_labels() {
    let dev = Device::Cpu;
    let t = cvae::one_hot(&[2, 0], 3, &dev).unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(t, vec![vec![0.0, 0.0, 1.0], vec![1.0, 0.0, 0.0]]);
    let err = cvae::one_hot(&[1, 3], 3, &dev).unwrap_err().to_string();
    assert!(err.contains("label 3 at row 1"), "{err}");
}

#[test]
fn conditional_samples_depend_on_their_label() {
    let dev = Device::Cpu;
    let data = Mnist::embedded().unwrap();
    let train = data.train.take(4000);
    let x = train.images(&dev).unwrap();
    let cfg = CvaeConfig::default();
    let mut losses = Vec::new();
    let (model, _) = cvae::train(cfg, &x, &train.labels, 5, 128, 1e-3, 5, |_, l| losses.push(l)).unwrap();
    assert!(losses[4] < losses[0], "{losses:?}");
    let z = SeededRng::new(6).normal(&[20, 2], &dev).unwrap();
    let samples = cvae::generate(&model, &[1, 7], &z).unwrap();
    assert_eq!(samples.dims(), &[40, 784]);
    let predicted = latent::knn_classify(&samples, &x, &train.labels, 5).unwrap();
    let right = predicted.iter().enumerate().filter(|(i, p)| **p == if *i < 20 { 1 } else { 7 }).count();
    assert!(right >= 30, "only {right} of 40 samples look like their label: {predicted:?}");
}
