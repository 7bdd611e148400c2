//! Training: seeded, checkpointed every epoch, resumable to the same numbers.
//!
//! [`Run`] trains any [`Model`] (the trait in `model.rs`, the loop in `run.rs`); [`Trainer`] below
//! trains the classic MLP VAE with its hand-written CPU step. Each epoch shuffles the training set with a generator derived from `(seed, epoch)` and draws
//! its noise the same way, so epoch 7 is identical whether or not the run stopped after epoch 5.

use crate::checkpoint::{self, Checkpoint, CheckpointError};
use crate::cpu::manual::{ManualStep, StepLoss};
use crate::data::{ImageSet, Mnist};
use crate::init;
use crate::models::vae::{Vae, VaeConfig, negative_elbo, negative_elbo_fast};
use crate::optim::Adam;
use crate::prob::SeededRng;
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub mod es;
mod model;
mod run;

pub use model::{LossTerms, Model, Player, Score, Step};
pub use run::{
    Best, EpochRecord, RUN_FORMAT, Run, RunConfig, StepReport, check_shapes, json_differences, saved_model_name,
};

/// The model kind written into checkpoints, so that another architecture's file is refused.
pub const MODEL_KIND: &str = "mlp-vae";
pub(crate) const FORMAT: &str = "vae-book-checkpoint/1";

/// Everything that determines a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub model: VaeConfig,
    /// Passes over the training set.
    pub epochs: usize,
    /// Images per gradient step (PyTorch's example uses 128).
    pub batch_size: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// Seeds initial weights, shuffling and noise.
    pub seed: u64,
    /// Weight of the KL term in the training objective `recon + beta * KL` (1 = the ELBO; other
    /// values give the beta-VAE). Test losses are always the plain negative ELBO.
    #[serde(default = "default_beta")]
    pub beta: f64,
    /// Use only the first N training images (small configurations for CI).
    pub train_size: Option<usize>,
    /// Use only the first N test images.
    pub test_size: Option<usize>,
    /// A folder with the standard MNIST / Fashion-MNIST files; `None` is the embedded set `data`.
    pub data_dir: Option<PathBuf>,
    /// The embedded images: the digits (default) or Fashion-MNIST.
    #[serde(default)]
    pub data: ImageSet,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            model: VaeConfig::default(),
            epochs: 10,
            batch_size: 128,
            lr: 1e-3,
            seed: 42,
            beta: 1.0,
            train_size: None,
            test_size: None,
            data_dir: None,
            data: ImageSet::Mnist,
        }
    }
}

fn default_beta() -> f64 {
    1.0
}

impl TrainConfig {
    /// The small configuration used when `VAE_BOOK_QUICK` is set (CI, quick looks).
    pub fn quick(mut self) -> Self {
        self.epochs = self.epochs.min(2);
        self.train_size = Some(2000);
        self.test_size = Some(500);
        self
    }

    /// `quick()` when the environment variable `VAE_BOOK_QUICK` is set to anything but `0`.
    pub fn quick_if_requested(self) -> Self {
        if quick_requested() { self.quick() } else { self }
    }
}

/// Whether the environment asks for the small configuration (`VAE_BOOK_QUICK=1`).
pub fn quick_requested() -> bool {
    std::env::var("VAE_BOOK_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// One epoch's numbers, all in nats per image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    /// Negative ELBO averaged over the epoch's training batches (weights changing as it goes).
    pub train_loss: f64,
    /// Negative ELBO on the test set after the epoch.
    pub test_loss: f64,
    /// The test set's reconstruction term, `-E_q[log p(x|z)]`.
    pub recon: f64,
    /// The test set's KL term, `KL(q(z|x) || p(z))`.
    pub kl: f64,
    pub train_recon: f64,
    pub train_kl: f64,
    /// Wall-clock seconds for the epoch's training steps.
    pub train_seconds: f64,
    /// Wall-clock seconds for the epoch, test evaluation included.
    pub seconds: f64,
}

/// Loss terms averaged over a data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossValues {
    pub loss: f64,
    pub recon: f64,
    pub kl: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Data(#[from] crate::data::IdxError),
    #[error(
        "the loss became {value} at epoch {epoch}, batch {batch}: training stopped; the last good \
         checkpoint (epoch {last_good}) is kept. Try a lower --lr"
    )]
    NonFinite { epoch: usize, batch: usize, value: f64, last_good: usize },
    #[error("cannot resume from {path}: {msg}")]
    ResumeMismatch { path: PathBuf, msg: String },
}

/// A model, its optimizer, its data and its history.
pub struct Trainer {
    pub cfg: TrainConfig,
    pub varmap: VarMap,
    pub model: Vae,
    pub dev: Device,
    pub data: Mnist,
    pub history: Vec<EpochMetrics>,
    opt: Adam,
    x_train: Tensor,
    x_test: Tensor,
    /// Buffers of the hand-written CPU step and its batch of pixels.
    manual: ManualStep,
    x_batch: Vec<f32>,
}

