//! `vae`: train the classic VAE on the embedded MNIST subset (or a folder of MNIST files), sample
//! from it, reconstruct with it, and regenerate the book's figures.

use anyhow::{Context, Result, bail};
use candle_core::Device;
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use vae_book::data::Mnist;
use vae_book::train::{self, TrainConfig, Trainer};
use vae_book::{figures, report};

#[derive(Parser)]
#[command(name = "vae", version, about = "Variational autoencoders on MNIST with candle")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a VAE; writes checkpoint.safetensors, metrics.json and figures into --out.
    Train(TrainArgs),
    /// Draw an 8x8 grid of samples from the prior of a trained model.
    Sample {
        #[arg(long, default_value = "runs/mlp-vae/checkpoint.safetensors")]
        checkpoint: PathBuf,
        #[arg(long, default_value = "samples.png")]
        out: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// Draw test digits above their reconstructions by a trained model.
    Reconstruct {
        #[arg(long, default_value = "runs/mlp-vae/checkpoint.safetensors")]
        checkpoint: PathBuf,
        #[arg(long, default_value = "reconstructions.png")]
        out: PathBuf,
        /// How many test digits.
        #[arg(long, default_value_t = 10)]
        n: usize,
        /// Folder with MNIST IDX files (default: the embedded subset).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// Regenerate every figure and number of the book (trains the book's models).
    Figures {
        #[arg(long, default_value = "book/src")]
        book_src: PathBuf,
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Regenerate only these chapter groups (repeatable): vae, vi, bayes, latent, beta, iwae, conv, cvae, quadrants, sequences, text [default: all].
        #[arg(long = "chapter", value_parser = clap::builder::PossibleValuesParser::new(report::CHAPTERS))]
        chapters: Vec<String>,
    },
}

#[derive(Args)]
struct TrainArgs {
    /// Passes over the training set [default: 10].
    #[arg(long)]
    epochs: Option<usize>,
    /// Dimensions of z [default: 20].
    #[arg(long)]
    latent_dim: Option<usize>,
    /// Hidden units of encoder and decoder [default: 400].
    #[arg(long)]
    hidden: Option<usize>,
    /// Images per step [default: 128].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Adam learning rate [default: 0.001].
    #[arg(long)]
    lr: Option<f64>,
    /// Seeds weights, shuffling and noise [default: 42].
    #[arg(long)]
    seed: Option<u64>,
    /// Weight of the KL term: 1 trains the VAE, other values a beta-VAE [default: 1].
    #[arg(long)]
    beta: Option<f64>,
    /// Folder with MNIST or Fashion-MNIST IDX files (default: the embedded 10,000-digit subset).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Use only the first N training images.
    #[arg(long)]
    train_size: Option<usize>,
    /// Use only the first N test images.
    #[arg(long)]
    test_size: Option<usize>,
    /// Output folder.
    #[arg(long, default_value = "runs/mlp-vae")]
    out: PathBuf,
    /// Continue the run saved in --out (flags given must match the saved run, except --epochs).
    #[arg(long)]
    resume: bool,
    /// Start afresh even if --out already holds a checkpoint (it is replaced).
    #[arg(long, conflicts_with = "resume")]
    overwrite: bool,
    /// cpu, cuda, or auto (cuda when built with --features cuda and a GPU is present).
    #[arg(long, default_value = "cpu")]
    device: String,
}

impl TrainArgs {
    /// The flags given, applied over `base` (the defaults, or a saved run's configuration).
    fn apply(&self, mut cfg: TrainConfig) -> TrainConfig {
        if let Some(v) = self.epochs {
            cfg.epochs = v
        }
        if let Some(v) = self.latent_dim {
            cfg.model.latent_dim = v
        }
        if let Some(v) = self.hidden {
            cfg.model.hidden = v
        }
        if let Some(v) = self.batch_size {
            cfg.batch_size = v
        }
        if let Some(v) = self.lr {
            cfg.lr = v
        }
        if let Some(v) = self.seed {
            cfg.seed = v
        }
        if let Some(v) = self.beta {
            cfg.beta = v
        }
        if self.data_dir.is_some() {
            cfg.data_dir = self.data_dir.clone()
        }
        if self.train_size.is_some() {
            cfg.train_size = self.train_size
        }
        if self.test_size.is_some() {
            cfg.test_size = self.test_size
        }
        cfg
    }
}

fn device(name: &str) -> Result<Device> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "auto" => Ok(Device::cuda_if_available(0)?),
        "cuda" => Device::new_cuda(0).context(
            "cannot use the GPU: build with `cargo run --release --features cuda` on a machine with an NVIDIA GPU",
        ),
        other => bail!("unknown --device {other:?}: use cpu, cuda or auto"),
    }
}

