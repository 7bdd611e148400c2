//! One training loop for every [`Model`]: seeded shuffles and noise, a stop before a non-finite
//! loss reaches the weights, Adam, a held-out score after every epoch, early stopping with the
//! best epoch's weights kept, and checkpoints from which a run resumes to the same numbers.
//!
//! Epoch `e` shuffles with `SeededRng::derived(seed, "shuffle", e)` and draws its noise from
//! `derived(seed, "noise", e)`, the streams of the MLP [`crate::train::Trainer`], so a run stopped
//! after epoch 5 and resumed computes epoch 6 exactly as an uninterrupted run does.

use super::model::{LossTerms, Model, Player, Score, Step};
use super::{TrainError, named_vars};
use crate::checkpoint::{self, Checkpoint, CheckpointError};
use crate::init;
use crate::optim::Adam;
use crate::prob::SeededRng;
use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

/// The checkpoint format of a [`Run`] (the MLP trainer's is `vae-book-checkpoint/1`).
pub const RUN_FORMAT: &str = "vae-book-run/1";

/// How long and how fast a model trains, whatever the model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// At most this many passes over the training rows.
    pub epochs: usize,
    /// Rows per gradient step (not used by models whose data comes in prepared batches).
    pub batch_size: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// Seeds the initial weights, the shuffles and the noise.
    pub seed: u64,
    /// Stop once this many epochs in a row have not beaten the best held-out loss, and keep the
    /// best epoch's weights (the rule of Pyro's CVAE example); `None` trains every epoch.
    pub patience: Option<usize>,
}

impl From<super::Schedule> for RunConfig {
    fn from(s: super::Schedule) -> Self {
        Self { epochs: s.max_epochs, batch_size: s.batch_size, lr: s.lr, seed: s.seed, patience: Some(s.patience) }
    }
}

/// One epoch's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    /// The objective averaged over the epoch's training rows (weights changing as it goes).
    pub train_loss: f64,
    /// The named loss terms, averaged the same way.
    pub train_terms: Vec<(String, f64)>,
    /// The held-out score after the epoch.
    pub eval: Score,
    /// Wall-clock seconds of the training steps, and of the whole epoch with its evaluation.
    pub train_seconds: f64,
    pub seconds: f64,
}

/// What the progress callback sees after each gradient step.
pub struct StepReport<'a> {
    pub epoch: usize,
    /// The step within the epoch, from 1, and the epoch's number of steps.
    pub batch: usize,
    pub batches: usize,
    /// The step's objective and named terms.
    pub loss: f64,
    pub terms: &'a [(&'static str, f64)],
}

/// The best held-out epoch so far, with its weights when early stopping needs them back.
#[derive(Debug, Clone, Default)]
pub struct Best {
    pub epoch: usize,
    pub loss: f64,
    weights: Vec<(String, Tensor)>,
}

/// A model, its configurations, its optimizer and its history.
pub struct Run<M: Model> {
    pub cfg: M::Config,
    pub run: RunConfig,
    pub model: M,
    pub varmap: VarMap,
    pub history: Vec<EpochRecord>,
    pub best: Best,
    opt: Adam,
}

impl<M: Model> Run<M> {
    /// A fresh run: the model built and its weights seeded from `run.seed` (PyTorch's default rule).
    pub fn new(cfg: M::Config, run: RunConfig, dev: &Device) -> Result<Self, TrainError> {
        let varmap = VarMap::new();
        let model = M::new(&cfg, VarBuilder::from_varmap(&varmap, DType::F32, dev))?;
        init::pytorch_default_init(&varmap, run.seed)?;
        let opt = Adam::new(named_vars(&varmap)?, run.lr)?;
        let best = Best { epoch: 0, loss: f64::INFINITY, weights: Vec::new() };
        Ok(Self { cfg, run, model, varmap, history: Vec::new(), best, opt })
    }

