//! Structured output prediction (Sohn, Lee & Yan 2015), set up as in Pyro's CVAE tutorial: show a
//! network one, two or three quadrants of a digit and ask for the rest.
//!
//! The answer is not unique (the bottom-left quarter of a digit fits a 0, a 6 and an 8), so a network
//! that predicts one image per input averages the possibilities into a blur. The conditional VAE
//! predicts a distribution instead: a prior network `p(z | x)` sees the observed quadrants, a
//! generation network `p(y | z)` draws the missing pixels, and a recognition network `q(z | x, y)`,
//! which also sees the answer, is used only to train them.
//!
//! Here `x` is the observed part of the image and `y` the missing part; pixels are grey levels in
//! [0, 1] scored by the Bernoulli cross-entropy, as in Pyro's example.

use crate::prob::{self, SeededRng};
use crate::train::{Fit, LossTerms, Model, Run, Schedule, Score, Step, TrainError};
use candle_core::{D, DType, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

/// `1.0` for the pixels the network is shown, `0.0` for those it must predict, for a `side x side`
/// image: 1 quadrant = bottom left, 2 = left half, 3 = all but the bottom right (Pyro's choice).
pub fn observed_mask(quadrants: usize, side: usize) -> Result<Vec<f32>> {
    if !(1..=3).contains(&quadrants) {
        candle_core::bail!("the number of observed quadrants must be 1, 2 or 3, not {quadrants}");
    }
    let half = side / 2;
    let seen = |r: usize, c: usize| match quadrants {
        1 => r >= half && c < half,
        2 => c < half,
        _ => !(r >= half && c >= half),
    };
    Ok((0..side * side).map(|i| if seen(i / side, i % side) { 1.0 } else { 0.0 }).collect())
}

/// One completion task: images, which pixels are shown, and the network inputs built from them
/// (cheap to clone: tensors are shared).
#[derive(Clone)]
pub struct Task {
    /// The whole images, `(n, side * side)`, grey levels.
    pub images: Tensor,
    /// `(1, side * side)`: 1 where observed.
    pub observed: Tensor,
    /// `(1, side * side)`: 1 where the pixel must be predicted.
    pub missing: Tensor,
    /// The observed pixels with `-1` in the missing ones (Pyro's encoding of "not shown").
    pub input: Tensor,
}

impl Task {
    pub fn new(images: &Tensor, quadrants: usize) -> Result<Self> {
        let pixels = images.dim(1)?;
        let side = (pixels as f64).sqrt() as usize;
        if side * side != pixels {
            candle_core::bail!("images must be square, got {pixels} pixels per row");
        }
        let observed = Tensor::from_vec(observed_mask(quadrants, side)?, (1, pixels), images.device())?;
        let missing = observed.affine(-1.0, 1.0)?;
        // observed pixels as they are, -1 elsewhere
        let input = (images.broadcast_mul(&observed)? - missing.broadcast_as(images.shape())?)?;
        Ok(Self { images: images.clone(), observed, missing, input })
    }

    pub fn size(&self) -> Result<usize> {
        self.images.dim(0)
    }

    /// The same task for the images at `rows` (a `u32` index tensor).
    pub fn rows(&self, rows: &Tensor) -> Result<Self> {
        Ok(Self {
            images: self.images.index_select(rows, 0)?,
            observed: self.observed.clone(),
            missing: self.missing.clone(),
            input: self.input.index_select(rows, 0)?,
        })
    }

    /// The same task for `len` images from `start`.
    pub fn narrow(&self, start: usize, len: usize) -> Result<Self> {
        Ok(Self {
            images: self.images.narrow(0, start, len)?,
            observed: self.observed.clone(),
            missing: self.missing.clone(),
            input: self.input.narrow(0, start, len)?,
        })
    }

    /// The observed pixels completed with `fill` (same shape as the images) in the missing ones.
    pub fn completed_with(&self, fill: &Tensor) -> Result<Tensor> {
        self.images.broadcast_mul(&self.observed)? + fill.broadcast_mul(&self.missing)?
    }

    /// The smallest cross-entropy any predictor can reach on the missing pixels: their entropy as
    /// Bernoulli probabilities, `sum -y log y - (1 - y) log(1 - y)`, per image. Zero for black or
    /// white pixels; grey ones cost something even when predicted exactly.
    pub fn entropy_floor(&self) -> Result<Tensor> {
        let y = self.images.clamp(1e-7f32, 1.0 - 1e-7)?;
        let one_minus = y.affine(-1.0, 1.0)?;
        let h = ((&y * y.log()?)? + (&one_minus * one_minus.log()?)?)?.neg()?;
        h.broadcast_mul(&self.missing)?.sum(D::Minus1)
    }
}

/// The cross-entropy of the missing pixels only, per image: `(n,)`.
pub fn masked_nll(y: &Tensor, logits: &Tensor, missing: &Tensor) -> Result<Tensor> {
    // -log p(y | l) = softplus(l) - y l per pixel, then only the missing pixels are summed
    (prob::softplus(logits)? - (y * logits)?)?.broadcast_mul(missing)?.sum(D::Minus1)
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuadrantConfig {
    pub pixels: usize,
    /// Width of both hidden layers of every network (Pyro: 500).
    pub hidden: usize,
    /// Size of the CVAE's code (Pyro: 200).
    pub latent_dim: usize,
}

impl Default for QuadrantConfig {
    fn default() -> Self {
        Self { pixels: 784, hidden: 500, latent_dim: 200 }
    }
}

/// Two ReLU layers of `hidden` units.
struct TwoLayers {
    fc1: Linear,
    fc2: Linear,
}

impl TwoLayers {
    fn new(input: usize, hidden: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            fc1: candle_nn::linear(input, hidden, vb.pp("fc1"))?,
            fc2: candle_nn::linear(hidden, hidden, vb.pp("fc2"))?,
        })
    }
}

