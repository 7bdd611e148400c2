//! C, the world model's controller (Ha and Schmidhuber 2018): one linear layer and a tanh from
//! what the controller sees to the paddle's action, and the games it plays: the real one, or the
//! dream in which M stands in for the game.
//!
//! What it sees ([`Inputs`]): the game's true state (a reference no pixel-based player has), V's
//! code of the current frame, or that code and M's recurrent state. Many parameter vectors play at
//! once, each on the same games, so that an evolution strategy ([`crate::train::es`]) can compare
//! them.

use crate::data::catch::{self, BALL, Catch, PADDLE, SIDE, STATE_FEATURES};
use crate::models::world::WorldModel;
use crate::prob::SeededRng;
use candle_core::{Device, Result, Tensor};
use candle_nn::rnn::GRUState;
use serde::{Deserialize, Serialize};

/// What the controller sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Inputs {
    /// Ball position, drift and paddle position, read from the game.
    State,
    /// V's code (the mean of q(z|x)) of the current frame.
    Vision,
    /// V's code and M's state before this step.
    VisionMemory,
}

impl Inputs {
    /// Numbers the controller reads (its parameters are these weights and one bias).
    pub fn width(self, world: &WorldModel) -> usize {
        match self {
            Inputs::State => STATE_FEATURES,
            Inputs::Vision => world.vision.cfg.latent_dim,
            Inputs::VisionMemory => world.vision.cfg.latent_dim + world.memory.hidden(),
        }
    }
}

// ANCHOR: act
/// The action of a linear controller `tanh(w . x + b)`, `params = [w, b]`.
pub fn act(params: &[f32], x: &[f32]) -> f32 {
    let (w, b) = params.split_at(x.len());
    (w.iter().zip(x).map(|(w, x)| w * x).sum::<f32>() + b[0]).tanh()
}
// ANCHOR_END: act

/// V's code of every frame the game can show. A frame is fixed by the ball's and the paddle's
/// rounded positions, so V's codes of all of them, computed once, replace running V every step
/// (a test checks the table against V on the game's own frames).
pub struct CodeTable {
    codes: Vec<f32>,
    latent: usize,
}

/// Rounded positions: ball left edge, ball top edge, paddle left edge.
const BALL_XS: usize = SIDE - BALL + 1;
const BALL_YS: usize = SIDE - PADDLE.1 - BALL + 1;
const PADDLE_XS: usize = SIDE - PADDLE.0 + 1;
/// Frames encoded per call while the table is built.
const TABLE_CHUNK: usize = 2048;

impl CodeTable {
    pub fn new(world: &WorldModel) -> Result<Self> {
        let dev = world.vision.device().clone();
        let latent = world.vision.cfg.latent_dim;
        let keys: Vec<(usize, usize, usize)> =
            (0..BALL_XS).flat_map(|x| (0..BALL_YS).flat_map(move |y| (0..PADDLE_XS).map(move |p| (x, y, p)))).collect();
        let mut codes = Vec::with_capacity(keys.len() * latent);
        for chunk in keys.chunks(TABLE_CHUNK) {
            let px: Vec<f32> = chunk.iter().flat_map(|&k| catch::render(k)).collect();
            let x = Tensor::from_vec(px, (chunk.len(), catch::PIXELS), &dev)?;
            codes.extend(world.vision.encode(&x)?.0.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(Self { codes, latent })
    }

    /// The code of the frame the game shows now.
    pub fn code(&self, game: &Catch) -> &[f32] {
        let (x, y, p) = game.rounded();
        let i = (x * BALL_YS + y) * PADDLE_XS + p;
        &self.codes[i * self.latent..(i + 1) * self.latent]
    }
}

/// The games of one evaluation: one per seed, played by every parameter vector.
pub struct Arena<'a> {
    pub world: &'a WorldModel,
    pub table: &'a CodeTable,
    pub inputs: Inputs,
}

impl Arena<'_> {
    /// Each parameter vector's mean return (balls caught) over the games `seeds`.
    pub fn play(&self, params: &[Vec<f32>], seeds: &[u64]) -> Result<Vec<f64>> {
        Ok(self.play_each(params, seeds)?.iter().map(|r| r.iter().sum::<f64>() / r.len() as f64).collect())
    }

