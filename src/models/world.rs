//! The world model of Ha and Schmidhuber (2018) in miniature, for the game of
//! [`crate::data::catch`]: V, a VAE that turns a frame into a small code `z`, and M, a recurrent
//! network that predicts the next code from the code and the action.
//!
//! M is a GRU whose output is a mixture density over the next code, as in the paper: for every
//! code dimension a mixture of `mixtures` Gaussians (a new ball can appear anywhere across the
//! top, so the next code is not one bump). It also predicts the step's outcome (ball falling,
//! caught or missed), which stands in for the reward when a controller trains inside M's dream.
//!
//! V and M train together here, in one loop, but M's loss does not reach V: M reads V's code
//! means with the gradient stopped, so V learns as if alone and M learns to predict whatever V's
//! codes currently are. (The paper trains V first and M afterwards, on codes sampled from V.)

use super::vae::{self, Vae, VaeConfig};
use crate::data::catch::{self, OUTCOMES, Rollouts};
use crate::prob::SeededRng;
use crate::train::{LossTerms, Model, Score, Step};
use candle_core::{D, DType, Module, Result, Tensor};
use candle_nn::rnn::{GRU, GRUConfig, GRUState, RNN};
use candle_nn::{Linear, VarBuilder, linear};
use serde::{Deserialize, Serialize};

/// The sizes of V and M.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WorldConfig {
    /// V: frame pixels, hidden units, code size.
    pub vision: VaeConfig,
    /// M: GRU units.
    pub memory: usize,
    /// M: Gaussians in each code dimension's mixture.
    pub mixtures: usize,
}

impl WorldConfig {
    /// A tiny V and M for tests.
    pub fn tiny() -> Self {
        Self { vision: VaeConfig { input_dim: catch::PIXELS, hidden: 16, latent_dim: 3 }, memory: 8, mixtures: 2 }
    }
}

impl Default for WorldConfig {
    fn default() -> Self {
        Self { vision: VaeConfig { input_dim: catch::PIXELS, hidden: 256, latent_dim: 8 }, memory: 64, mixtures: 5 }
    }
}

/// The book's run: 400 random episodes, 8 per step, Adam at 3e-3, at most 60 epochs (the held-out
/// loss is still falling slowly there: about 8 minutes on two cores), keeping the best epoch.
pub const BOOK_RUN: crate::train::RunConfig =
    crate::train::RunConfig { epochs: 60, batch_size: 8, lr: 3e-3, seed: 42, patience: Some(10) };

/// M: a GRU over `[z, action]` with a mixture-density head for the next `z` and an outcome head.
pub struct Memory {
    gru: GRU,
    mixture: Linear,
    outcome: Linear,
    latent: usize,
    mixtures: usize,
    hidden: usize,
}

/// M's prediction from one state: per code dimension, `mixtures` log-weights, means and
/// log-standard-deviations, each `(batch, latent, mixtures)`; and the outcome's logits.
pub struct Prediction {
    pub log_weights: Tensor,
    pub means: Tensor,
    pub log_sigmas: Tensor,
    pub outcome_logits: Tensor,
}

impl Memory {
    pub fn new(cfg: &WorldConfig, vb: VarBuilder) -> Result<Self> {
        let (latent, k) = (cfg.vision.latent_dim, cfg.mixtures);
        Ok(Self {
            gru: candle_nn::rnn::gru(latent + 1, cfg.memory, GRUConfig::default(), vb.pp("gru"))?,
            mixture: linear(cfg.memory, 3 * latent * k, vb.pp("mixture"))?,
            outcome: linear(cfg.memory, OUTCOMES, vb.pp("outcome"))?,
            latent,
            mixtures: k,
            hidden: cfg.memory,
        })
    }

    /// GRU units.
    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// The state before the first step: zeros, `(batch, memory)`.
    pub fn zero_state(&self, batch: usize) -> Result<GRUState> {
        self.gru.zero_state(batch)
    }

