//! Catch, a small game written for the world-model chapter: balls fall one after another from the
//! top of a [`SIDE`] x [`SIDE`] picture, drifting sideways and bouncing off the side walls, and a
//! paddle at the bottom must be under each ball when it lands. The player sees only the picture.
//!
//! One picture shows where the ball and the paddle are but not which way the ball drifts: that
//! needs two pictures, or a memory. This is the point of the game: a controller that sees one
//! frame's code must guess, one that also sees a recurrent model's state need not.
//!
//! Everything is seeded: [`Catch::new`] takes a seed, and [`Rollouts::random`] records episodes of
//! a random player (the data the world model learns from).

use crate::prob::SeededRng;
use candle_core::{Device, Result, Tensor};

/// Pixels per side of a frame.
pub const SIDE: usize = 32;
/// The ball is a square this many pixels wide.
pub const BALL: usize = 3;
/// The paddle's width and height in pixels; it sits on the bottom rows.
pub const PADDLE: (usize, usize) = (8, 2);
/// The paddle moves at most this many pixels per step (action 1 or -1).
pub const PADDLE_SPEED: f64 = 1.0;
/// The ball falls one pixel per step; its sideways speed is drawn from this range, either way.
pub const DRIFT: (f64, f64) = (0.8, 1.6);
/// Balls per episode: an episode's return is the number caught, from 0 to `DROPS`.
pub const DROPS: usize = 5;
/// Steps from a ball's appearance to its landing (it falls from row 0 until it reaches the paddle).
pub const FALL_STEPS: usize = SIDE - PADDLE.1 - BALL + 1;
/// Steps per episode.
pub const EPISODE_STEPS: usize = DROPS * FALL_STEPS;
/// Pixels per frame.
pub const PIXELS: usize = SIDE * SIDE;

/// What happened in a step, as the world model's reward head predicts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The ball is still falling.
    Falling = 0,
    /// The ball landed on the paddle (reward 1).
    Caught = 1,
    /// The ball landed beside it (reward 0).
    Missed = 2,
}

/// Outcomes the reward head tells apart.
pub const OUTCOMES: usize = 3;

/// The game's true state: what a controller "on the true state" sees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct State {
    /// The ball's left edge and top edge, in pixels.
    pub ball: (f64, f64),
    /// The ball's sideways speed, pixels per step.
    pub drift: f64,
    /// The paddle's left edge, in pixels.
    pub paddle: f64,
}

impl State {
    /// The state as numbers around 0 for a linear controller: ball x, ball y, drift, paddle x.
    pub fn features(&self) -> [f32; 4] {
        let half = SIDE as f64 / 2.0;
        let (x, y) = self.ball;
        [(x - half) / half, (y - half) / half, self.drift / DRIFT.1, (self.paddle - half) / half].map(|v| v as f32)
    }
}

/// Features of [`State::features`].
pub const STATE_FEATURES: usize = 4;

/// One game.
pub struct Catch {
    state: State,
    step: usize,
    caught: usize,
    rng: SeededRng,
}

impl Catch {
    /// A new episode: the paddle in the middle, the first ball at the top. All later balls come
    /// from the same seed.
    pub fn new(seed: u64) -> Self {
        let mut rng = SeededRng::derived(seed, "catch", 0);
        let paddle = (SIDE - PADDLE.0) as f64 / 2.0;
        let (ball, drift) = new_ball(&mut rng);
        Self { state: State { ball, drift, paddle }, step: 0, caught: 0, rng }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Balls caught so far.
    pub fn caught(&self) -> usize {
        self.caught
    }

    /// Whether all [`DROPS`] balls have landed.
    pub fn done(&self) -> bool {
        self.step >= EPISODE_STEPS
    }

    // ANCHOR: step
    /// Moves the paddle by `action` (clamped to [-1, 1]) times [`PADDLE_SPEED`], then the ball;
    /// a ball that reaches the paddle's rows lands, and the next one appears at the top.
    pub fn step(&mut self, action: f64) -> Outcome {
        let s = &mut self.state;
        let room = (SIDE - PADDLE.0) as f64;
        s.paddle = (s.paddle + action.clamp(-1.0, 1.0) * PADDLE_SPEED).clamp(0.0, room);
        let (mut x, y) = s.ball;
        let wall = (SIDE - BALL) as f64;
        x += s.drift;
        if x < 0.0 || x > wall {
            x = if x < 0.0 { -x } else { 2.0 * wall - x };
            s.drift = -s.drift;
        }
        s.ball = (x, y + 1.0);
        self.step += 1;
        if !self.step.is_multiple_of(FALL_STEPS) {
            return Outcome::Falling;
        }
        let centre = x + BALL as f64 / 2.0;
        let caught = centre >= s.paddle && centre <= s.paddle + PADDLE.0 as f64;
        let (ball, drift) = new_ball(&mut self.rng);
        (s.ball, s.drift) = (ball, drift);
        if caught {
            self.caught += 1;
            Outcome::Caught
        } else {
            Outcome::Missed
        }
    }
    // ANCHOR_END: step

    /// The picture: 1 where the ball or the paddle is, else 0, row by row.
    pub fn frame(&self) -> Vec<f32> {
        render(self.rounded())
    }

    /// The ball's left and top edges and the paddle's left edge, rounded to whole pixels: all
    /// that the picture shows.
    pub fn rounded(&self) -> (usize, usize, usize) {
        let (x, y) = self.state.ball;
        (x.round() as usize, y.round() as usize, self.state.paddle.round() as usize)
    }
}

/// The picture of a ball at `(x, y)` and a paddle at `paddle` (left and top edges in pixels).
pub fn render((x, y, paddle): (usize, usize, usize)) -> Vec<f32> {
    let mut px = vec![0f32; PIXELS];
    fill(&mut px, (x, y), (BALL, BALL));
    fill(&mut px, (paddle, SIDE - PADDLE.1), PADDLE);
    px
}

/// Two hand-written players that read the true state, as references for the learned ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Move toward the ball's current column (needs no memory: one frame shows it).
    Follow,
    /// Move toward the column where the ball will land, bounces included (needs the drift).
    Aim,
}