    /// Each parameter vector's return in each of the games `seeds`.
    pub fn play_each(&self, params: &[Vec<f32>], seeds: &[u64]) -> Result<Vec<Vec<f64>>> {
        self.check(params, seeds, self.inputs)?;
        let mut games: Vec<Catch> = params.iter().flat_map(|_| seeds.iter().map(|&s| Catch::new(s))).collect();
        let n = games.len();
        let dev = self.world.vision.device().clone();
        let mut state = self.world.memory.zero_state(n)?;
        while !games[0].done() {
            let codes: Vec<f32> = games.iter().flat_map(|g| self.table.code(g).to_vec()).collect();
            let seen = self.seen(&games, &codes, &state)?;
            let width = seen.len() / n;
            let actions: Vec<f32> =
                (0..n).map(|i| act(&params[i / seeds.len()], &seen[i * width..(i + 1) * width])).collect();
            if self.inputs == Inputs::VisionMemory {
                state = self.world.memory.step(&rows(codes, n, &dev)?, &rows(actions.clone(), n, &dev)?, &state)?;
            }
            games.iter_mut().zip(&actions).for_each(|(g, &a)| {
                g.step(a as f64);
            });
        }
        Ok(games.chunks(seeds.len()).map(|c| c.iter().map(|g| g.caught() as f64).collect()).collect())
    }

    /// Refuses parameter vectors of the wrong length for `inputs`, and an empty set of games.
    fn check(&self, params: &[Vec<f32>], seeds: &[u64], inputs: Inputs) -> Result<()> {
        let want = inputs.width(self.world) + 1;
        if let Some(p) = params.iter().find(|p| p.len() != want) {
            candle_core::bail!("a controller on {inputs:?} has {want} parameters, got {}", p.len());
        }
        if seeds.is_empty() || params.is_empty() {
            candle_core::bail!("no games to play: {} controllers, {} games", params.len(), seeds.len());
        }
        Ok(())
    }

    /// What every game's controller sees now, row after row.
    fn seen(&self, games: &[Catch], codes: &[f32], state: &GRUState) -> Result<Vec<f32>> {
        Ok(match self.inputs {
            Inputs::State => games.iter().flat_map(|g| g.state().features()).collect(),
            Inputs::Vision => codes.to_vec(),
            Inputs::VisionMemory => {
                let h = state.h.to_vec2::<f32>()?;
                let latent = self.table.latent;
                h.iter()
                    .enumerate()
                    .flat_map(|(i, h)| codes[i * latent..(i + 1) * latent].iter().chain(h).copied())
                    .collect()
            }
        })
    }

    /// Each parameter vector's mean return in M's dream: the games `seeds` give only the first
    /// frame; from then on M's samples (at `temperature`) are the frames' codes, and the
    /// probability M gives to "caught" is the reward. The dream lasts as long as a game.
    pub fn dream(&self, params: &[Vec<f32>], seeds: &[u64], temperature: f64, noise: u64) -> Result<Vec<f64>> {
        Ok(self.dream_each(params, seeds, temperature, noise)?.into_iter().map(|d| d.caught).collect())
    }

