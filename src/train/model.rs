//! What a model must say about itself for [`crate::train::Run`] to train it: its configuration,
//! how to build its variables, its loss terms on a batch, and its score on held-out data.
//!
//! Every model of the book (but the classic MLP VAE, whose CPU step is hand-written in
//! [`crate::cpu::manual`] and driven by [`crate::train::Trainer`]) trains through this one trait.

use crate::prob::SeededRng;
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// Where one gradient step sits in a run.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    /// The epoch, from 1.
    pub epoch: usize,
    /// Gradient steps taken before this one in the whole run (for schedules such as KL annealing).
    pub step: u64,
    /// The training rows of this batch (images, sentences, or one prepared batch's index).
    pub rows: &'a [u32],
}

/// A model's loss on one batch: the `objective` that the optimizer minimizes, and the named terms
/// it is made of (each a scalar tensor, per image, sequence step or token as the model says).
///
/// A model whose parts pursue different objectives (a GAN's generator and discriminator) names
/// them as `players`: each player's variables (those whose names start with its prefix) then
/// follow the gradient of that player's own loss, and `objective` is only reported.
pub struct LossTerms {
    pub objective: Tensor,
    pub terms: Vec<(&'static str, Tensor)>,
    pub players: Vec<Player>,
}

/// One part of a model with its own loss: the prefix of its variables' names, and the loss.
pub struct Player {
    pub prefix: &'static str,
    pub loss: Tensor,
}

impl LossTerms {
    /// The objective and its named terms.
    pub fn new(objective: Tensor, terms: Vec<(&'static str, Tensor)>) -> Self {
        Self { objective, terms, players: Vec::new() }
    }

    /// A loss with no named parts.
    pub fn plain(objective: Tensor) -> Self {
        Self::new(objective, Vec::new())
    }
}

/// A model's score on held-out data: the loss the trainer compares between epochs (and stops
/// early on) and the named terms behind it, as plain numbers.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Score {
    pub loss: f64,
    pub terms: Vec<(String, f64)>,
}

/// A model that [`crate::train::Run`] can train, checkpoint and resume.
pub trait Model: Sized {
    /// Everything that fixes the model and its objective (sizes, `k`, a KL schedule...): saved in
    /// checkpoints, and compared with the saved one when a run is resumed.
    type Config: Clone + PartialEq + Debug + Serialize + DeserializeOwned;
    /// The data the model trains on and is scored on.
    type Data;
    /// The model's name in checkpoints (and for `vae train --model`).
    const NAME: &'static str;
    /// Whether the data comes cut into batches already (length buckets of sequences): then each
    /// training "row" is one batch and the run's `batch_size` is not used.
    const PREBATCHED: bool = false;

    /// Builds the model's variables through `vb` (the trainer then seeds them).
    fn new(cfg: &Self::Config, vb: VarBuilder) -> Result<Self>;

    /// How many training rows an epoch shuffles.
    fn rows(data: &Self::Data) -> usize;

    /// The loss terms of one batch of training rows; `noise` is the batch's seeded noise stream.
    fn loss(&self, cfg: &Self::Config, data: &Self::Data, at: Step, noise: &mut SeededRng) -> Result<LossTerms>;

    /// The score on held-out data after an epoch; noise, if any, from `seed`.
    fn evaluate(&self, cfg: &Self::Config, data: &Self::Data, seed: u64) -> Result<Score>;
}