/// Builds the model's variables in `varmap` (the optimizer must see them all, so build first).
pub fn build_model(cfg: VaeConfig, varmap: &VarMap, dev: &Device) -> candle_core::Result<Vae> {
    Vae::new(cfg, VarBuilder::from_varmap(varmap, DType::F32, dev))
}

impl Trainer {
    /// A fresh run: seeded initial weights, empty history. Prints nothing; the caller reports.
    pub fn new(cfg: TrainConfig, dev: &Device) -> Result<Self, TrainError> {
        let data = Mnist::open(cfg.data, cfg.data_dir.as_deref())?;
        Self::with_data(cfg, data, dev)
    }

    /// A fresh run on data already loaded.
    pub fn with_data(cfg: TrainConfig, data: Mnist, dev: &Device) -> Result<Self, TrainError> {
        let data = data.cut((cfg.train_size, cfg.test_size));
        if data.train.image_size() != cfg.model.input_dim {
            return Err(candle_core::Error::Msg(format!(
                "the data has {} pixels per image, the model expects {}",
                data.train.image_size(),
                cfg.model.input_dim
            ))
            .into());
        }
        let varmap = VarMap::new();
        let model = build_model(cfg.model, &varmap, dev)?;
        init::pytorch_default_init(&varmap, cfg.seed)?;
        let opt = Adam::new(named_vars(&varmap)?, cfg.lr)?;
        let x_train = data.train.images(dev)?;
        let x_test = data.test.images(dev)?;
        Ok(Self {
            cfg,
            varmap,
            model,
            dev: dev.clone(),
            data,
            history: Vec::new(),
            opt,
            x_train,
            x_test,
            manual: ManualStep::new(),
            x_batch: Vec::new(),
        })
    }

    /// Continues the run saved at `path`. `cfg` must equal the saved configuration except for
    /// `epochs` (a longer run may continue a shorter one).
    pub fn resume(path: &Path, cfg: TrainConfig, dev: &Device) -> Result<Self, TrainError> {
        let ckpt = checkpoint::load(path, dev)?;
        check_kind(&ckpt)?;
        let saved: TrainConfig = ckpt.meta_json("train_config")?;
        let differences = config_differences(&saved, &cfg);
        if !differences.is_empty() {
            return Err(TrainError::ResumeMismatch { path: path.into(), msg: differences.join("; ") });
        }
        check_vae_shapes(cfg.model, &ckpt, dev)?;
        let mut trainer = Self::new(cfg, dev)?;
        ckpt.load_into(&trainer.varmap)?;
        let t: u64 = ckpt.meta_json("adam_t")?;
        trainer.opt.load_state(&ckpt.tensors, t)?;
        trainer.history = ckpt.meta_json("history")?;
        Ok(trainer)
    }

    /// The next epoch to run (1-based).
    pub fn next_epoch(&self) -> usize {
        self.history.len() + 1
    }

    /// Number of gradient steps in one epoch.
    pub fn batches_per_epoch(&self) -> usize {
        self.data.train.len().div_ceil(self.cfg.batch_size)
    }

    /// Runs one epoch and the test evaluation. `progress(batch, loss)` is called after each step.
    pub fn train_epoch(&mut self, mut progress: impl FnMut(usize, f64)) -> Result<EpochMetrics, TrainError> {
        crate::cpu::memory::keep_freed_memory();
        let epoch = self.next_epoch();
        let start = Instant::now();
        let n = self.data.train.len();
        let perm = SeededRng::derived(self.cfg.seed, "shuffle", epoch as u64).permutation(n);
        let mut noise = SeededRng::derived(self.cfg.seed, "noise", epoch as u64);
        let (mut sum_loss, mut sum_recon, mut sum_kl) = (0.0, 0.0, 0.0);
        for (batch, idx) in perm.chunks(self.cfg.batch_size).enumerate() {
            let eps = noise.normal_vec(idx.len() * self.cfg.model.latent_dim);
            let at = (epoch, batch + 1);
            let loss =
                if self.dev.is_cpu() { self.step_manual(idx, &eps, at)? } else { self.step_autograd(idx, eps, at)? };
            let weight = idx.len() as f64;
            sum_loss += loss.total * weight;
            sum_recon += loss.recon * weight;
            sum_kl += loss.kl * weight;
            progress(batch + 1, loss.total);
        }
        let train_seconds = start.elapsed().as_secs_f64();
        let test = self.evaluate(&self.x_test)?;
        let n = n as f64;
        let metrics = EpochMetrics {
            epoch,
            train_loss: sum_loss / n,
            test_loss: test.loss,
            recon: test.recon,
            kl: test.kl,
            train_recon: sum_recon / n,
            train_kl: sum_kl / n,
            train_seconds,
            seconds: start.elapsed().as_secs_f64(),
        };
        self.history.push(metrics.clone());
        Ok(metrics)
    }