impl Module for TwoLayers {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.fc2.forward(&self.fc1.forward(x)?.relu()?)?.relu()
    }
}

// ANCHOR: baseline
/// The deterministic baseline: observed pixels in, one logit per pixel out.
pub struct Baseline {
    body: TwoLayers,
    out: Linear,
}

impl Baseline {
    pub fn new(cfg: QuadrantConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            body: TwoLayers::new(cfg.pixels, cfg.hidden, vb.pp("body"))?,
            out: candle_nn::linear(cfg.hidden, cfg.pixels, vb.pp("out"))?,
        })
    }
}

impl Module for Baseline {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        self.out.forward(&self.body.forward(input)?)
    }
}
// ANCHOR_END: baseline

/// A network from a whole (completed) image to a diagonal Gaussian over the code.
struct GaussianNet {
    body: TwoLayers,
    mu: Linear,
    logvar: Linear,
}

impl GaussianNet {
    fn new(cfg: QuadrantConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            body: TwoLayers::new(cfg.pixels, cfg.hidden, vb.pp("body"))?,
            mu: candle_nn::linear(cfg.hidden, cfg.latent_dim, vb.pp("mu"))?,
            logvar: candle_nn::linear(cfg.hidden, cfg.latent_dim, vb.pp("logvar"))?,
        })
    }

    fn forward(&self, image: &Tensor) -> Result<(Tensor, Tensor)> {
        let h = self.body.forward(image)?;
        Ok((self.mu.forward(&h)?, self.logvar.forward(&h)?))
    }
}

// ANCHOR: cvae
/// The conditional VAE of the completion task (three networks, as in Sohn et al. and Pyro).
pub struct QuadrantCvae {
    /// `p(z | x)`: sees the observed pixels, with the baseline's guess in the missing ones.
    prior: GaussianNet,
    /// `q(z | x, y)`: sees the whole true image; used for training and for importance sampling.
    recognition: GaussianNet,
    /// `p(y | z)`: logits for every pixel; only the missing ones are scored.
    generation_body: TwoLayers,
    generation_out: Linear,
    pub cfg: QuadrantConfig,
}

impl QuadrantCvae {
    pub fn new(cfg: QuadrantConfig, vb: VarBuilder) -> Result<Self> {
        let g = vb.pp("generation");
        Ok(Self {
            prior: GaussianNet::new(cfg, vb.pp("prior"))?,
            recognition: GaussianNet::new(cfg, vb.pp("recognition"))?,
            generation_body: TwoLayers::new(cfg.latent_dim, cfg.hidden, g.pp("body"))?,
            generation_out: candle_nn::linear(cfg.hidden, cfg.pixels, g.pp("out"))?,
            cfg,
        })
    }

