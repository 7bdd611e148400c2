//! The `vae` program's side of the library: the models `vae train --model NAME` trains, the flags
//! and data each takes, and one driver that trains, checkpoints, resumes and evaluates any of them.
//!
//! A model joins the command line by implementing [`CliModel`] (its defaults, its own flags, its
//! data) and getting a line in [`MODELS`] and in the `match` of [`dispatch`]'s callers.

use crate::checkpoint;
use crate::train::{Model, RunConfig, saved_model_name};
use anyhow::{Result, bail};
use candle_core::Device;
use clap::Args;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

mod driver;
mod ecg;
mod images;
mod likelihood;
mod m2;
pub mod mlp;
mod quadrants;
mod sequences;
mod tcvae;
mod text;
mod vaegan;
mod vqvae;
pub mod world;

pub use driver::{eval, reconstruct, sample, train_model};

/// One model of the command line: its name, what it is, the data it takes (the default first)
/// and its own flags (beyond those every run takes).
pub struct ModelInfo {
    pub name: &'static str,
    pub about: &'static str,
    pub data: &'static [&'static str],
    pub flags: &'static [&'static str],
}

/// Flags that every model takes.
pub const SHARED_FLAGS: [&str; 9] =
    ["--epochs", "--batch-size", "--lr", "--seed", "--patience", "--out", "--resume", "--overwrite", "--device"];

pub const MLP: ModelInfo = ModelInfo {
    name: "mlp",
    about: "the classic VAE, MLP encoder and decoder (--beta for a beta-VAE)",
    data: &["mnist", "fashion"],
    flags: &["--latent-dim", "--hidden", "--beta", "--data-dir", "--train-size", "--test-size"],
};

pub const LIKELIHOOD: ModelInfo = ModelInfo {
    name: "likelihood",
    about: "the classic VAE with a chosen decoder likelihood (--likelihood; --pixel-mean: the common mistake)",
    data: &["mnist", "fashion"],
    flags: &[
        "--likelihood",
        "--sigma",
        "--pixel-mean",
        "--latent-dim",
        "--hidden",
        "--data-dir",
        "--train-size",
        "--test-size",
    ],
};

pub const CONV: ModelInfo = ModelInfo {
    name: "conv",
    about: "the convolutional VAE (the Keras example's shape), 28x28 images",
    data: &["mnist", "fashion"],
    flags: &["--latent-dim", "--data-dir", "--train-size", "--test-size"],
};

pub const IWAE: ModelInfo = ModelInfo {
    name: "iwae",
    about: "the importance-weighted autoencoder on binarized digits (--k samples; 1 = the VAE)",
    data: &["mnist", "fashion"],
    flags: &["--k", "--latent-dim", "--hidden", "--data-dir", "--train-size", "--test-size"],
};

pub const CVAE: ModelInfo = ModelInfo {
    name: "cvae",
    about: "the class-conditional VAE: digits generated for a chosen label",
    data: &["mnist", "fashion"],
    flags: &["--latent-dim", "--hidden", "--data-dir", "--train-size", "--test-size"],
};

pub const M2: ModelInfo = ModelInfo {
    name: "m2",
    about: "the semi-supervised VAE (Kingma et al. M2): --labels per class labelled, the rest not",
    data: &["mnist", "fashion"],
    flags: &["--labels", "--alpha", "--latent-dim", "--hidden", "--data-dir", "--train-size", "--test-size"],
};

pub const TCVAE: ModelInfo = ModelInfo {
    name: "tcvae",
    about: "beta-TCVAE on generated sprites: --beta weighs the code's total correlation, --kl-weight the rest of the KL",
    data: &["sprites"],
    flags: &["--beta", "--kl-weight", "--latent-dim", "--hidden", "--train-size", "--test-size"],
};

pub const ECG: ModelInfo = ModelInfo {
    name: "ecg",
    about: "a VAE of heartbeats (MIT-BIH record 208), trained on narrow beats, scoring the wide ones",
    data: &["ecg"],
    flags: &["--latent-dim", "--hidden"],
};

pub const WORLD: ModelInfo = ModelInfo {
    name: "world",
    about: "a world model in miniature (Ha & Schmidhuber): V, a VAE of a game's frames, and M, a GRU predicting the next code",
    data: &["catch"],
    flags: &["--latent-dim", "--hidden", "--train-size", "--test-size"],
};