impl Rule {
    /// The action in state `s`: full speed toward the target column.
    pub fn act(self, s: &State) -> f64 {
        let (x, y) = s.ball;
        let target = match self {
            Rule::Follow => x,
            Rule::Aim => landing(x + (FALL_STEPS as f64 - y) * s.drift),
        };
        (target + BALL as f64 / 2.0 - (s.paddle + PADDLE.0 as f64 / 2.0)).signum()
    }

    /// Balls caught in each of the games `seeds`.
    pub fn play(self, seeds: &[u64]) -> Vec<f64> {
        seeds
            .iter()
            .map(|&seed| {
                let mut game = Catch::new(seed);
                while !game.done() {
                    game.step(self.act(&game.state()));
                }
                game.caught() as f64
            })
            .collect()
    }
}

/// Where a ball's left edge ends up after drifting to `x` unbounded: folded back by the walls.
fn landing(x: f64) -> f64 {
    let wall = (SIDE - BALL) as f64;
    let folded = x.rem_euclid(2.0 * wall);
    if folded > wall { 2.0 * wall - folded } else { folded }
}

/// A new ball at the top, anywhere across, drifting either way.
fn new_ball(rng: &mut SeededRng) -> ((f64, f64), f64) {
    let x = rng.uniform_f64() * (SIDE - BALL) as f64;
    let speed = DRIFT.0 + rng.uniform_f64() * (DRIFT.1 - DRIFT.0);
    let drift = if rng.uniform_f64() < 0.5 { -speed } else { speed };
    ((x, 0.0), drift)
}

/// Sets the rectangle with top-left `(left, top)` and size `(w, h)` to 1, cut at the edges.
fn fill(px: &mut [f32], (left, top): (usize, usize), (w, h): (usize, usize)) {
    for row in top..(top + h).min(SIDE) {
        for col in left..(left + w).min(SIDE) {
            px[row * SIDE + col] = 1.0;
        }
    }
}

/// The random player that records the world model's data: it keeps an action for a while
/// (each step it draws a new one in [-1, 1] with this probability), so that the paddle wanders
/// across the picture instead of trembling in the middle.
pub const RANDOM_SWITCH: f64 = 0.15;

/// The seed of game `i` of a set of games seeded `seed` (the random player's episodes, a
/// controller's test games): sets with different seeds share no game.
pub fn game_seed(seed: u64, i: usize) -> u64 {
    seed.wrapping_mul(1_000_003).wrapping_add(i as u64)
}

/// The seeds of games `0..n` of the set `seed`.
pub fn game_seeds(seed: u64, n: usize) -> Vec<u64> {
    (0..n).map(|i| game_seed(seed, i)).collect()
}

/// Episodes of frames, actions and outcomes, each `EPISODE_STEPS` steps long.
pub struct Rollouts {
    /// `(episodes, EPISODE_STEPS + 1, PIXELS)`: the first frame and the frame after every step.
    pub frames: Tensor,
    /// `(episodes, EPISODE_STEPS, 1)`: the action of every step.
    pub actions: Tensor,
    /// `(episodes, EPISODE_STEPS)`: every step's [`Outcome`] as a class index.
    pub outcomes: Tensor,
    /// Balls caught in each episode.
    pub returns: Vec<usize>,
}