    /// `(mu, logvar)` of `p(z | x)` from the observed pixels completed by the baseline's guess.
    pub fn prior(&self, guess: &Tensor) -> Result<(Tensor, Tensor)> {
        self.prior.forward(guess)
    }

    /// `(mu, logvar)` of `q(z | x, y)` from the whole image.
    pub fn recognition(&self, image: &Tensor) -> Result<(Tensor, Tensor)> {
        self.recognition.forward(image)
    }

    /// Logits of `p(y | z)` for every pixel.
    pub fn generate(&self, z: &Tensor) -> Result<Tensor> {
        self.generation_out.forward(&self.generation_body.forward(z)?)
    }

    /// The negative ELBO of `-log p(y | x)` per image, one reparameterized draw from `q`:
    /// the cross-entropy of the missing pixels plus `KL(q(z | x, y) || p(z | x))`.
    pub fn negative_elbo(&self, task: &Task, guess: &Tensor, eps: &Tensor) -> Result<Tensor> {
        let (mu_q, lv_q) = self.recognition(&task.images)?;
        let (mu_p, lv_p) = self.prior(guess)?;
        let z = prob::reparameterize(&mu_q, &lv_q, eps)?;
        let nll = masked_nll(&task.images, &self.generate(&z)?, &task.missing)?;
        nll + prob::kl_gaussians(&mu_q, &lv_q, &mu_p, &lv_p)?
    }
}
// ANCHOR_END: cvae

/// The baseline's data: the training task and the validation task that early stopping watches;
/// for the command line, the test task.
pub struct BaselineData {
    pub task: Task,
    pub valid: Task,
    pub test: Option<Task>,
}

impl Model for Baseline {
    type Config = QuadrantConfig;
    type Data = BaselineData;
    const NAME: &'static str = "quadrant-baseline";

    fn new(cfg: &QuadrantConfig, vb: VarBuilder) -> Result<Self> {
        Baseline::new(*cfg, vb)
    }

    fn rows(data: &BaselineData) -> usize {
        data.task.images.dims()[0]
    }

    /// The masked cross-entropy of the missing pixels, per image.
    fn loss(&self, _cfg: &QuadrantConfig, data: &BaselineData, at: Step, _noise: &mut SeededRng) -> Result<LossTerms> {
        let task = &data.task;
        let rows = Tensor::from_slice(at.rows, at.rows.len(), task.images.device())?;
        let (input, y) = (task.input.index_select(&rows, 0)?, task.images.index_select(&rows, 0)?);
        Ok(LossTerms::plain(masked_nll(&y, &self.forward(&input)?, &task.missing)?.mean_all()?))
    }

    fn evaluate(&self, _cfg: &QuadrantConfig, data: &BaselineData, _seed: u64) -> Result<Score> {
        let v = &data.valid;
        Ok(Score { loss: mean(&masked_nll(&v.images, &self.forward(&v.input)?, &v.missing)?)?, terms: Vec::new() })
    }
}

/// Trains the baseline on `task` by the masked cross-entropy, stopping early on `valid`.
/// `on_epoch(epoch, training loss, validation loss)`.
pub fn train_baseline(
    cfg: QuadrantConfig,
    task: &Task,
    valid: &Task,
    schedule: Schedule,
    mut on_epoch: impl FnMut(usize, f64, f64),
) -> std::result::Result<(Baseline, VarMap, Fit), TrainError> {
    let data = BaselineData { task: task.clone(), valid: valid.clone(), test: None };
    let mut run = Run::<Baseline>::new(cfg, schedule.into(), task.images.device())?;
    run.fit(&data, |e| on_epoch(e.epoch, e.train_loss, e.eval.loss))?;
    let fit = run.fit_summary();
    Ok((run.model, run.varmap, fit))
}

fn mean(t: &Tensor) -> Result<f64> {
    Ok(t.mean_all()?.to_scalar::<f32>()? as f64)
}