pub const QUADRANT_BASELINE: ModelInfo = ModelInfo {
    name: "quadrant-baseline",
    about: "a network that completes a digit from 1-3 of its quadrants (one guess, a blur)",
    data: &["mnist", "fashion"],
    flags: &["--quadrants", "--hidden", "--data-dir", "--train-size", "--test-size"],
};

pub const QUADRANT: ModelInfo = ModelInfo {
    name: "quadrant",
    about: "the CVAE that completes digits (Sohn et al.); --baseline: a quadrant-baseline checkpoint",
    data: &["mnist", "fashion"],
    flags: &["--quadrants", "--baseline", "--hidden", "--latent-dim", "--data-dir", "--train-size", "--test-size"],
};

pub const VQVAE: ModelInfo = ModelInfo {
    name: "vqvae",
    about: "the VQ-VAE: 49 discrete codes per image from a learned codebook (--codes, --code-dim)",
    data: &["mnist", "fashion"],
    flags: &["--codes", "--code-dim", "--commitment", "--data-dir", "--train-size", "--test-size"],
};

pub const VQ_PRIOR: ModelInfo = ModelInfo {
    name: "vq-prior",
    about: "a GRU prior over a trained VQ-VAE's codes, for its bound and its samples (--vqvae: its checkpoint)",
    data: &["mnist", "fashion"],
    flags: &["--vqvae", "--hidden", "--data-dir", "--train-size", "--test-size"],
};

pub const VAEGAN: ModelInfo = ModelInfo {
    name: "vaegan",
    about: "the VAE-GAN of Larsen et al.: reconstruction in a discriminator's features (--gamma)",
    data: &["mnist", "fashion"],
    flags: &["--gamma", "--latent-dim", "--hidden", "--data-dir", "--train-size", "--test-size"],
};

pub const CLASSIFIER: ModelInfo = ModelInfo {
    name: "classifier",
    about: "the image classifier whose features the blur chapter's Fréchet distance uses",
    data: &["mnist", "fashion"],
    flags: &["--hidden", "--data-dir", "--train-size", "--test-size"],
};

pub const VRNN: ModelInfo = ModelInfo {
    name: "vrnn",
    about: "the variational RNN on Bach chorales (beats) or MNIST digits read row by row",
    data: &["chorales", "mnist-rows"],
    flags: &["--latent-dim", "--hidden"],
};

pub const RNN: ModelInfo = ModelInfo {
    name: "rnn",
    about: "the deterministic GRU the VRNN is compared with (exact likelihood)",
    data: &["chorales", "mnist-rows"],
    flags: &["--hidden"],
};

pub const TEXT: ModelInfo = ModelInfo {
    name: "text",
    about: "the sentence VAE of Bowman et al. on State of the Union sentences",
    data: &["sotu"],
    flags: &["--latent-dim", "--hidden", "--kl-anneal", "--kl-cycle", "--word-dropout", "--free-bits"],
};

/// Every model `vae train --model` knows, in the book's order.
pub const MODELS: [ModelInfo; 18] = [
    MLP,
    LIKELIHOOD,
    CONV,
    IWAE,
    CVAE,
    M2,
    TCVAE,
    ECG,
    WORLD,
    QUADRANT_BASELINE,
    QUADRANT,
    VQVAE,
    VQ_PRIOR,
    VAEGAN,
    CLASSIFIER,
    VRNN,
    RNN,
    TEXT,
];

/// The `vae train --help` text that lists the models.
pub fn models_help() -> String {
    let lines: Vec<String> = MODELS.iter().map(|m| format!("  {:<18} {}", m.name, m.about)).collect();
    format!("Models (--model):\n{}", lines.join("\n"))
}