    /// One step: the state after seeing code `z` `(batch, latent)` and action `(batch, 1)`.
    pub fn step(&self, z: &Tensor, action: &Tensor, state: &GRUState) -> Result<GRUState> {
        self.gru.step(&Tensor::cat(&[z, action], 1)?, state)
    }

    /// What the states `h` `(rows, memory)` predict about the next code and this step's outcome.
    pub fn predict(&self, h: &Tensor) -> Result<Prediction> {
        let rows = h.dim(0)?;
        let p = self.mixture.forward(h)?.reshape((rows, self.latent, 3, self.mixtures))?;
        let part = |i: usize| p.narrow(2, i, 1)?.squeeze(2);
        Ok(Prediction {
            log_weights: candle_nn::ops::log_softmax(&part(0)?, D::Minus1)?,
            means: part(1)?,
            log_sigmas: part(2)?,
            outcome_logits: self.outcome.forward(h)?,
        })
    }

    /// The states after every step of a sequence: codes `(batch, steps, latent)` and actions
    /// `(batch, steps, 1)` to `(batch * steps, memory)`, batch-major.
    pub fn states(&self, codes: &Tensor, actions: &Tensor) -> Result<Tensor> {
        let (b, t, _) = codes.dims3()?;
        let states = self.gru.seq(&Tensor::cat(&[codes, actions], 2)?)?;
        let hs: Vec<Tensor> = states.iter().map(|s| s.h.clone()).collect();
        Tensor::stack(&hs, 1)?.reshape((b * t, ()))
    }
}

// ANCHOR: mdn
impl Prediction {
    /// `-log p(next)` under the mixtures, summed over code dimensions: `(rows,)` for `next`
    /// `(rows, latent)`.
    pub fn code_nll(&self, next: &Tensor) -> Result<Tensor> {
        let y = next.unsqueeze(2)?.broadcast_as(self.means.shape())?;
        let z = ((y - &self.means)? * self.log_sigmas.neg()?.exp()?)?;
        let log_normal = ((z.sqr()? * -0.5)? - &self.log_sigmas)? - 0.5 * (2.0 * std::f64::consts::PI).ln();
        let per_dim = (&self.log_weights + log_normal?)?.log_sum_exp(D::Minus1)?;
        per_dim.sum(D::Minus1)?.neg()
    }
    // ANCHOR_END: mdn

    /// The probability that the step's ball was caught, `(rows,)`: the dream's reward.
    pub fn caught(&self) -> Result<Tensor> {
        candle_nn::ops::softmax(&self.outcome_logits, D::Minus1)?
            .narrow(1, catch::Outcome::Caught as usize, 1)?
            .squeeze(1)
    }

    /// The probability that the step's ball landed, caught or not, `(rows,)`.
    pub fn landed(&self) -> Result<Tensor> {
        let falling = catch::Outcome::Falling as usize;
        let falling = candle_nn::ops::softmax(&self.outcome_logits, D::Minus1)?.narrow(1, falling, 1)?.squeeze(1)?;
        falling.affine(-1.0, 1.0)
    }

    /// A draw of the next code: a mixture component per dimension (weights sharpened or flattened
    /// by `temperature`, as in the paper), then that Gaussian with its variance times `temperature`.
    pub fn sample(&self, temperature: f64, rng: &mut SeededRng) -> Result<Tensor> {
        let (rows, latent, k) = self.means.dims3()?;
        let weights = candle_nn::ops::softmax(&(&self.log_weights / temperature)?, D::Minus1)?;
        let (w, mu, ls) = (host3(&weights)?, host3(&self.means)?, host3(&self.log_sigmas)?);
        let mut z = Vec::with_capacity(rows * latent);
        for i in 0..rows * latent {
            let u = rng.uniform_f64() as f32;
            let (mut c, mut acc) = (k - 1, 0f32);
            for j in 0..k {
                acc += w[i * k + j];
                if u < acc {
                    c = j;
                    break;
                }
            }
            let sd = ls[i * k + c].exp() * (temperature as f32).sqrt();
            z.push(mu[i * k + c] + sd * rng.normal_f64() as f32);
        }
        Tensor::from_vec(z, (rows, latent), self.means.device())
    }
}