/// The baseline's guess completed into whole images: the prior network's input. Computed once,
/// because the baseline is frozen while the CVAE trains (as in Pyro).
pub fn baseline_guess(baseline: &Baseline, task: &Task) -> Result<Tensor> {
    // detached: otherwise every CVAE step would backpropagate into the whole data set's baseline pass
    Ok(task.completed_with(&candle_nn::ops::sigmoid(&baseline.forward(&task.input)?)?)?.detach())
}

/// The CVAE's data: both tasks with the frozen baseline's guesses (the prior network's input);
/// for the command line, the test task and the baseline itself.
pub struct CvaeData {
    pub task: Task,
    pub valid: Task,
    pub guess: Tensor,
    pub valid_guess: Tensor,
    pub test: Option<Task>,
    pub baseline: Option<Baseline>,
}

impl CvaeData {
    /// The tasks with `baseline`'s guesses.
    pub fn new(baseline: &Baseline, task: &Task, valid: &Task) -> Result<Self> {
        Ok(Self {
            task: task.clone(),
            valid: valid.clone(),
            guess: baseline_guess(baseline, task)?,
            valid_guess: baseline_guess(baseline, valid)?,
            test: None,
            baseline: None,
        })
    }
}

impl Model for QuadrantCvae {
    type Config = QuadrantConfig;
    type Data = CvaeData;
    const NAME: &'static str = "quadrant";

    fn new(cfg: &QuadrantConfig, vb: VarBuilder) -> Result<Self> {
        QuadrantCvae::new(*cfg, vb)
    }

    fn rows(data: &CvaeData) -> usize {
        data.task.images.dims()[0]
    }

    /// The negative ELBO of `-log p(y | x)` per image.
    fn loss(&self, cfg: &QuadrantConfig, data: &CvaeData, at: Step, noise: &mut SeededRng) -> Result<LossTerms> {
        let dev = data.task.images.device();
        let rows = Tensor::from_slice(at.rows, at.rows.len(), dev)?;
        let eps = noise.normal(&[at.rows.len(), cfg.latent_dim], dev)?;
        let guess = data.guess.index_select(&rows, 0)?;
        Ok(LossTerms::plain(self.negative_elbo(&data.task.rows(&rows)?, &guess, &eps)?.mean_all()?))
    }

    /// The validation negative ELBO, one draw per image, the same draw every epoch.
    fn evaluate(&self, cfg: &QuadrantConfig, data: &CvaeData, seed: u64) -> Result<Score> {
        let shape = [data.valid.size()?, cfg.latent_dim];
        let eps = SeededRng::derived(seed, "quadrant-valid", 0).normal(&shape, data.valid.images.device())?;
        let loss = mean(&self.negative_elbo(&data.valid, &data.valid_guess, &eps)?)?;
        Ok(Score { loss, terms: Vec::new() })
    }
}

/// Trains the CVAE on `task`, with the trained baseline's guesses as the prior network's input,
/// stopping early on the negative ELBO of `valid` (one fixed draw per image).
pub fn train_cvae(
    cfg: QuadrantConfig,
    baseline: &Baseline,
    task: &Task,
    valid: &Task,
    schedule: Schedule,
    mut on_epoch: impl FnMut(usize, f64, f64),
) -> std::result::Result<(QuadrantCvae, VarMap, Fit), TrainError> {
    let data = CvaeData::new(baseline, task, valid)?;
    let mut run = Run::<QuadrantCvae>::new(cfg, schedule.into(), task.images.device())?;
    run.fit(&data, |e| on_epoch(e.epoch, e.train_loss, e.eval.loss))?;
    let fit = run.fit_summary();
    Ok((run.model, run.varmap, fit))
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// The baseline's cross-entropy: exactly its `-log p(y | x)`.
    pub baseline: f64,
    /// The CVAE's negative ELBO, averaged over `particles` draws: the number Pyro's table reports.
    pub cvae_elbo: f64,
    /// The CVAE's `-log p(y | x)` by importance sampling with `q(z | x, y)` as the proposal.
    pub cvae_importance: f64,
    /// The same quantity by plain Monte Carlo from the prior network, `-log mean_s p(y | z_s)`.
    pub cvae_prior_mc: f64,
    /// The entropy of the missing grey pixels: no predictor can score below it.
    pub floor: f64,
}

