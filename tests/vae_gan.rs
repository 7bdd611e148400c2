//! The VAE-GAN and the trainer's players: each player's variables follow its own loss only; the
//! feature space keeps its size; the Fréchet distance and the classifier behave.

use candle_core::{D, Device};
use vae_book::classic::frechet::{FeatureStats, frechet_distance};
use vae_book::data::{Images, Mnist};
use vae_book::models::vae_gan::{VaeGan, VaeGanConfig};
use vae_book::prob::SeededRng;
use vae_book::train::{Model, Run, RunConfig, Step, named_vars};

fn small() -> VaeGanConfig {
    VaeGanConfig { hidden: 32, latent_dim: 4, disc_features: 32, disc_hidden: 16, ..VaeGanConfig::default() }
}

fn images(n: usize) -> Images {
    let mut data = Mnist::embedded().unwrap();
    data.train = data.train.take(n);
    data.test = data.test.take(n);
    Images::from_mnist(&data, &Device::Cpu).unwrap()
}

/// One Adam step moves every weight against the sign of its gradient (the first step's size is
/// the learning rate whatever the gradient's size): so after one step each player's weights
/// must have moved against the gradient of its own loss, which differs from the others'.
#[test]
fn each_player_follows_its_own_loss() {
    let data = images(64);
    let cfg = small();
    let run = RunConfig { epochs: 1, batch_size: 64, lr: 1e-3, seed: 5, patience: None };
    let mut r = Run::<VaeGan>::new(cfg, run, &Device::Cpu).unwrap();
    let rows = SeededRng::derived(run.seed, "shuffle", 1).permutation(64);
    let mut noise = SeededRng::derived(run.seed, "noise", 1);
    let terms = r.model.loss(&cfg, &data, Step { epoch: 1, step: 0, rows: &rows }, &mut noise).unwrap();
    let vars = named_vars(&r.varmap).unwrap();
    let before: Vec<Vec<f32>> = vars.iter().map(|(_, v)| v.flatten_all().unwrap().to_vec1().unwrap()).collect();
    let own: Vec<_> = terms.players.iter().map(|p| (p.prefix, p.loss.backward().unwrap())).collect();
    let total = terms.objective.backward().unwrap();
    r.epoch(&data, |_| {}).unwrap();
    let (mut agree, mut checked, mut unlike_total) = (0usize, 0usize, 0usize);
    for ((name, var), old) in vars.iter().zip(&before) {
        let (_, grads) = own.iter().find(|(prefix, _)| name.starts_with(prefix)).expect("every variable has a player");
        let g: Vec<f32> = grads.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let g_total: Vec<f32> = total.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let new: Vec<f32> = var.flatten_all().unwrap().to_vec1().unwrap();
        for i in 0..g.len() {
            if g[i].abs() > 1e-4 {
                checked += 1;
                agree += usize::from((new[i] - old[i]) * g[i] < 0.0);
                unlike_total += usize::from(g[i] * g_total[i] < 0.0);
            }
        }
    }
    assert!(checked > 1000 && agree == checked, "{agree} of {checked} weights moved against their own loss's gradient");
    assert!(unlike_total > 100, "the players' losses must differ from their sum ({unlike_total} signs differ)");
}

#[test]
fn features_are_normalized_per_image() {
    let data = images(64);
    let r = Run::<VaeGan>::new(
        small(),
        RunConfig { epochs: 1, batch_size: 64, lr: 1e-3, seed: 1, patience: None },
        &Device::Cpu,
    )
    .unwrap();
    let (f, logit) = r.model.discriminate(&(&data.test * 3.0).unwrap()).unwrap();
    assert_eq!(logit.dims(), &[64]);
    let mean = f.mean(D::Minus1).unwrap().abs().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
    let var = f.sqr().unwrap().mean(D::Minus1).unwrap().to_vec1::<f32>().unwrap();
    assert!(mean < 1e-4 && var.iter().all(|v| (v - 1.0).abs() < 1e-3), "{mean} {var:?}");
}

#[test]
fn frechet_distance_grows_with_a_shift_and_is_near_zero_for_two_halves() {
    let mut rng = SeededRng::new(3);
    let d = 8;
    let a = rng.normal_vec(4000 * d);
    let b = rng.normal_vec(4000 * d);
    let (sa, sb) = (FeatureStats::new(&a, d).unwrap(), FeatureStats::new(&b, d).unwrap());
    let same = frechet_distance(&sa, &sb);
    assert!(same < 0.05, "{same}");
    let shifted: Vec<f32> = b.iter().map(|v| v + 1.0).collect();
    let shift = frechet_distance(&sa, &FeatureStats::new(&shifted, d).unwrap());
    assert!((shift - d as f64).abs() < 0.3, "{shift}");
}