fn host3(t: &Tensor) -> Result<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

/// V and M.
pub struct WorldModel {
    pub vision: Vae,
    pub memory: Memory,
}

/// Random episodes to learn from, and held-out ones to stop on.
pub struct WorldData {
    pub train: Rollouts,
    pub validation: Rollouts,
}

/// V's and M's losses on whole episodes, per frame and per step: V's reconstruction and KL, M's
/// next-code and outcome negative log-likelihoods.
struct Parts {
    recon: Tensor,
    kl: Tensor,
    code: Tensor,
    outcome: Tensor,
}

// ANCHOR: loss
impl WorldModel {
    fn parts(&self, episodes: &Rollouts, rows: &Tensor, noise: &mut SeededRng) -> Result<Parts> {
        let frames = episodes.frames.index_select(rows, 0)?;
        let (b, t1, pixels) = frames.dims3()?;
        let x = frames.reshape((b * t1, pixels))?;
        let eps = noise.normal(&[b * t1, self.vision.cfg.latent_dim], x.device())?;
        let out = self.vision.forward(&x, &eps)?;
        let loss = vae::negative_elbo(&x, &out)?;
        let codes = out.mu.detach().reshape((b, t1, ()))?;
        let (t, latent) = (t1 - 1, self.vision.cfg.latent_dim);
        let actions = episodes.actions.index_select(rows, 0)?;
        let h = self.memory.states(&codes.narrow(1, 0, t)?, &actions)?;
        let pred = self.memory.predict(&h)?;
        let next = codes.narrow(1, 1, t)?.reshape((b * t, latent))?;
        let outcomes = episodes.outcomes.index_select(rows, 0)?.reshape(b * t)?;
        let outcome = candle_nn::loss::cross_entropy(&pred.outcome_logits, &outcomes)?;
        Ok(Parts { recon: loss.recon, kl: loss.kl, code: pred.code_nll(&next)?.mean_all()?, outcome })
    }
}
// ANCHOR_END: loss

impl WorldModel {
    /// M's dream: from the code `first` `(1, latent)`, the codes M samples (at `temperature`)
    /// step after step while `actions` are taken, decoded by V into pixel probabilities,
    /// `(actions.len(), pixels)`.
    pub fn dream(&self, first: &Tensor, actions: &[f32], temperature: f64, rng: &mut SeededRng) -> Result<Tensor> {
        let mut state = self.memory.zero_state(1)?;
        let mut z = first.clone();
        let mut codes = Vec::with_capacity(actions.len());
        for &a in actions {
            state = self.memory.step(&z, &Tensor::new(&[[a]], z.device())?, &state)?;
            z = self.memory.predict(&state.h)?.sample(temperature, rng)?;
            codes.push(z.clone());
        }
        crate::classic::latent::decode_probabilities(&self.vision, &Tensor::cat(&codes, 0)?)
    }
}

impl Model for WorldModel {
    type Config = WorldConfig;
    type Data = WorldData;
    const NAME: &'static str = "world";