fn check_config(cfg: &TrainConfig) -> Result<()> {
    let positive = [
        ("--epochs", cfg.epochs),
        ("--latent-dim", cfg.model.latent_dim),
        ("--hidden", cfg.model.hidden),
        ("--batch-size", cfg.batch_size),
    ];
    for (flag, v) in positive {
        if v == 0 {
            bail!("{flag} must be at least 1");
        }
    }
    if !(cfg.lr.is_finite() && cfg.lr > 0.0) {
        bail!("--lr must be a positive number, got {}", cfg.lr);
    }
    Ok(())
}

fn train(args: TrainArgs) -> Result<()> {
    let dev = device(&args.device)?;
    let ckpt_path = args.out.join("checkpoint.safetensors");
    let mut trainer = if args.resume {
        if !ckpt_path.exists() {
            bail!("--resume: there is no checkpoint at {} to continue", ckpt_path.display());
        }
        let cfg = args.apply(train::saved_config(&ckpt_path)?);
        check_config(&cfg)?;
        let t = Trainer::resume(&ckpt_path, cfg, &dev)?;
        println!("resuming {} after epoch {}", ckpt_path.display(), t.history.len());
        t
    } else {
        if ckpt_path.exists() && !args.overwrite {
            bail!(
                "{} already holds a checkpoint: pass --resume to continue it, --overwrite to start again, \
                 or choose another --out",
                args.out.display()
            );
        }
        let cfg = args.apply(TrainConfig::default());
        check_config(&cfg)?;
        Trainer::new(cfg, &dev)?
    };
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
        let epoch = trainer.next_epoch();
        let bar = ProgressBar::new(trainer.batches_per_epoch() as u64).with_style(style.clone());
        bar.set_prefix(format!("{epoch}/{}", cfg.epochs));
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
        report::write_metrics(&args.out.join("metrics.json"), &trainer)?;
    }
    let x_test = trainer.data.test.images(&dev)?;
    let written = report::write_run_figures(&trainer, &x_test, &args.out)?;
    println!("checkpoint: {}", ckpt_path.display());
    println!("metrics:    {}", args.out.join("metrics.json").display());
    for path in written {
        println!("figure:     {}", path.display());
    }
    Ok(())
}

fn load(path: &Path, dev: &str) -> Result<(vae_book::vae::Vae, TrainConfig)> {
    let dev = device(dev)?;
    let (model, _varmap, cfg) = train::load_model(path, &dev)?;
    Ok((model, cfg))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Train(args) => train(args),
        Command::Sample { checkpoint, out, seed, device } => {
            let (model, _) = load(&checkpoint, &device)?;
            figures::prior_samples(&model, seed, &out)?;
            println!("figure: {}", out.display());
            Ok(())
        }
        Command::Reconstruct { checkpoint, out, n, data_dir, device } => {
            let (model, _) = load(&checkpoint, &device)?;
            let data = Mnist::load(data_dir.as_deref())?;
            let x = data.test.images(model.device())?;
            figures::reconstructions(&model, &x, n, &out)?;
            println!("figure: {}", out.display());
            Ok(())
        }
        Command::Figures { book_src, device: dev, chapters } => {
            let dev = device(&dev)?;
            for path in report::book_figures(&book_src, &dev, &chapters, |line| println!("{line}"))? {
                println!("wrote {}", path.display());
            }
            Ok(())
        }
    }
}