    /// Whether training is over: every epoch run, or early stopping's patience used up.
    pub fn finished(&self) -> bool {
        let epoch = self.history.len();
        let stopped = self.run.patience.is_some_and(|p| epoch > 0 && epoch >= self.best.epoch + p);
        epoch >= self.run.epochs || stopped
    }

    /// Gradient steps in one epoch on `data`.
    pub fn steps_per_epoch(&self, data: &M::Data) -> usize {
        if M::PREBATCHED { M::rows(data) } else { M::rows(data).div_ceil(self.run.batch_size.max(1)) }
    }

    /// Runs the next epoch and its held-out evaluation; `progress` is called after every step.
    pub fn epoch(&mut self, data: &M::Data, mut progress: impl FnMut(&StepReport)) -> Result<&EpochRecord, TrainError> {
        crate::cpu::memory::keep_freed_memory();
        let epoch = self.history.len() + 1;
        let start = Instant::now();
        let n = M::rows(data);
        if n == 0 {
            return Err(candle_core::Error::Msg(format!("{}: there is no training data", M::NAME)).into());
        }
        let batch_size = if M::PREBATCHED { 1 } else { self.run.batch_size.max(1) };
        let perm = SeededRng::derived(self.run.seed, "shuffle", epoch as u64).permutation(n);
        let mut noise = SeededRng::derived(self.run.seed, "noise", epoch as u64);
        let batches = n.div_ceil(batch_size);
        let mut sums = Sums::default();
        for (batch, rows) in perm.chunks(batch_size).enumerate() {
            let at = Step { epoch, step: self.opt.t, rows };
            let terms = self.model.loss(&self.cfg, data, at, &mut noise)?;
            let (loss, named) = self.step(terms, (epoch, batch + 1))?;
            sums.add(loss, &named, rows.len() as f64);
            progress(&StepReport { epoch, batch: batch + 1, batches, loss, terms: &named });
        }
        let train_seconds = start.elapsed().as_secs_f64();
        let eval = self.model.evaluate(&self.cfg, data, self.run.seed)?;
        let (train_loss, train_terms) = sums.means(n as f64);
        // A step can leave the weights broken after the last finite loss: keep such an epoch out
        // of the history and the checkpoint.
        let numbers = [train_loss, eval.loss].into_iter().chain(eval.terms.iter().chain(&train_terms).map(|t| t.1));
        if let Some(value) = numbers.into_iter().find(|v| !v.is_finite()) {
            return Err(TrainError::NonFinite { epoch, batch: batches, value, last_good: self.history.len() });
        }
        self.remember_if_best(epoch, eval.loss)?;
        let seconds = start.elapsed().as_secs_f64();
        self.history.push(EpochRecord { epoch, train_loss, train_terms, eval, train_seconds, seconds });
        Ok(&self.history[self.history.len() - 1])
    }

    /// Checks the loss, takes the gradient and an Adam step; returns the loss and its terms.
    fn step(&mut self, terms: LossTerms, (epoch, batch): (usize, usize)) -> Result<StepValues, TrainError> {
        let loss = terms.objective.to_scalar::<f32>()? as f64;
        if !loss.is_finite() {
            return Err(TrainError::NonFinite { epoch, batch, value: loss, last_good: self.history.len() });
        }
        let grads = if terms.players.is_empty() {
            terms.objective.backward()?
        } else {
            player_gradients(&terms.players, &named_vars(&self.varmap)?)?
        };
        self.opt.step(&grads)?;
        let named = terms
            .terms
            .iter()
            .map(|(name, t)| Ok((*name, t.to_scalar::<f32>()? as f64)))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok((loss, named))
    }

    fn remember_if_best(&mut self, epoch: usize, loss: f64) -> candle_core::Result<()> {
        if loss < self.best.loss {
            self.best.epoch = epoch;
            self.best.loss = loss;
            if self.run.patience.is_some() {
                let vars = named_vars(&self.varmap)?;
                self.best.weights = vars
                    .into_iter()
                    .map(|(n, v)| Ok((n, v.as_tensor().copy()?)))
                    .collect::<candle_core::Result<_>>()?;
            }
        }
        Ok(())
    }

