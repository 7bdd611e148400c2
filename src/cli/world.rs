//! The world model on the command line: `vae train --model world` trains V (the frames' VAE) and
//! M (the recurrent model of the next code) on episodes of a random player of the catch game;
//! `vae eval` scores them on held-out episodes, `vae sample` draws a game beside M's dream of it.

use super::{CliModel, DataSpec, ModelInfo, TrainArgs, positive};
use crate::classic::latent;
use crate::data::catch::{self, Rollouts, SIDE};
use crate::models::world::{BOOK_RUN, WorldConfig, WorldData, WorldModel};
use crate::plot::ImageGrid;
use crate::prob::SeededRng;
use crate::train::{Model, Run, RunConfig};
use anyhow::Result;
use candle_core::{Device, Tensor};
use std::path::{Path, PathBuf};

/// Episodes recorded when `--train-size` and `--test-size` are left out.
pub const TRAIN_EPISODES: usize = 400;
pub const HELD_OUT_EPISODES: usize = 50;
/// The random player's seeds for the training and the held-out episodes.
pub const TRAIN_SEED: u64 = 1;
pub const HELD_OUT_SEED: u64 = 2;
/// Steps of a game shown by the figures, and every how many steps a frame is drawn.
const SHOWN_STEPS: usize = 2 * catch::FALL_STEPS;
const SHOWN_EVERY: usize = 4;
/// M's temperature in the figures (1: its own mixture, unchanged).
const FIGURE_TEMPERATURE: f64 = 1.0;

impl CliModel for WorldModel {
    fn info() -> &'static ModelInfo {
        &super::WORLD
    }

    fn defaults(_data: &str) -> (WorldConfig, RunConfig) {
        (WorldConfig::default(), BOOK_RUN)
    }

    fn apply(args: &TrainArgs, cfg: WorldConfig) -> Result<WorldConfig> {
        let (latent_dim, hidden) = super::sizes(args, (cfg.vision.latent_dim, cfg.vision.hidden))?;
        Ok(WorldConfig { vision: crate::models::vae::VaeConfig { latent_dim, hidden, ..cfg.vision }, ..cfg })
    }

    fn complete_spec(spec: DataSpec) -> DataSpec {
        DataSpec {
            train_size: Some(spec.train_size.unwrap_or(TRAIN_EPISODES)),
            test_size: Some(spec.test_size.unwrap_or(HELD_OUT_EPISODES)),
            ..spec
        }
    }

    fn load_data(spec: &DataSpec, _run: &RunConfig, dev: &Device) -> Result<WorldData> {
        let (train, held_out) =
            (spec.train_size.unwrap_or(TRAIN_EPISODES), spec.test_size.unwrap_or(HELD_OUT_EPISODES));
        positive("--train-size", train)?;
        positive("--test-size", held_out)?;
        Ok(WorldData {
            train: Rollouts::random(train, TRAIN_SEED, dev)?,
            validation: Rollouts::random(held_out, HELD_OUT_SEED, dev)?,
        })
    }

    fn fit_to_data(cfg: WorldConfig, _data: &WorldData) -> Result<WorldConfig> {
        Ok(cfg)
    }

    fn eval_set() -> &'static str {
        "validation"
    }

    fn describe(data: &WorldData) -> String {
        format!(
            "{} training and {} held-out episodes of a random player ({} steps, {SIDE}x{SIDE} frames, seeds {TRAIN_SEED} and {HELD_OUT_SEED})",
            data.train.episodes(),
            data.validation.episodes(),
            catch::EPISODE_STEPS
        )
    }

    fn figures(run: &Run<Self>, data: &WorldData, dir: &Path) -> Result<Vec<PathBuf>> {
        let dream = dir.join("dream.png");
        Self::sample(run, data, run.run.seed, &dream)?;
        Ok(vec![dream])
    }

    /// The held-out episodes' losses (V's per frame, M's per step) and V's `-log p(x)` of the
    /// first held-out episode's frames by importance sampling.
    fn eval(run: &Run<Self>, data: &WorldData, k: usize) -> Result<Vec<(String, f64)>> {
        let score = run.model.evaluate(&run.cfg, data, run.run.seed)?;
        let mut out = vec![("held-out loss (V per frame + M per step), nats".to_string(), score.loss)];
        out.extend(score.terms.into_iter().map(|(n, v)| (format!("  {n}"), v)));
        let frames = data.validation.frames.get(0)?;
        let nll = super::images::importance_nll(&run.model.vision, &frames, k, run.run.seed)?;
        out.push((format!("V: -log p(x) per frame of a held-out game, importance sampled, k = {k}"), nll));
        Ok(out)
    }

    /// The first held-out episode's frames, V's reconstructions of them, and M's dream of the same
    /// actions from the first frame's code.
    fn sample(run: &Run<Self>, data: &WorldData, seed: u64, out: &Path) -> Result<String> {
        dream_figure(game_and_dream(&run.model, &data.validation, seed)?, out)?;
        Ok(format!("figure: {}", out.display()))
    }

    /// Frames of the first held-out episode (top) above V's reconstructions from its code means.
    fn reconstruct(run: &Run<Self>, data: &WorldData, n: usize, out: &Path) -> Result<()> {
        let steps = n.min(catch::EPISODE_STEPS + 1);
        let x = data.validation.frames.get(0)?.narrow(0, 0, steps)?;
        let recon = latent::decode_probabilities(&run.model.vision, &latent::encode_means(&run.model.vision, &x)?)?;
        let mut images = Tensor::cat(&[&x, &recon], 0)?.flatten_all()?.to_vec1::<f32>()?;
        crate::plot::outline(&mut images, SIDE);
        let title = "Frames of a held-out game (top) and V's reconstructions";
        ImageGrid { images: &images, side: SIDE, rows: 2, cols: steps, title, row_labels: None, scale: 3 }.save(out)?;
        Ok(())
    }
}