    /// One gradient step with candle's autograd, the code the VAE chapter shows; the trainer runs
    /// it off the CPU. `idx` picks the batch's images, `eps` is its noise.
    fn step_autograd(&mut self, idx: &[u32], eps: Vec<f32>, at: (usize, usize)) -> Result<StepLoss, TrainError> {
        let idx = Tensor::from_slice(idx, idx.len(), &self.dev)?;
        let eps = Tensor::from_vec(eps, (idx.dim(0)?, self.cfg.model.latent_dim), &self.dev)?;
        // ANCHOR: step
        let x = self.x_train.index_select(&idx, 0)?; // (batch, 784)
        let out = self.model.forward(&x, &eps)?;
        let loss = negative_elbo(&x, &out)?;
        let objective = (&loss.recon + (&loss.kl * self.cfg.beta)?)?; // beta = 1: the negative ELBO
        let total = objective.to_scalar::<f32>()? as f64;
        self.check_finite(total, at)?; // stop before a NaN reaches the weights
        let grads = objective.backward()?;
        self.opt.step(&grads)?;
        // ANCHOR_END: step
        let (recon, kl) = (loss.recon.to_scalar::<f32>()? as f64, loss.kl.to_scalar::<f32>()? as f64);
        Ok(StepLoss { total, recon, kl })
    }

    /// The same step with the hand-written backward pass of [`crate::cpu::manual`] (CPU only): the
    /// same numbers, without autograd's bookkeeping.
    fn step_manual(&mut self, idx: &[u32], eps: &[f32], at: (usize, usize)) -> Result<StepLoss, TrainError> {
        let d = self.data.train.image_size();
        self.x_batch.clear();
        for &i in idx {
            let pixels = &self.data.train.pixels[i as usize * d..][..d];
            self.x_batch.extend(pixels.iter().map(|&p| p as f32 / 255.0));
        }
        let loss = self.manual.run(&self.model, &self.x_batch, eps, idx.len(), self.cfg.beta)?;
        self.check_finite(loss.total, at)?;
        let manual = &self.manual;
        self.opt.step_host(|name| manual.grad(name))?;
        Ok(loss)
    }

    fn check_finite(&self, value: f64, (epoch, batch): (usize, usize)) -> Result<(), TrainError> {
        if value.is_finite() {
            return Ok(());
        }
        Err(TrainError::NonFinite { epoch, batch, value, last_good: self.history.len() })
    }

    /// The negative ELBO of `x` (one sample of `z` per image, from a fixed seed), averaged.
    pub fn evaluate(&self, x: &Tensor) -> candle_core::Result<LossValues> {
        evaluate(&self.model, x, self.cfg.seed)
    }

    /// Saves weights, optimizer state, configuration and history atomically.
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        let mut tensors =
            named_vars(&self.varmap)?.into_iter().map(|(n, v)| (n, v.as_tensor().clone())).collect::<Vec<_>>();
        tensors.extend(self.opt.state()?);
        let metadata = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("model".to_string(), MODEL_KIND.to_string()),
            ("train_config".to_string(), to_json(&self.cfg, path)?),
            ("adam_t".to_string(), self.opt.t.to_string()),
            ("history".to_string(), to_json(&self.history, path)?),
        ]);
        checkpoint::save_atomic(path, &tensors, metadata)
    }
}

/// The negative ELBO of `x`, one sample of `z` per image with noise seeded by `seed`.
pub fn evaluate(model: &Vae, x: &Tensor, seed: u64) -> candle_core::Result<LossValues> {
    let mut rng = SeededRng::derived(seed, "eval", 0);
    let n = x.dim(0)?;
    let (mut loss, mut recon, mut kl) = (0.0, 0.0, 0.0);
    let chunk = 1000;
    for start in (0..n).step_by(chunk) {
        let len = chunk.min(n - start);
        let xb = x.narrow(0, start, len)?;
        let eps = rng.normal(&[len, model.cfg.latent_dim], x.device())?;
        let l = negative_elbo_fast(&xb, &model.forward_fast(&xb, &eps)?)?;
        let w = len as f64;
        loss += l.total.to_scalar::<f32>()? as f64 * w;
        recon += l.recon.to_scalar::<f32>()? as f64 * w;
        kl += l.kl.to_scalar::<f32>()? as f64 * w;
    }
    let n = n as f64;
    Ok(LossValues { loss: loss / n, recon: recon / n, kl: kl / n })
}

