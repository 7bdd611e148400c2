//! The conditional VAE: one-hot labels, shapes, and samples that follow their label.

use vae_book::candle_core::Device;
use vae_book::classic::latent;
use vae_book::data::Images;
use vae_book::data::Mnist;
use vae_book::models::cvae::{self, Cvae, CvaeConfig};
use vae_book::prob::SeededRng;
use vae_book::train::{Run, RunConfig};

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
    let images = Images::new(&train, &data.test.take(200), &dev).unwrap();
    let x = images.train.clone();
    let schedule = RunConfig { epochs: 5, batch_size: 128, lr: 1e-3, seed: 5, patience: None };
    let mut run = Run::<Cvae>::new(CvaeConfig::default(), schedule, &dev).unwrap();
    run.fit(&images, |_| {}).unwrap();
    let losses: Vec<f64> = run.history.iter().map(|e| e.train_loss).collect();
    let model = &run.model;
    assert!(losses[4] < losses[0], "{losses:?}");
    let z = SeededRng::new(6).normal(&[20, 2], &dev).unwrap();
    let samples = cvae::generate(model, &[1, 7], &z).unwrap();
    assert_eq!(samples.dims(), &[40, 784]);
    let predicted = latent::knn_classify(&samples, &x, &train.labels, 5).unwrap();
    let right = predicted.iter().enumerate().filter(|(i, p)| **p == if *i < 20 { 1 } else { 7 }).count();
    assert!(right >= 30, "only {right} of 40 samples look like their label: {predicted:?}");
}