/// The flags of `vae train`. Model flags left out take the model's defaults (or, with
/// `--resume`, the saved run's values).
#[derive(Args, Debug, Clone, Default)]
pub struct TrainArgs {
    /// The model to train [default: mlp]; see the list below.
    #[arg(long)]
    pub model: Option<String>,
    /// The data set [default: the model's first]: mnist, fashion, chorales, mnist-rows, sotu,
    /// sprites or ecg.
    #[arg(long)]
    pub data: Option<String>,
    /// Passes over the training set (at most this many with --patience).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Dimensions of z.
    #[arg(long)]
    pub latent_dim: Option<usize>,
    /// Hidden units (of the MLP layers, or of the recurrent state).
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Rows per step: images, or sequences per length bucket.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Adam learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Seeds weights, shuffling and noise [default: 42].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop after this many epochs without a better validation loss, keeping the best weights
    /// (0: train every epoch). Only models with a validation split take it.
    #[arg(long)]
    pub patience: Option<usize>,
    /// mlp: weight of the KL term (1 = the VAE, other values a beta-VAE); tcvae: weight of the
    /// code's total correlation.
    #[arg(long)]
    pub beta: Option<f64>,
    /// tcvae: weight of the KL term's two other parts, the code's mutual information with the
    /// image and the units' KL (1 = beta-TCVAE; equal to --beta = a beta-VAE) [default: 1].
    #[arg(long)]
    pub kl_weight: Option<f64>,
    /// likelihood: bernoulli, binarized-bernoulli, gaussian, learned-gaussian or continuous-bernoulli
    /// [default: bernoulli].
    #[arg(long)]
    pub likelihood: Option<String>,
    /// likelihood: the fixed Gaussian's standard deviation [default: 1].
    #[arg(long)]
    pub sigma: Option<f64>,
    /// likelihood: average the reconstruction term over pixels instead of summing it (a mistake, to
    /// see what it does).
    #[arg(long)]
    pub pixel_mean: bool,
    /// iwae: importance samples in the training bound.
    #[arg(long)]
    pub k: Option<usize>,
    /// text: optimizer steps over which the KL weight climbs from 0 to 1 (0 = no annealing).
    #[arg(long)]
    pub kl_anneal: Option<usize>,
    /// text: cyclical KL annealing, cycles of this many optimizer steps; the weight climbs from 0
    /// to 1 over the first half of each (instead of --kl-anneal).
    #[arg(long, conflicts_with = "kl_anneal")]
    pub kl_cycle: Option<usize>,
    /// text: probability of replacing a decoder input word by <unk>.
    #[arg(long)]
    pub word_dropout: Option<f64>,
    /// text: free bits, the KL floor in nats per latent dimension (0 = none) [default: 0].
    #[arg(long)]
    pub free_bits: Option<f64>,
    /// vqvae: entries in the codebook, K [default: 128].
    #[arg(long)]
    pub codes: Option<usize>,
    /// vqvae: length of each codebook entry, D [default: 16].
    #[arg(long)]
    pub code_dim: Option<usize>,
    /// vqvae: weight of the commitment term [default: 0.25].
    #[arg(long)]
    pub commitment: Option<f64>,
    /// vq-prior: the checkpoint of a trained vqvae run, whose codes the prior learns.
    #[arg(long)]
    pub vqvae: Option<PathBuf>,
    /// vaegan: weight of the feature reconstruction in the decoder's loss, against fooling the
    /// discriminator [default: 1].
    #[arg(long)]
    pub gamma: Option<f64>,
    /// m2: labelled training images per class; the others are used without labels [default: 10].
    #[arg(long)]
    pub labels: Option<usize>,
    /// m2: weight of the labelled images' cross-entropy, as a multiple of the training set's size
    /// (the paper's alpha = 0.1 N) [default: 0.1].
    #[arg(long)]
    pub alpha: Option<f64>,
    /// quadrant models: how many quadrants of each digit are shown (1, 2 or 3) [default: 2].
    #[arg(long)]
    pub quadrants: Option<usize>,
    /// quadrant: the checkpoint of a trained quadrant-baseline run with the same --quadrants.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Image models: a folder with MNIST or Fashion-MNIST IDX files instead of the embedded digits.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Image models: use only the first N training images.
    #[arg(long)]
    pub train_size: Option<usize>,
    /// Image models: use only the first N test images.
    #[arg(long)]
    pub test_size: Option<usize>,
    /// Output folder [default: runs/MODEL].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run saved in --out (flags given must match the saved run, except --epochs).
    #[arg(long)]
    pub resume: bool,
    /// Start afresh even if --out already holds a checkpoint (it is replaced).
    #[arg(long, conflicts_with = "resume")]
    pub overwrite: bool,
    /// cpu, cuda, or auto (cuda when built with --features cuda and a GPU is present).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

impl TrainArgs {
    /// The model asked for (default `mlp`), checked against [`MODELS`].
    pub fn model_info(&self) -> Result<&'static ModelInfo> {
        let name = self.model.as_deref().unwrap_or("mlp");
        model_info(name)
    }