    /// Runs epochs until [`Run::finished`], calling `on_epoch` after each, then (with early
    /// stopping) puts the best epoch's weights back. Save checkpoints for resuming in `on_epoch`
    /// or between [`Run::epoch`] calls: after `fit` the current weights are the best epoch's.
    pub fn fit(&mut self, data: &M::Data, on_epoch: impl FnMut(&EpochRecord)) -> Result<(), TrainError> {
        self.fit_observed(data, |_| {}, on_epoch)
    }

    /// [`Run::fit`] that also calls `on_step` after every gradient step.
    pub fn fit_observed(
        &mut self,
        data: &M::Data,
        mut on_step: impl FnMut(&StepReport),
        mut on_epoch: impl FnMut(&EpochRecord),
    ) -> Result<(), TrainError> {
        while !self.finished() {
            on_epoch(self.epoch(data, &mut on_step)?);
        }
        self.restore_best()
    }

    /// With early stopping, sets the weights of the best epoch (a no-op without it).
    pub fn restore_best(&self) -> Result<(), TrainError> {
        let vars = named_vars(&self.varmap)?;
        for ((_, var), (_, w)) in vars.iter().zip(&self.best.weights) {
            var.set(w)?;
        }
        Ok(())
    }

    /// The training and held-out losses per epoch and the kept epoch, as the chapters report them.
    pub fn fit_summary(&self) -> super::Fit {
        super::Fit {
            train: self.history.iter().map(|h| h.train_loss).collect(),
            valid: self.history.iter().map(|h| h.eval.loss).collect(),
            best_epoch: if self.run.patience.is_some() { self.best.epoch } else { self.history.len() },
        }
    }
}