impl Rollouts {
    /// `episodes` episodes of the random player; episode `i` plays game seed `derived(seed, i)`.
    pub fn random(episodes: usize, seed: u64, dev: &Device) -> Result<Self> {
        let (mut frames, mut actions, mut outcomes) = (Vec::new(), Vec::new(), Vec::new());
        let mut returns = Vec::with_capacity(episodes);
        for i in 0..episodes {
            let mut game = Catch::new(game_seed(seed, i));
            let mut rng = SeededRng::derived(seed, "random-player", i as u64);
            let mut action = 0.0;
            frames.extend(game.frame());
            while !game.done() {
                if rng.uniform_f64() < RANDOM_SWITCH {
                    action = 2.0 * rng.uniform_f64() - 1.0;
                }
                outcomes.push(game.step(action) as u32);
                actions.push(action as f32);
                frames.extend(game.frame());
            }
            returns.push(game.caught());
        }
        Ok(Self {
            frames: Tensor::from_vec(frames, (episodes, EPISODE_STEPS + 1, PIXELS), dev)?,
            actions: Tensor::from_vec(actions, (episodes, EPISODE_STEPS, 1), dev)?,
            outcomes: Tensor::from_vec(outcomes, (episodes, EPISODE_STEPS), dev)?,
            returns,
        })
    }

    pub fn episodes(&self) -> usize {
        self.returns.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_episode_has_five_landings_and_a_ball_in_every_frame() {
        let mut game = Catch::new(3);
        let mut landings = 0;
        while !game.done() {
            let px = game.frame();
            let ball: f32 = px[..(SIDE - PADDLE.1) * SIDE].iter().sum();
            assert_eq!(ball as usize, BALL * BALL, "ball pixels at step {}", game.step);
            let paddle: f32 = px[(SIDE - PADDLE.1) * SIDE..].iter().sum();
            assert_eq!(paddle as usize, PADDLE.0 * PADDLE.1);
            if game.step(0.0) != Outcome::Falling {
                landings += 1;
            }
        }
        assert_eq!(landings, DROPS);
        assert!(game.caught() <= DROPS);
    }

    #[test]
    fn the_ball_bounces_and_stays_inside() {
        let mut game = Catch::new(9);
        let mut turns = 0;
        let mut drift = game.state().drift;
        for _ in 0..EPISODE_STEPS {
            game.step(1.0);
            let s = game.state();
            assert!(s.ball.0 >= 0.0 && s.ball.0 <= (SIDE - BALL) as f64);
            assert!(s.paddle >= 0.0 && s.paddle <= (SIDE - PADDLE.0) as f64);
            if s.ball.1 > 0.0 && s.drift == -drift {
                turns += 1;
            }
            drift = s.drift;
        }
        assert!(turns > 0, "no bounce in a whole episode");
    }

    #[test]
    fn a_paddle_that_follows_the_ball_catches_more_than_one_that_stays() {
        let play = |follow: bool| -> usize {
            (0..50)
                .map(|seed| {
                    let mut game = Catch::new(seed);
                    while !game.done() {
                        let s = game.state();
                        let gap = s.ball.0 + BALL as f64 / 2.0 - (s.paddle + PADDLE.0 as f64 / 2.0);
                        game.step(if follow { gap } else { 0.0 });
                    }
                    game.caught()
                })
                .sum()
        };
        assert!(play(true) > play(false) + 50, "follow {} stay {}", play(true), play(false));
    }

    #[test]
    fn aiming_at_the_landing_column_catches_every_ball() {
        let seeds = game_seeds(5, 40);
        assert_eq!(Rule::Aim.play(&seeds).iter().sum::<f64>(), (40 * DROPS) as f64);
        let follow: f64 = Rule::Follow.play(&seeds).iter().sum();
        assert!(follow < (40 * DROPS) as f64 * 0.9, "following caught {follow}");
    }

    #[test]
    fn rollouts_are_seeded_and_shaped() -> Result<()> {
        let a = Rollouts::random(2, 7, &Device::Cpu)?;
        let b = Rollouts::random(2, 7, &Device::Cpu)?;
        assert_eq!(a.frames.dims(), &[2, EPISODE_STEPS + 1, PIXELS]);
        assert_eq!(a.actions.dims(), &[2, EPISODE_STEPS, 1]);
        assert_eq!(a.frames.flatten_all()?.to_vec1::<f32>()?, b.frames.flatten_all()?.to_vec1::<f32>()?);
        let landed = a.outcomes.flatten_all()?.to_vec1::<u32>()?.iter().filter(|&&o| o != 0).count();
        assert_eq!(landed, 2 * DROPS);
        Ok(())
    }
}
