//! The amortization gap: optimizing each image's own q can only raise its ELBO.

use candle_core::Device;
use vae_book::classic::amortize;
use vae_book::models::vae::VaeConfig;
use vae_book::train::{TrainConfig, Trainer};

#[test]
fn per_image_optimization_closes_part_of_the_gap() {
    let dev = Device::Cpu;
    let cfg = TrainConfig {
        model: VaeConfig { input_dim: 784, hidden: 64, latent_dim: 4 },
        epochs: 2,
        train_size: Some(1000),
        test_size: Some(50),
        ..TrainConfig::default()
    };
    let mut t = Trainer::new(cfg, &dev).unwrap();
    while t.next_epoch() <= 2 {
        t.train_epoch(|_, _| {}).unwrap();
    }
    let x = t.data.test.images(&dev).unwrap();
    let g = amortize::amortization_gap(&t.model, &x, 100, 4, 100, 0.02, 3).unwrap();
    assert_eq!(g.images, 50);
    assert!(g.gap() > 2.0 * g.gap_se && g.gap() > 0.1, "{g:?}");
    // The encoder's ELBO is the trainer's test loss, estimated with 100 draws instead of one.
    let test_loss = t.history.last().unwrap().test_loss;
    assert!((-g.encoder_elbo - test_loss).abs() < 10.0, "{g:?} vs test loss {test_loss}");
}
