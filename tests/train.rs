//! Training: the loss falls, checkpoints round-trip, resuming equals not stopping, and broken
//! runs fail with clear errors that keep the last good checkpoint.

use candle_core::{Device, Tensor};
use vae_book::checkpoint::CheckpointError;
use vae_book::models::vae::VaeConfig;
use vae_book::train::{self, TrainConfig, TrainError, Trainer};

fn tiny(epochs: usize) -> TrainConfig {
    TrainConfig {
        model: VaeConfig { input_dim: 784, hidden: 64, latent_dim: 4 },
        epochs,
        train_size: Some(1000),
        test_size: Some(300),
        seed: 5,
        ..TrainConfig::default()
    }
}

fn run(trainer: &mut Trainer, epochs: usize) {
    while trainer.next_epoch() <= epochs {
        trainer.train_epoch(|_, _| {}).unwrap();
    }
}

/// Trains `cfg` for `epochs` and saves it in a fresh temporary folder.
fn saved_after(epochs: usize, cfg: TrainConfig) -> (tempfile::TempDir, std::path::PathBuf, Trainer) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt.safetensors");
    let mut t = Trainer::new(cfg, &Device::Cpu).unwrap();
    run(&mut t, epochs);
    t.save(&path).unwrap();
    (dir, path, t)
}

#[test]
fn short_run_lowers_the_test_loss() {
    let dev = Device::Cpu;
    let mut t = Trainer::new(tiny(3), &dev).unwrap();
    let x_test = t.data.test.images(&dev).unwrap();
    let before = t.evaluate(&x_test).unwrap().loss;
    run(&mut t, 3);
    let after = t.history.last().unwrap().test_loss;
    // An untrained decoder predicts p = 1/2 for every pixel: 784 ln 2 = 543 nats.
    assert!(before > 500.0, "untrained loss {before}");
    assert!(after < before - 100.0, "test loss went from {before} to {after}");
    let m = t.history.last().unwrap();
    assert!((m.test_loss - (m.recon + m.kl)).abs() < 1e-3 && m.kl > 0.0, "{m:?}");
}

#[test]
fn same_seed_same_run_other_seed_other_run() {
    let dev = Device::Cpu;
    let mut a = Trainer::new(tiny(1), &dev).unwrap();
    let mut b = Trainer::new(tiny(1), &dev).unwrap();
    let mut c = Trainer::new(TrainConfig { seed: 6, ..tiny(1) }, &dev).unwrap();
    run(&mut a, 1);
    run(&mut b, 1);
    run(&mut c, 1);
    assert_eq!(a.history[0].test_loss, b.history[0].test_loss);
    assert_ne!(a.history[0].test_loss, c.history[0].test_loss);
}

#[test]
fn checkpoint_round_trip_gives_the_same_outputs() {
    let dev = Device::Cpu;
    let (dir, path, t) = saved_after(1, tiny(1));
    assert!(!dir.path().join("ckpt.safetensors.tmp").exists(), "the temporary file is renamed away");
    let (model, _vm, cfg) = train::load_model(&path, &dev).unwrap();
    assert_eq!(cfg, t.cfg);
    let x = t.data.test.images(&dev).unwrap().narrow(0, 0, 16).unwrap();
    let eps = Tensor::zeros((16, 4), candle_core::DType::F32, &dev).unwrap();
    let a = t.model.forward(&x, &eps).unwrap().logits.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = model.forward(&x, &eps).unwrap().logits.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(a, b);
}

#[test]
fn resume_equals_an_uninterrupted_run() {
    let dev = Device::Cpu;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt.safetensors");
    let mut straight = Trainer::new(tiny(3), &dev).unwrap();
    run(&mut straight, 3);

    let mut first = Trainer::new(tiny(3), &dev).unwrap();
    run(&mut first, 2);
    first.save(&path).unwrap();
    drop(first);
    let mut resumed = Trainer::resume(&path, tiny(3), &dev).unwrap();
    assert_eq!(resumed.next_epoch(), 3);
    run(&mut resumed, 3);
    let a: Vec<f64> = straight.history.iter().map(|m| m.test_loss).collect();
    let b: Vec<f64> = resumed.history.iter().map(|m| m.test_loss).collect();
    assert_eq!(a, b, "resumed run differs");
}

#[test]
fn resume_refuses_another_architecture_with_a_clear_error() {
    let dev = Device::Cpu;
    let (_dir, path, _) = saved_after(1, tiny(1));
    let mut other = tiny(2);
    other.model.latent_dim = 8;
    let e = Trainer::resume(&path, other, &dev).err().expect("must refuse");
    let msg = e.to_string();
    assert!(msg.contains("latent_dim 4") && msg.contains("asks for 8"), "{msg}");
}

#[test]
fn loading_weights_of_another_shape_names_the_tensor() {
    let dev = Device::Cpu;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt.safetensors");
    let t = Trainer::new(tiny(1), &dev).unwrap();
    t.save(&path).unwrap();
    let ckpt = vae_book::checkpoint::load(&path, &dev).unwrap();
    let varmap = candle_nn::VarMap::new();
    train::build_model(VaeConfig { input_dim: 784, hidden: 32, latent_dim: 4 }, &varmap, &dev).unwrap();
    let e = ckpt.load_into(&varmap).unwrap_err();
    assert!(matches!(e, CheckpointError::Architecture { .. }));
    assert!(
        e.to_string().contains("encoder.hidden.weight has shape [64, 784] in the file, the model expects [32, 784]"),
        "{e}"
    );
}

#[test]
fn corrupt_checkpoint_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt.safetensors");
    std::fs::write(&path, b"definitely not safetensors").unwrap();
    let e = train::load_model(&path, &Device::Cpu).err().expect("must fail");
    assert!(e.to_string().contains("not a valid safetensors checkpoint"), "{e}");
    let e = train::load_model(&dir.path().join("missing"), &Device::Cpu).err().expect("must fail");
    assert!(e.to_string().contains("cannot read the checkpoint"), "{e}");
}

#[test]
fn diverging_run_stops_with_a_message_and_keeps_the_checkpoint() {
    let dev = Device::Cpu;
    let (_dir, path, _) = saved_after(1, tiny(3));
    let saved = std::fs::read(&path).unwrap();
    // An absurd learning rate makes the weights, then the loss, overflow.
    let mut wild = Trainer::resume(&path, TrainConfig { lr: 1e30, ..tiny(3) }, &dev);
    assert!(wild.is_err(), "a different lr is a different run and is refused");
    wild = Trainer::new(TrainConfig { lr: 1e30, ..tiny(3) }, &dev);
    let mut wild = wild.unwrap();
    let mut result = Ok(());
    for _ in 0..3 {
        if let Err(e) = wild.train_epoch(|_, _| {}) {
            result = Err(e);
            break;
        }
    }
    let e = result.expect_err("an lr of 1e30 must blow up");
    assert!(matches!(e, TrainError::NonFinite { .. }), "{e:?}");
    assert!(e.to_string().contains("training stopped"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), saved, "the good checkpoint is untouched");
}