type StepValues = (f64, Vec<(&'static str, f64)>);

/// Each player's variables with the gradient of that player's own loss (and no other's).
fn player_gradients(players: &[Player], vars: &[(String, candle_core::Var)]) -> candle_core::Result<GradStore> {
    for (name, _) in vars {
        let owners = players.iter().filter(|p| name.starts_with(p.prefix)).count();
        if owners != 1 {
            return Err(candle_core::Error::Msg(format!("variable {name} belongs to {owners} players, not one")));
        }
    }
    let mut out = GradStore::default();
    for player in players {
        let mut grads = player.loss.backward()?;
        for (_, var) in vars.iter().filter(|(name, _)| name.starts_with(player.prefix)) {
            if let Some(g) = grads.remove(var.as_tensor()) {
                out.insert(var.as_tensor(), g);
            }
        }
    }
    Ok(out)
}

/// Row-weighted sums of the objective and its terms over an epoch.
#[derive(Default)]
struct Sums {
    loss: f64,
    terms: Vec<(&'static str, f64)>,
}

impl Sums {
    fn add(&mut self, loss: f64, terms: &[(&'static str, f64)], weight: f64) {
        self.loss += loss * weight;
        if self.terms.is_empty() {
            self.terms = terms.iter().map(|(n, _)| (*n, 0.0)).collect();
        }
        for ((_, sum), (_, v)) in self.terms.iter_mut().zip(terms) {
            *sum += v * weight;
        }
    }

    fn means(self, n: f64) -> (f64, Vec<(String, f64)>) {
        (self.loss / n, self.terms.into_iter().map(|(name, s)| (name.to_string(), s / n)).collect())
    }
}

// Checkpoints.
impl<M: Model> Run<M> {
    /// Saves weights, optimizer state, both configurations, history and the best epoch (with its
    /// weights under `best.NAME` when early stopping is on) atomically; `extra` metadata (the data
    /// a command-line run used, say) is stored beside them.
    pub fn save(&self, path: &Path, extra: &[(&str, String)]) -> Result<(), CheckpointError> {
        let mut tensors: Vec<(String, Tensor)> =
            named_vars(&self.varmap)?.into_iter().map(|(n, v)| (n, v.as_tensor().clone())).collect();
        tensors.extend(self.opt.state()?);
        tensors.extend(self.best.weights.iter().map(|(n, w)| (format!("best.{n}"), w.clone())));
        let mut metadata = HashMap::from([
            ("format".to_string(), RUN_FORMAT.to_string()),
            ("model".to_string(), M::NAME.to_string()),
            ("model_config".to_string(), to_json(&self.cfg, path)?),
            ("run_config".to_string(), to_json(&self.run, path)?),
            ("adam_t".to_string(), self.opt.t.to_string()),
            ("history".to_string(), to_json(&self.history, path)?),
            // None before the first epoch (JSON has no infinity for the loss to beat).
            ("best".to_string(), to_json(&(self.best.epoch > 0).then_some((self.best.epoch, self.best.loss)), path)?),
        ]);
        metadata.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        checkpoint::save_atomic(path, &tensors, metadata)
    }

    /// Continues the run saved at `path` with `cfg` and `run`, which must equal the saved ones
    /// but for `run.epochs` (a longer run may continue a shorter one).
    pub fn resume(path: &Path, cfg: M::Config, run: RunConfig, dev: &Device) -> Result<Self, TrainError> {
        Self::resume_from(&checkpoint::load(path, dev)?, cfg, run, dev)
    }

    /// [`Run::resume`] from a checkpoint already read (its tensors may be on another device).
    pub fn resume_from(ckpt: &Checkpoint, cfg: M::Config, run: RunConfig, dev: &Device) -> Result<Self, TrainError> {
        let path = &ckpt.path;
        check_model::<M>(ckpt)?;
        let saved_cfg: M::Config = ckpt.meta_json("model_config")?;
        let saved_run: RunConfig = ckpt.meta_json("run_config")?;
        let mut differences = json_differences(&to_value(&saved_cfg), &to_value(&cfg), "");
        let asked = RunConfig { epochs: saved_run.epochs, ..run };
        differences.extend(json_differences(&to_value(&saved_run), &to_value(&asked), ""));
        if !differences.is_empty() {
            return Err(TrainError::ResumeMismatch { path: path.clone(), msg: differences.join("; ") });
        }
        check_shapes::<M>(&cfg, ckpt, dev)?;
        let mut out = Self::new(cfg, run, dev)?;
        out.load_weights(ckpt)?;
        out.opt.load_state(&ckpt.tensors, ckpt.meta_json("adam_t")?)?;
        out.history = ckpt.meta_json("history")?;
        let (epoch, loss) = saved_best(ckpt)?;
        let weights = match run.patience {
            Some(_) if epoch > 0 => saved_best_weights(ckpt, &out.varmap)?,
            _ => Vec::new(),
        };
        out.best = Best { epoch, loss, weights };
        Ok(out)
    }

    /// A trained model from a checkpoint, with its configurations and history; with early
    /// stopping, the best epoch's weights.
    pub fn load(path: &Path, dev: &Device) -> Result<Self, TrainError> {
        Self::from_checkpoint(&checkpoint::load(path, dev)?, dev)
    }

    /// [`Run::load`] from a checkpoint already read.
    pub fn from_checkpoint(ckpt: &Checkpoint, dev: &Device) -> Result<Self, TrainError> {
        check_model::<M>(ckpt)?;
        let cfg: M::Config = ckpt.meta_json("model_config")?;
        check_shapes::<M>(&cfg, ckpt, dev)?;
        let mut out = Self::new(cfg, ckpt.meta_json("run_config")?, dev)?;
        out.load_weights(ckpt)?;
        out.history = ckpt.meta_json("history")?;
        let (epoch, loss) = saved_best(ckpt)?;
        if out.run.patience.is_some() && epoch > 0 {
            out.best = Best { epoch, loss, weights: saved_best_weights(ckpt, &out.varmap)? };
            out.restore_best()?;
        }
        Ok(out)
    }

    fn load_weights(&self, ckpt: &Checkpoint) -> Result<(), CheckpointError> {
        ckpt.load_into(&self.varmap)
    }
}

/// Checks that a checkpoint is a [`Run`] of model `M`.
fn check_model<M: Model>(ckpt: &Checkpoint) -> Result<(), CheckpointError> {
    let saved = saved_model_name(ckpt)?;
    if saved != M::NAME {
        return Err(CheckpointError::Architecture {
            path: ckpt.path.clone(),
            msg: format!("it holds a '{saved}' model, not a '{}' model", M::NAME),
        });
    }
    Ok(())
}

/// Builds the model of `cfg` from the checkpoint's own tensors: a configuration that does not fit
/// the weights in the file is refused (naming the tensor) before any memory is allocated for it.
pub fn check_shapes<M: Model>(cfg: &M::Config, ckpt: &Checkpoint, dev: &Device) -> Result<(), CheckpointError> {
    let vb = VarBuilder::from_tensors(ckpt.tensors.clone(), DType::F32, dev);
    M::new(cfg, vb).map(|_| ()).map_err(|e| CheckpointError::Architecture {
        path: ckpt.path.clone(),
        msg: format!("its configuration does not fit its weights: {e}"),
    })
}

/// The model name of a checkpoint written by [`Run::save`] (or by the MLP trainer).
pub fn saved_model_name(ckpt: &Checkpoint) -> Result<String, CheckpointError> {
    let format = ckpt.meta("format")?;
    if format != RUN_FORMAT && format != super::FORMAT {
        return Err(CheckpointError::Format {
            path: ckpt.path.clone(),
            msg: format!("unknown checkpoint format '{format}'"),
        });
    }
    Ok(ckpt.meta("model")?.to_string())
}

/// The best epoch and its held-out loss saved in a checkpoint (epoch 0 before any).
fn saved_best(ckpt: &Checkpoint) -> Result<(usize, f64), CheckpointError> {
    let best: Option<(usize, f64)> = ckpt.meta_json("best")?;
    Ok(best.unwrap_or((0, f64::INFINITY)))
}

fn saved_best_weights(ckpt: &Checkpoint, varmap: &VarMap) -> Result<Vec<(String, Tensor)>, CheckpointError> {
    named_vars(varmap)?
        .into_iter()
        .map(|(name, var)| {
            let key = format!("best.{name}");
            let t = ckpt.tensors.get(&key).ok_or_else(|| CheckpointError::Format {
                path: ckpt.path.clone(),
                msg: format!("early stopping's best weights {key} are missing"),
            })?;
            if t.dims() != var.dims() {
                return Err(CheckpointError::Architecture {
                    path: ckpt.path.clone(),
                    msg: format!("{key} has shape {:?}, the model expects {:?}", t.dims(), var.dims()),
                });
            }
            Ok((name, t.to_device(var.device())?.to_dtype(var.dtype())?))
        })
        .collect()
}

fn to_json<T: Serialize>(value: &T, path: &Path) -> Result<String, CheckpointError> {
    serde_json::to_string(value).map_err(|e| CheckpointError::Format { path: path.into(), msg: e.to_string() })
}

fn to_value<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// "the checkpoint has FIELD A, this run asks for B" for every leaf where `saved` and `asked` differ.
pub fn json_differences(saved: &serde_json::Value, asked: &serde_json::Value, prefix: &str) -> Vec<String> {
    use serde_json::Value::Object;
    match (saved, asked) {
        (Object(a), Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            let null = serde_json::Value::Null;
            let name = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
            keys.into_iter()
                .flat_map(|k| json_differences(a.get(k).unwrap_or(&null), b.get(k).unwrap_or(&null), &name(k)))
                .collect()
        }
        _ if saved == asked => Vec::new(),
        _ => vec![format!("the checkpoint has {prefix} {saved}, this run asks for {asked}")],
    }
}