    /// The output folder: `--out`, or `runs/MODEL` (`runs/mlp-vae` for the MLP, as before).
    pub fn out_dir(&self) -> Result<PathBuf> {
        let info = self.model_info()?;
        let default = if info.name == "mlp" { "runs/mlp-vae".to_string() } else { format!("runs/{}", info.name) };
        Ok(self.out.clone().unwrap_or_else(|| PathBuf::from(default)))
    }

    /// The model-specific flags that were given, by their command-line names.
    fn given_flags(&self) -> Vec<&'static str> {
        let flags = [
            ("--latent-dim", self.latent_dim.is_some()),
            ("--hidden", self.hidden.is_some()),
            ("--beta", self.beta.is_some()),
            ("--kl-weight", self.kl_weight.is_some()),
            ("--likelihood", self.likelihood.is_some()),
            ("--sigma", self.sigma.is_some()),
            ("--pixel-mean", self.pixel_mean),
            ("--k", self.k.is_some()),
            ("--kl-anneal", self.kl_anneal.is_some()),
            ("--kl-cycle", self.kl_cycle.is_some()),
            ("--word-dropout", self.word_dropout.is_some()),
            ("--free-bits", self.free_bits.is_some()),
            ("--codes", self.codes.is_some()),
            ("--code-dim", self.code_dim.is_some()),
            ("--commitment", self.commitment.is_some()),
            ("--vqvae", self.vqvae.is_some()),
            ("--gamma", self.gamma.is_some()),
            ("--labels", self.labels.is_some()),
            ("--alpha", self.alpha.is_some()),
            ("--quadrants", self.quadrants.is_some()),
            ("--baseline", self.baseline.is_some()),
            ("--data-dir", self.data_dir.is_some()),
            ("--train-size", self.train_size.is_some()),
            ("--test-size", self.test_size.is_some()),
        ];
        flags.into_iter().filter(|(_, given)| *given).map(|(name, _)| name).collect()
    }

    /// Refuses flags the model does not take and data it cannot train on, naming the valid choices.
    pub fn check_for(&self, info: &ModelInfo) -> Result<()> {
        for flag in self.given_flags() {
            if !info.flags.contains(&flag) {
                let own = if info.flags.is_empty() { "none".to_string() } else { info.flags.join(" ") };
                bail!("--model {} does not take {flag}; its own flags: {own}", info.name);
            }
        }
        if let Some(data) = &self.data
            && !info.data.contains(&data.as_str())
        {
            bail!("--model {} does not train on --data {data}; choose {}", info.name, info.data.join(" or "));
        }
        if self.data_dir.is_some() && self.data.as_deref().is_some_and(|d| d != "mnist") {
            bail!("--data-dir replaces the embedded digits with MNIST-format files: it goes with --data mnist");
        }
        Ok(())
    }

    /// The run settings: the model's defaults (or the saved ones), with the flags given.
    pub fn run_config(&self, base: RunConfig) -> Result<RunConfig> {
        let run = RunConfig {
            epochs: self.epochs.unwrap_or(base.epochs),
            batch_size: self.batch_size.unwrap_or(base.batch_size),
            lr: self.lr.unwrap_or(base.lr),
            seed: self.seed.unwrap_or(base.seed),
            patience: match self.patience {
                Some(0) => None,
                Some(p) => Some(p),
                None => base.patience,
            },
        };
        positive("--epochs", run.epochs)?;
        positive("--batch-size", run.batch_size)?;
        if !(run.lr.is_finite() && run.lr > 0.0) {
            bail!("--lr must be a positive number, got {}", run.lr);
        }
        Ok(run)
    }
}

/// `--latent-dim` and `--hidden` applied over a model's `(latent, hidden)`, each at least 1.
pub fn sizes(args: &TrainArgs, (latent, hidden): (usize, usize)) -> Result<(usize, usize)> {
    let (latent, hidden) = (args.latent_dim.unwrap_or(latent), args.hidden.unwrap_or(hidden));
    positive("--latent-dim", latent)?;
    positive("--hidden", hidden)?;
    Ok((latent, hidden))
}