/// Scores `baseline` and `cvae` on `task` (`k` importance or prior samples per image, `particles`
/// draws for the ELBO), 50 images at a time.
pub fn evaluate(
    baseline: &Baseline,
    cvae: &QuadrantCvae,
    task: &Task,
    particles: usize,
    k: usize,
    seed: u64,
) -> Result<Scores> {
    let n = task.images.dim(0)?;
    let (d, dev) = (cvae.cfg.latent_dim, task.images.device());
    let chunk = 50;
    let mut rng = SeededRng::derived(seed, "quadrant-eval", 0);
    let (mut base, mut elbo, mut is, mut mc) = (0.0, 0.0, 0.0, 0.0);
    for start in (0..n).step_by(chunk) {
        let m = chunk.min(n - start);
        let part = task.narrow(start, m)?;
        let logits = baseline.forward(&part.input)?;
        base += masked_nll(&part.images, &logits, &part.missing)?.sum_all()?.to_scalar::<f32>()? as f64;
        let guess = part.completed_with(&candle_nn::ops::sigmoid(&logits)?)?;
        for _ in 0..particles {
            let eps = rng.normal(&[m, d], dev)?;
            let v = cvae.negative_elbo(&part, &guess, &eps)?.sum_all()?.to_scalar::<f32>()? as f64;
            elbo += v / particles as f64;
        }
        let (mu_q, lv_q) = cvae.recognition(&part.images)?;
        let (mu_p, lv_p) = cvae.prior(&guess)?;
        let ys = part.images.unsqueeze(0)?.broadcast_as((k, m, cvae.cfg.pixels))?.reshape((k * m, cvae.cfg.pixels))?;
        let spread = |t: &Tensor| t.unsqueeze(0)?.broadcast_as((k, m, d));
        let (mu_q, lv_q, mu_p, lv_p) = (spread(&mu_q)?, spread(&lv_q)?, spread(&mu_p)?, spread(&lv_p)?);
        // log w = log p(y | z) + log p(z | x) - log q(z | x, y), z ~ q
        let z = prob::reparameterize(&mu_q, &lv_q, &rng.normal(&[k, m, d], dev)?)?;
        let log_lik =
            masked_nll(&ys, &cvae.generate(&z.reshape((k * m, d))?)?, &part.missing)?.neg()?.reshape((k, m))?;
        let log_w = ((log_lik + prob::gaussian_log_density(&z, &mu_p, &lv_p)?)?
            - prob::gaussian_log_density(&z, &mu_q, &lv_q)?)?;
        is -= log_mean_exp_rows(&log_w.t()?)?;
        // z ~ p(z | x): the weights are the likelihoods themselves
        let z = prob::reparameterize(&mu_p, &lv_p, &rng.normal(&[k, m, d], dev)?)?;
        let log_lik =
            masked_nll(&ys, &cvae.generate(&z.reshape((k * m, d))?)?, &part.missing)?.neg()?.reshape((k, m))?;
        mc -= log_mean_exp_rows(&log_lik.t()?)?;
    }
    let floor = task.entropy_floor()?.mean_all()?.to_scalar::<f32>()? as f64;
    let per = |v: f64| v / n as f64;
    Ok(Scores { baseline: per(base), cvae_elbo: per(elbo), cvae_importance: per(is), cvae_prior_mc: per(mc), floor })
}

/// Sum over rows of `log mean exp` of each row of `w`, in f64.
fn log_mean_exp_rows(w: &Tensor) -> Result<f64> {
    let rows = w.to_dtype(DType::F64)?.to_vec2::<f64>()?;
    Ok(rows.iter().map(|r| crate::classic::bayes::log_mean_exp(r)).sum())
}

/// `samples` completions per image drawn from the prior network: `(samples * n, pixels)`
/// probabilities with the observed pixels pasted back, sample-major.
pub fn complete(
    cvae: &QuadrantCvae,
    task: &Task,
    guess: &Tensor,
    samples: usize,
    rng: &mut SeededRng,
) -> Result<Tensor> {
    let (mu_p, lv_p) = cvae.prior(guess)?;
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples {
        let z = prob::reparameterize(&mu_p, &lv_p, &rng.normal(mu_p.dims(), task.images.device())?)?;
        out.push(task.completed_with(&candle_nn::ops::sigmoid(&cvae.generate(&z)?)?)?);
    }
    Tensor::cat(&out, 0)
}
