//! The classic MLP VAE on the command line. It trains through [`Trainer`], whose CPU step is the
//! hand-written backward pass of [`crate::cpu::manual`]; its checkpoints and `metrics.json` keep the
//! format the VAE chapter describes.

use super::{TrainArgs, device, positive};
use crate::data::Mnist;
use crate::prob::SeededRng;
use crate::train::{self, TrainConfig, Trainer};
use crate::{estimators, figures, report};
use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;

/// Decoder rows per chunk of importance sampling (images per chunk times samples).
const IMPORTANCE_ROWS: usize = 50_000;

/// The flags given, applied over `cfg` (the defaults, or a saved run's configuration).
fn apply(args: &TrainArgs, mut cfg: TrainConfig) -> Result<TrainConfig> {
    if args.patience.is_some() {
        bail!("--model mlp trains every epoch: it does not take --patience");
    }
    let run = args.run_config(crate::train::RunConfig {
        epochs: cfg.epochs,
        batch_size: cfg.batch_size,
        lr: cfg.lr,
        seed: cfg.seed,
        patience: None,
    })?;
    (cfg.epochs, cfg.batch_size, cfg.lr, cfg.seed) = (run.epochs, run.batch_size, run.lr, run.seed);
    (cfg.model.latent_dim, cfg.model.hidden) = super::sizes(args, (cfg.model.latent_dim, cfg.model.hidden))?;
    cfg.beta = args.beta.unwrap_or(cfg.beta);
    cfg.data_dir = args.data_dir.clone().or(cfg.data_dir);
    if let Some(name) = &args.data {
        cfg.data = super::images::image_set(name)?;
    }
    cfg.train_size = args.train_size.or(cfg.train_size);
    cfg.test_size = args.test_size.or(cfg.test_size);
    if !(cfg.beta.is_finite() && cfg.beta >= 0.0) {
        bail!("--beta must be a number of at least 0, got {}", cfg.beta);
    }
    Ok(cfg)
}

fn start(args: &TrainArgs, ckpt_path: &Path, dev: &candle_core::Device) -> Result<Trainer> {
    if args.resume {
        if !ckpt_path.exists() {
            bail!("--resume: there is no checkpoint at {} to continue", ckpt_path.display());
        }
        let cfg = apply(args, train::saved_config(ckpt_path)?)?;
        let t = Trainer::resume(ckpt_path, cfg, dev)?;
        println!("resuming {} after epoch {}", ckpt_path.display(), t.history.len());
        return Ok(t);
    }
    if ckpt_path.exists() && !args.overwrite {
        bail!(
            "{} already holds a checkpoint: pass --resume to continue it, --overwrite to start again, \
             or choose another --out",
            ckpt_path.parent().unwrap_or(ckpt_path).display()
        );
    }
    Ok(Trainer::new(apply(args, TrainConfig::default())?, dev)?)
}

/// `vae train --model mlp`.
pub fn train_mlp(args: &TrainArgs) -> Result<()> {
    args.check_for(super::model_info("mlp")?)?;
    let dev = device(&args.device)?;
    let out = args.out_dir()?;
    let ckpt_path = out.join("checkpoint.safetensors");
    let mut trainer = start(args, &ckpt_path, &dev)?;
    let cfg = trainer.cfg.clone();
    println!(
        "seed {} | data: {} ({} train, {} test) | model {}-{}-{} | batch {} | lr {} | device {:?}",
        cfg.seed,
        trainer.data.source,
        trainer.data.train.len(),
        trainer.data.test.len(),
        cfg.model.input_dim,
        cfg.model.hidden,
        cfg.model.latent_dim,
        cfg.batch_size,
        cfg.lr,
        dev
    );
    let style = ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} batches, loss {msg} ({eta})")?
        .progress_chars("=> ");
    while trainer.next_epoch() <= cfg.epochs {
        let bar = ProgressBar::new(trainer.batches_per_epoch() as u64).with_style(style.clone());
        bar.set_prefix(format!("{}/{}", trainer.next_epoch(), cfg.epochs));
        let result = trainer.train_epoch(|b, loss| {
            bar.set_position(b as u64);
            bar.set_message(format!("{loss:.2}"));
        });
        bar.finish_and_clear();
        let m = result?;
        println!(
            "epoch {:>3}/{}  train {:.2}  test {:.2} (recon {:.2} + kl {:.2}) nats/image  {:.1} s",
            m.epoch, cfg.epochs, m.train_loss, m.test_loss, m.recon, m.kl, m.seconds
        );
        trainer.save(&ckpt_path)?;
        report::write_metrics(&out.join("metrics.json"), &trainer)?;
    }
    let x_test = trainer.data.test.images(&dev)?;
    let written = report::write_run_figures(&trainer, &x_test, &out)?;
    println!("checkpoint: {}", ckpt_path.display());
    println!("metrics:    {}", out.join("metrics.json").display());
    for path in written {
        println!("figure:     {}", path.display());
    }
    Ok(())
}

/// The saved model with its configuration's test images.
fn load(path: &Path, dev: &str) -> Result<(crate::models::vae::Vae, TrainConfig, candle_core::Tensor)> {
    let dev = device(dev)?;
    let (model, _varmap, cfg) = train::load_model(path, &dev)?;
    let data = Mnist::open(cfg.data, cfg.data_dir.as_deref())?.cut((None, cfg.test_size));
    let x = data.test.images(&dev)?;
    Ok((model, cfg, x))
}

/// `vae eval` of an MLP checkpoint: the test negative ELBO and `-log p(x)` by importance sampling.
pub fn eval(path: &Path, k: usize, dev: &str) -> Result<()> {
    super::check_importance_samples(k)?;
    let (model, cfg, x) = load(path, dev)?;
    let elbo = train::evaluate(&model, &x, cfg.seed)?;
    let mut rng = SeededRng::derived(cfg.seed, "eval-importance", k as u64);
    let bounds = estimators::iw_bound(&model, &x, k, (IMPORTANCE_ROWS / k).max(1), &mut rng)?;
    let nll = -bounds.iter().sum::<f64>() / bounds.len().max(1) as f64;
    println!("mlp model from {}", path.display());
    println!("{:<52} {:.4}", "test -ELBO (nats per image)", elbo.loss);
    println!("{:<52} {:.4}", "  recon", elbo.recon);
    println!("{:<52} {:.4}", "  kl", elbo.kl);
    println!("{:<52} {nll:.4}", format!("test -log p(x), importance sampled, k = {k}"));
    Ok(())
}

/// `vae sample` of an MLP checkpoint.
pub fn sample(path: &Path, seed: u64, out: &Path, dev: &str) -> Result<()> {
    let (model, _, _) = load(path, dev)?;
    figures::prior_samples(&model, seed, out)?;
    println!("figure: {}", out.display());
    Ok(())
}

/// `vae reconstruct` of an MLP checkpoint.
pub fn reconstruct(path: &Path, n: usize, out: &Path, dev: &str) -> Result<()> {
    positive("--n", n)?;
    let (model, _, x) = load(path, dev)?;
    figures::reconstructions(&model, &x, n, out)?;
    println!("figure: {}", out.display());
    Ok(())
}