    /// [`Arena::dream`], with how many balls M lets land in each dream (the probability it gives
    /// to "caught" or "missed", summed over the steps): the game has exactly [`catch::DROPS`].
    pub fn dream_each(&self, params: &[Vec<f32>], seeds: &[u64], temperature: f64, noise: u64) -> Result<Vec<Dreamt>> {
        self.check(params, seeds, Inputs::VisionMemory)?;
        let dev = self.world.vision.device().clone();
        let latent = self.table.latent;
        let firsts: Vec<f32> = seeds.iter().flat_map(|&s| self.table.code(&Catch::new(s)).to_vec()).collect();
        let n = params.len() * seeds.len();
        let mut z: Vec<f32> = (0..params.len()).flat_map(|_| firsts.iter().copied()).collect();
        let mut state = self.world.memory.zero_state(n)?;
        let (mut returns, mut landings) = (vec![0f64; n], vec![0f64; n]);
        let mut rng = SeededRng::derived(noise, "dream", 0);
        for _ in 0..catch::EPISODE_STEPS {
            let h = state.h.to_vec2::<f32>()?;
            let actions: Vec<f32> = (0..n)
                .map(|i| {
                    let seen: Vec<f32> = z[i * latent..(i + 1) * latent].iter().chain(&h[i]).copied().collect();
                    act(&params[i / seeds.len()], &seen)
                })
                .collect();
            state = self.world.memory.step(&rows(z, n, &dev)?, &rows(actions, n, &dev)?, &state)?;
            let pred = self.world.memory.predict(&state.h)?;
            returns.iter_mut().zip(pred.caught()?.to_vec1::<f32>()?).for_each(|(r, c)| *r += c as f64);
            landings.iter_mut().zip(pred.landed()?.to_vec1::<f32>()?).for_each(|(l, p)| *l += p as f64);
            z = pred.sample(temperature, &mut rng)?.flatten_all()?.to_vec1::<f32>()?;
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        Ok(returns
            .chunks(seeds.len())
            .zip(landings.chunks(seeds.len()))
            .map(|(r, l)| Dreamt { caught: mean(r), landed: mean(l) })
            .collect())
    }
}

/// A parameter vector's dreams: balls caught and balls landed, each the mean over the dreams.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dreamt {
    pub caught: f64,
    pub landed: f64,
}

/// `n` rows of a flat vector as a tensor.
fn rows(v: Vec<f32>, n: usize, dev: &Device) -> Result<Tensor> {
    let width = v.len() / n;
    Tensor::from_vec(v, (n, width), dev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::world::WorldConfig;
    use crate::train::Model;
    use candle_core::DType;
    use candle_nn::{VarBuilder, VarMap};

    fn world() -> WorldModel {
        let cfg = WorldConfig::tiny();
        let varmap = VarMap::new();
        let m = WorldModel::new(&cfg, VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap();
        crate::init::pytorch_default_init(&varmap, 1).unwrap();
        m
    }

    #[test]
    fn the_table_holds_v_s_code_of_the_frame_shown() -> Result<()> {
        let world = world();
        let table = CodeTable::new(&world)?;
        let mut game = Catch::new(4);
        for step in 0..60 {
            let x = Tensor::from_vec(game.frame(), (1, catch::PIXELS), &Device::Cpu)?;
            let direct = world.vision.encode(&x)?.0.flatten_all()?.to_vec1::<f32>()?;
            for (a, b) in table.code(&game).iter().zip(&direct) {
                assert!((a - b).abs() < 1e-5, "step {step}: {a} vs {b}");
            }
            game.step(if step % 20 < 10 { 1.0 } else { -0.7 });
        }
        Ok(())
    }

    #[test]
    fn a_controller_that_follows_the_ball_beats_one_that_stays() -> Result<()> {
        let world = world();
        let table = CodeTable::new(&world)?;
        let arena = Arena { world: &world, table: &table, inputs: Inputs::State };
        // features: ball x, ball y, drift, paddle x: move by the gap between ball and paddle.
        let follow = vec![8.0, 0.0, 0.0, -8.0, 0.0];
        let stay = vec![0.0; 5];
        let seeds: Vec<u64> = (0..20).collect();
        let r = arena.play(&[follow, stay], &seeds)?;
        assert!(r[0] > r[1] + 1.0, "follow {} stay {}", r[0], r[1]);
        let dream = Arena { inputs: Inputs::VisionMemory, ..arena };
        let params = vec![vec![0.0; Inputs::VisionMemory.width(&world) + 1]; 2];
        let d = dream.dream(&params, &seeds[..3], 1.0, 5)?;
        assert!(d.iter().all(|r| r.is_finite() && *r >= 0.0 && *r <= catch::EPISODE_STEPS as f64));
        Ok(())
    }
}