/// The figure of [`game_and_dream`]'s three rows of frames, each frame outlined.
pub fn dream_figure(mut images: Vec<f32>, out: &Path) -> Result<(), crate::plot::PlotError> {
    crate::plot::outline(&mut images, SIDE);
    let rows = ["game", "V", "M's dream"];
    let title = format!("A held-out game, every {SHOWN_EVERY}th step: frames, V's reconstructions, M's dream");
    let cols = SHOWN_STEPS / SHOWN_EVERY;
    ImageGrid { images: &images, side: SIDE, rows: 3, cols, title: &title, row_labels: Some(&rows), scale: 3 }.save(out)
}

/// Pixels of three rows of frames: the game, V's reconstructions, and M's dream (see
/// [`WorldModel::sample`]'s figure).
pub fn game_and_dream(world: &WorldModel, episodes: &Rollouts, seed: u64) -> candle_core::Result<Vec<f32>> {
    let frames = episodes.frames.get(0)?.narrow(0, 1, SHOWN_STEPS)?;
    let first = episodes.frames.get(0)?.narrow(0, 0, 1)?;
    let actions = episodes.actions.get(0)?.narrow(0, 0, SHOWN_STEPS)?.flatten_all()?.to_vec1::<f32>()?;
    let recon = latent::decode_probabilities(&world.vision, &latent::encode_means(&world.vision, &frames)?)?;
    let (z0, _) = world.vision.encode(&first)?;
    let dream = world.dream(&z0, &actions, FIGURE_TEMPERATURE, &mut SeededRng::derived(seed, "world-dream", 0))?;
    let picked: Vec<u32> = (0..SHOWN_STEPS).step_by(SHOWN_EVERY).map(|i| (i + SHOWN_EVERY - 1) as u32).collect();
    let idx = Tensor::from_slice(&picked, picked.len(), frames.device())?;
    let rows =
        [frames, recon, dream].iter().map(|t| t.index_select(&idx, 0)).collect::<candle_core::Result<Vec<_>>>()?;
    Tensor::cat(&rows, 0)?.flatten_all()?.to_vec1::<f32>()
}