    fn new(cfg: &WorldConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self { vision: Vae::new(cfg.vision, vb.pp("vision"))?, memory: Memory::new(cfg, vb.pp("memory"))? })
    }

    fn rows(data: &WorldData) -> usize {
        data.train.episodes()
    }

    fn loss(&self, _cfg: &WorldConfig, data: &WorldData, at: Step, noise: &mut SeededRng) -> Result<LossTerms> {
        let rows = Tensor::from_slice(at.rows, at.rows.len(), data.train.frames.device())?;
        let p = self.parts(&data.train, &rows, noise)?;
        let objective = (((&p.recon + &p.kl)? + &p.code)? + &p.outcome)?;
        Ok(LossTerms::new(
            objective,
            vec![("recon", p.recon), ("kl", p.kl), ("next code", p.code), ("outcome", p.outcome)],
        ))
    }

    /// The held-out episodes' V loss per frame plus M's per step, with the parts.
    fn evaluate(&self, _cfg: &WorldConfig, data: &WorldData, seed: u64) -> Result<Score> {
        let n = data.validation.episodes();
        let rows = Tensor::arange(0u32, n as u32, data.validation.frames.device())?;
        let p = self.parts(&data.validation, &rows, &mut SeededRng::derived(seed, "world-eval", 0))?;
        let v = |t: &Tensor| -> Result<f64> { t.to_dtype(DType::F64)?.to_scalar::<f64>() };
        let terms = vec![
            ("recon".to_string(), v(&p.recon)?),
            ("kl".to_string(), v(&p.kl)?),
            ("next code".to_string(), v(&p.code)?),
            ("outcome".to_string(), v(&p.outcome)?),
        ];
        Ok(Score { loss: terms.iter().map(|(_, x)| x).sum(), terms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::VarMap;

    fn tiny() -> (WorldModel, WorldConfig) {
        let cfg = WorldConfig::tiny();
        let varmap = VarMap::new();
        let m = WorldModel::new(&cfg, VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap();
        crate::init::pytorch_default_init(&varmap, 1).unwrap();
        (m, cfg)
    }

    #[test]
    fn the_mixture_nll_of_one_component_is_the_gaussian_one() -> Result<()> {
        let dev = Device::Cpu;
        let mu = Tensor::new(&[[[0.5f32]], [[-1.0]]], &dev)?;
        let ls = Tensor::new(&[[[0.2f32]], [[-0.3]]], &dev)?;
        let pred = Prediction {
            log_weights: Tensor::zeros((2, 1, 1), DType::F32, &dev)?,
            means: mu.clone(),
            log_sigmas: ls.clone(),
            outcome_logits: Tensor::zeros((2, 3), DType::F32, &dev)?,
        };
        let y = Tensor::new(&[[1.0f32], [0.0]], &dev)?;
        let nll = pred.code_nll(&y)?.to_vec1::<f32>()?;
        let logvar = (ls.squeeze(2)? * 2.0)?;
        let want = crate::prob::gaussian_log_density(&y, &mu.squeeze(2)?, &logvar)?.neg()?.to_vec1::<f32>()?;
        for (a, b) in nll.iter().zip(&want) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        Ok(())
    }

    #[test]
    fn the_loss_has_its_four_parts_and_m_does_not_train_v() -> Result<()> {
        let (m, cfg) = tiny();
        let data = WorldData {
            train: Rollouts::random(3, 1, &Device::Cpu)?,
            validation: Rollouts::random(2, 2, &Device::Cpu)?,
        };
        let at = Step { epoch: 1, step: 0, rows: &[0, 2] };
        let terms = m.loss(&cfg, &data, at, &mut SeededRng::new(4))?;
        assert_eq!(terms.terms.len(), 4);
        let (_, code) = &terms.terms[2];
        let grads = code.backward()?;
        let (_, w) = &m.vision.layers()[0];
        assert!(grads.get(w.weight()).is_none(), "the next-code loss reached V's weights");
        let score = m.evaluate(&cfg, &data, 3)?;
        assert!(score.loss.is_finite());
        Ok(())
    }

    #[test]
    fn a_sharp_mixture_samples_its_heaviest_mean() -> Result<()> {
        let dev = Device::Cpu;
        let pred = Prediction {
            log_weights: Tensor::new(&[[[0f32, -30.0]]], &dev)?,
            means: Tensor::new(&[[[2f32, -2.0]]], &dev)?,
            log_sigmas: Tensor::new(&[[[-9f32, -9.0]]], &dev)?,
            outcome_logits: Tensor::new(&[[0f32, 0.0, 0.0]], &dev)?,
        };
        let z = pred.sample(1.0, &mut SeededRng::new(1))?.flatten_all()?.to_vec1::<f32>()?;
        assert!((z[0] - 2.0).abs() < 1e-2);
        let caught = pred.caught()?.to_vec1::<f32>()?;
        assert!((caught[0] - 1.0 / 3.0).abs() < 1e-6);
        Ok(())
    }
}
