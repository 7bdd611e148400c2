//! `vae`: train any model of the book on the embedded data (or a folder of MNIST files), evaluate,
//! sample from and reconstruct with a saved model, and regenerate the book's figures.

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::{Path, PathBuf};
use vae_book::cli::{self, TrainArgs, mlp};
use vae_book::{dispatch_model, report};

#[derive(Parser)]
#[command(name = "vae", version, about = "Variational autoencoders with candle: the models of the book")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model; writes checkpoint.safetensors, metrics.json and figures into --out.
    Train(Box<TrainArgs>),
    /// Test numbers of a saved model: the negative ELBO and -log p(x) by importance sampling.
    Eval {
        #[arg(long)]
        checkpoint: PathBuf,
        /// Importance samples per example.
        #[arg(long, default_value_t = 1000)]
        k: usize,
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// Draw from a saved model: a grid of images, or sentences printed for the text model.
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
    /// Draw test images above their reconstructions by a saved image model.
    Reconstruct {
        #[arg(long, default_value = "runs/mlp-vae/checkpoint.safetensors")]
        checkpoint: PathBuf,
        #[arg(long, default_value = "reconstructions.png")]
        out: PathBuf,
        /// How many test images.
        #[arg(long, default_value_t = 10)]
        n: usize,
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// Regenerate every figure and number of the book (trains the book's models).
    Figures {
        #[arg(long, default_value = "book/src")]
        book_src: PathBuf,
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Regenerate only these chapter groups (repeatable) [default: all].
        #[arg(long = "chapter", value_parser = clap::builder::PossibleValuesParser::new(report::CHAPTERS))]
        chapters: Vec<String>,
    },
}

/// `vae train`: the model named by --model, or with --resume and no --model, the one saved in --out.
fn train(mut args: TrainArgs) -> Result<()> {
    if args.resume && args.model.is_none() {
        let ckpt = args.out_dir()?.join("checkpoint.safetensors");
        if ckpt.exists() {
            args.model = Some(saved_name(&ckpt)?);
        }
    } else if args.resume {
        let ckpt = args.out_dir()?.join("checkpoint.safetensors");
        let asked = args.model_info()?.name;
        if ckpt.exists() && saved_name(&ckpt)? != asked {
            anyhow::bail!("{} holds a '{}' model, not a '{asked}' model", ckpt.display(), saved_name(&ckpt)?);
        }
    }
    match args.model_info()?.name {
        "mlp" => mlp::train_mlp(&args),
        name => dispatch_model!(name, train_with(&args)),
    }
}

fn train_with<M: cli::CliModel>(args: &TrainArgs) -> Result<()> {
    cli::train_model::<M>(args)
}

/// The model a checkpoint holds, by its `vae train --model` name.
fn saved_name(path: &Path) -> Result<String> {
    let name = cli::checkpoint_model(path)?;
    Ok(if name == vae_book::train::MODEL_KIND { "mlp".into() } else { name })
}

fn eval_with<M: cli::CliModel>(path: &Path, k: usize, dev: &str) -> Result<()> {
    cli::eval::<M>(path, k, dev)
}

fn sample_with<M: cli::CliModel>(path: &Path, seed: u64, out: &Path, dev: &str) -> Result<()> {
    cli::sample::<M>(path, seed, out, dev)
}

fn reconstruct_with<M: cli::CliModel>(path: &Path, n: usize, out: &Path, dev: &str) -> Result<()> {
    cli::reconstruct::<M>(path, n, out, dev)
}

fn main() -> Result<()> {
    let command = Cli::command().mut_subcommand("train", |c| c.after_help(cli::models_help()));
    let parsed = Cli::from_arg_matches(&command.get_matches())?;
    match parsed.command {
        Command::Train(args) => train(*args),
        Command::Eval { checkpoint, k, device } => match saved_name(&checkpoint)?.as_str() {
            "mlp" => mlp::eval(&checkpoint, k, &device),
            name => dispatch_model!(name, eval_with(&checkpoint, k, &device)),
        },
        Command::Sample { checkpoint, out, seed, device } => match saved_name(&checkpoint)?.as_str() {
            "mlp" => mlp::sample(&checkpoint, seed, &out, &device),
            name => dispatch_model!(name, sample_with(&checkpoint, seed, &out, &device)),
        },
        Command::Reconstruct { checkpoint, out, n, device } => match saved_name(&checkpoint)?.as_str() {
            "mlp" => mlp::reconstruct(&checkpoint, n, &out, &device),
            name => dispatch_model!(name, reconstruct_with(&checkpoint, n, &out, &device)),
        },
        Command::Figures { book_src, device, chapters } => {
            let dev = cli::device(&device)?;
            for path in report::book_figures(&book_src, &dev, &chapters, |line| println!("{line}"))? {
                println!("wrote {}", path.display());
            }
            Ok(())
        }
    }
}