/// Loads a trained model (and its training configuration) from a checkpoint.
pub fn load_model(path: &Path, dev: &Device) -> Result<(Vae, VarMap, TrainConfig), TrainError> {
    model_from_checkpoint(&checkpoint::load(path, dev)?, dev)
}

/// [`load_model`] from a checkpoint already read.
pub fn model_from_checkpoint(ckpt: &Checkpoint, dev: &Device) -> Result<(Vae, VarMap, TrainConfig), TrainError> {
    check_kind(ckpt)?;
    let cfg: TrainConfig = ckpt.meta_json("train_config")?;
    check_vae_shapes(cfg.model, ckpt, dev)?;
    let varmap = VarMap::new();
    let model = build_model(cfg.model, &varmap, dev)?;
    ckpt.load_into(&varmap)?;
    Ok((model, varmap, cfg))
}

/// Reads only the training configuration saved in a checkpoint.
pub fn saved_config(path: &Path) -> Result<TrainConfig, TrainError> {
    let ckpt = checkpoint::load(path, &Device::Cpu)?;
    check_kind(&ckpt)?;
    Ok(ckpt.meta_json("train_config")?)
}

/// Builds the VAE of `cfg` from the checkpoint's own tensors, so that a configuration that does
/// not fit the file's weights is refused before its variables are allocated.
fn check_vae_shapes(cfg: VaeConfig, ckpt: &Checkpoint, dev: &Device) -> Result<(), CheckpointError> {
    Vae::new(cfg, VarBuilder::from_tensors(ckpt.tensors.clone(), DType::F32, dev)).map(|_| ()).map_err(|e| {
        CheckpointError::Architecture {
            path: ckpt.path.clone(),
            msg: format!("its configuration does not fit its weights: {e}"),
        }
    })
}

fn check_kind(ckpt: &Checkpoint) -> Result<(), CheckpointError> {
    let kind = ckpt.meta("model")?;
    if ckpt.meta("format")? != FORMAT || kind != MODEL_KIND {
        return Err(CheckpointError::Architecture {
            path: ckpt.path.clone(),
            msg: format!("it holds a '{kind}' model, this program expects '{MODEL_KIND}'"),
        });
    }
    Ok(())
}

/// The variables of `varmap` with their names, in name order.
pub fn named_vars(varmap: &VarMap) -> candle_core::Result<Vec<(String, candle_core::Var)>> {
    let vars = varmap.data().lock().map_err(|_| candle_core::Error::Msg("VarMap lock poisoned".into()))?;
    let mut out: Vec<_> = vars.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// What differs between a saved configuration and a requested one, `epochs` aside.
pub fn config_differences(saved: &TrainConfig, asked: &TrainConfig) -> Vec<String> {
    let mut out = Vec::new();
    let mut cmp = |name: &str, a: String, b: String| {
        if a != b {
            out.push(format!("the checkpoint has {name} {a}, this run asks for {b}"));
        }
    };
    cmp("latent_dim", saved.model.latent_dim.to_string(), asked.model.latent_dim.to_string());
    cmp("hidden", saved.model.hidden.to_string(), asked.model.hidden.to_string());
    cmp("input_dim", saved.model.input_dim.to_string(), asked.model.input_dim.to_string());
    cmp("batch_size", saved.batch_size.to_string(), asked.batch_size.to_string());
    cmp("lr", saved.lr.to_string(), asked.lr.to_string());
    cmp("seed", saved.seed.to_string(), asked.seed.to_string());
    cmp("beta", saved.beta.to_string(), asked.beta.to_string());
    cmp("train_size", format!("{:?}", saved.train_size), format!("{:?}", asked.train_size));
    cmp("test_size", format!("{:?}", saved.test_size), format!("{:?}", asked.test_size));
    cmp("data_dir", format!("{:?}", saved.data_dir), format!("{:?}", asked.data_dir));
    cmp("data", saved.data.name().to_string(), asked.data.name().to_string());
    out
}

fn to_json<T: Serialize>(value: &T, path: &Path) -> Result<String, CheckpointError> {
    serde_json::to_string(value).map_err(|e| CheckpointError::Format { path: path.into(), msg: e.to_string() })
}

/// How the book's chapters write a [`Run`] with early stopping: Adam with mini-batches, at most `max_epochs` epochs, stopping
/// once the validation loss has not improved for `patience` epochs and keeping the best epoch's
/// weights (the rule of Pyro's CVAE example).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub max_epochs: usize,
    pub patience: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub seed: u64,
}

/// What one training run went through, losses per image per epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    pub train: Vec<f64>,
    pub valid: Vec<f64>,
    /// The epoch whose weights were kept.
    pub best_epoch: usize,
}

/// A tensor's sum as one `f64` (for totals over a split, where `f32` sums would drift).
pub fn total(t: &Tensor) -> candle_core::Result<f64> {
    t.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()
}