/// `Err` naming the flag when a count is zero.
pub fn positive(flag: &str, value: usize) -> Result<()> {
    if value == 0 {
        bail!("{flag} must be at least 1");
    }
    Ok(())
}

/// The most importance samples per example `--k` takes: each chunk of the estimate decodes up to
/// `k` codes at once.
pub const MAX_IMPORTANCE_SAMPLES: usize = 100_000;

/// `Err` unless `1 <= k <= MAX_IMPORTANCE_SAMPLES`.
pub fn check_importance_samples(k: usize) -> Result<()> {
    positive("--k", k)?;
    if k > MAX_IMPORTANCE_SAMPLES {
        bail!("--k {k} is more than {MAX_IMPORTANCE_SAMPLES} importance samples per example");
    }
    Ok(())
}

/// The entry of [`MODELS`] called `name`, or an error listing them.
pub fn model_info(name: &str) -> Result<&'static ModelInfo> {
    MODELS.iter().find(|m| m.name == name).ok_or_else(|| {
        let names: Vec<&str> = MODELS.iter().map(|m| m.name).collect();
        anyhow::anyhow!("unknown --model {name:?}: choose one of {}", names.join(", "))
    })
}

/// The data a command-line run trained on, saved in its checkpoint so that `--resume`, `vae eval`
/// and `vae sample` load the same.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataSpec {
    /// `mnist`, `fashion`, `chorales`, `mnist-rows`, `sotu`, `sprites` or `ecg`.
    pub name: String,
    /// A folder of IDX files instead of the embedded digits.
    pub dir: Option<PathBuf>,
    pub train_size: Option<usize>,
    pub test_size: Option<usize>,
    /// Quadrants shown, for the quadrant models.
    #[serde(default)]
    pub quadrants: Option<usize>,
    /// The baseline checkpoint the quadrant CVAE reads.
    #[serde(default)]
    pub baseline: Option<PathBuf>,
    /// The VQ-VAE checkpoint whose codes the vq-prior learns.
    #[serde(default)]
    pub vqvae: Option<PathBuf>,
    /// Labelled training images per class, for the semi-supervised model.
    #[serde(default)]
    pub labels: Option<usize>,
}

impl DataSpec {
    /// From the flags, for a model whose default data is `default`.
    pub fn from_args(args: &TrainArgs, default: &str) -> Self {
        Self {
            name: args.data.clone().unwrap_or_else(|| default.to_string()),
            dir: args.data_dir.clone(),
            train_size: args.train_size,
            test_size: args.test_size,
            quadrants: args.quadrants,
            baseline: args.baseline.clone(),
            vqvae: args.vqvae.clone(),
            labels: args.labels,
        }
    }

    /// The spec written as the flags that ask for it, e.g. `--data fashion --train-size 256`.
    pub fn as_flags(&self) -> String {
        let mut out = format!("--data {}", self.name);
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let count = |n: Option<usize>| n.map(|n| n.to_string());
        let flags = [
            ("--data-dir", path(&self.dir)),
            ("--train-size", count(self.train_size)),
            ("--test-size", count(self.test_size)),
            ("--quadrants", count(self.quadrants)),
            ("--baseline", path(&self.baseline)),
            ("--vqvae", path(&self.vqvae)),
            ("--labels", count(self.labels)),
        ];
        for (flag, value) in flags.into_iter().filter_map(|(f, v)| v.map(|v| (f, v))) {
            out.push_str(&format!(" {flag} {value}"));
        }
        out
    }
}

/// What `vae train --model M` needs beyond [`Model`]: the book's settings, the model's own flags,
/// its data, and the figures and numbers of a trained model.
pub trait CliModel: Model {
    /// The entry of [`MODELS`].
    fn info() -> &'static ModelInfo;
    /// The book's configuration of the model and its run on the data set `data`.
    fn defaults(data: &str) -> (Self::Config, RunConfig);
    /// `cfg` with the model's own flags applied (checked: a zero size is an error).
    fn apply(args: &TrainArgs, cfg: Self::Config) -> Result<Self::Config>;
    /// `spec` with the model's data defaults filled in, so that a default left out and the same
    /// value given are the same data when a checkpoint's spec is compared (none by default).
    fn complete_spec(spec: DataSpec) -> DataSpec {
        spec
    }
    /// Loads the data `spec` names (binarized, or cut into batches, as `run` says).
    fn load_data(spec: &DataSpec, run: &RunConfig, dev: &Device) -> Result<Self::Data>;
    /// `cfg` fitted to the data (sizes the data fixes), or an error if they cannot go together.
    fn fit_to_data(cfg: Self::Config, data: &Self::Data) -> Result<Self::Config>;
    /// The split scored after every epoch (`test`, or `validation` where early stopping watches it).
    fn eval_set() -> &'static str {
        "test"
    }
    /// One line describing the data, for the start of a run.
    fn describe(data: &Self::Data) -> String;
    /// Figures of a trained model written into `dir` (none by default).
    fn figures(_run: &crate::train::Run<Self>, _data: &Self::Data, _dir: &Path) -> Result<Vec<PathBuf>> {
        Ok(Vec::new())
    }
    /// `vae eval`: the held-out numbers, `k` importance samples where the model has an estimator.
    fn eval(run: &crate::train::Run<Self>, data: &Self::Data, k: usize) -> Result<Vec<(String, f64)>>;
    /// `vae sample`: draws from the model into `out` (a figure, or printed text).
    fn sample(_run: &crate::train::Run<Self>, _data: &Self::Data, _seed: u64, _out: &Path) -> Result<String> {
        bail!("--model {} has no `vae sample`", Self::info().name)
    }
    /// `vae reconstruct`: test examples above their reconstructions.
    fn reconstruct(_run: &crate::train::Run<Self>, _data: &Self::Data, _n: usize, _out: &Path) -> Result<()> {
        bail!("--model {} has no `vae reconstruct`; image models have", Self::info().name)
    }
}

/// The model name saved in a checkpoint.
pub fn checkpoint_model(path: &Path) -> Result<String> {
    let ckpt = checkpoint::load(path, &Device::Cpu)?;
    Ok(saved_model_name(&ckpt)?)
}

/// Calls `$f::<Model>($args)` for the model named `$name` (every model but the MLP).
#[macro_export]
macro_rules! dispatch_model {
    ($name:expr, $f:ident($($arg:expr),*)) => {
        match $name {
            "likelihood" => $f::<$crate::models::likelihood::LikelihoodVae>($($arg),*),
            "conv" => $f::<$crate::models::conv_vae::ConvVae>($($arg),*),
            "iwae" => $f::<$crate::models::iwae::Iwae>($($arg),*),
            "cvae" => $f::<$crate::models::cvae::Cvae>($($arg),*),
            "m2" => $f::<$crate::models::m2::M2>($($arg),*),
            "tcvae" => $f::<$crate::models::tcvae::Tcvae>($($arg),*),
            "ecg" => $f::<$crate::models::ecg_vae::EcgVae>($($arg),*),
            "world" => $f::<$crate::models::world::WorldModel>($($arg),*),
            "quadrant-baseline" => $f::<$crate::models::quadrant::Baseline>($($arg),*),
            "quadrant" => $f::<$crate::models::quadrant::QuadrantCvae>($($arg),*),
            "vqvae" => $f::<$crate::models::vqvae::VqVae>($($arg),*),
            "vq-prior" => $f::<$crate::models::vq_prior::VqPrior>($($arg),*),
            "vaegan" => $f::<$crate::models::vae_gan::VaeGan>($($arg),*),
            "classifier" => $f::<$crate::models::classifier::Classifier>($($arg),*),
            "vrnn" => $f::<$crate::models::vrnn::Vrnn>($($arg),*),
            "rnn" => $f::<$crate::models::vrnn::RnnBaseline>($($arg),*),
            "text" => $f::<$crate::models::text_vae::TextVae>($($arg),*),
            other => Err(anyhow::anyhow!("unknown model {other:?}")),
        }
    };
}

/// Selects a device by name: `cpu`, `cuda` or `auto`.
pub fn device(name: &str) -> Result<Device> {
    use anyhow::Context;
    match name {
        "cpu" => Ok(Device::Cpu),
        "auto" => Ok(Device::cuda_if_available(0)?),
        "cuda" => Device::new_cuda(0).context(
            "cannot use the GPU: build with `cargo run --release --features cuda` on a machine with an NVIDIA GPU",
        ),
        other => bail!("unknown --device {other:?}: use cpu, cuda or auto"),
    }
}
