//! The variational recurrent neural network (VRNN; Chung et al. 2015): a VAE at every time step,
//! whose prior, encoder and decoder all read a recurrent state `h` that carries the past.
//!
//! At step `t`, with `h = h_{t-1}`:
//! - prior `p(z_t | h)`, a Gaussian from `h` alone (the model's guess before seeing `x_t`);
//! - encoder `q(z_t | x_t, h)`, which also sees the current frame;
//! - decoder `p(x_t | z_t, h)`, independent Bernoullis (one per piano key or pixel);
//! - recurrence `h_t = GRU([phi_x(x_t), phi_z(z_t)], h)`.
//!
//! The ELBO is a sum over steps of reconstruction minus `KL(q(z_t | x_t, h) || p(z_t | h))`, so
//! every step has its own KL, and `log p(x_{1:T})` can be estimated by importance sampling whole
//! trajectories. [`RnnBaseline`] is the same recurrence without `z`: a deterministic model of
//! `p(x_t | x_{<t})` whose likelihood is exact.

use crate::cpu::fused;
use crate::cpu::gru::{self, GruWeights};
use crate::data::sequences::{SeqBatch, SeqData, SeqSplits};
use crate::estimators::LogWeights;
use crate::prob::{self, SeededRng};
use crate::train::{Fit, LossTerms, Model, Run, Schedule, Score, Step, TrainError, total};
use candle_core::{D, DType, Device, Module, Result, Tensor};
use candle_nn::rnn::{GRU, GRUConfig, GRUState, RNN};
use candle_nn::{Linear, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VrnnConfig {
    /// Width of one frame (piano keys, or pixels of an image row).
    pub input_dim: usize,
    /// Width of the feature layers `phi_x`, `phi_z` and of the prior, encoder and decoder layers.
    pub feature: usize,
    /// GRU state.
    pub hidden: usize,
    pub latent_dim: usize,
}

fn lin(i: usize, o: usize, vb: &VarBuilder, name: &str) -> Result<Linear> {
    candle_nn::linear(i, o, vb.pp(name))
}

/// A hidden ReLU layer followed by a layer for the Gaussian's mean and log-variance together.
struct GaussianHead {
    hidden: Linear,
    out: Linear,
}

impl GaussianHead {
    fn new(input: usize, cfg: VrnnConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            hidden: lin(input, cfg.feature, &vb, "hidden")?,
            out: lin(cfg.feature, 2 * cfg.latent_dim, &vb, "out")?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let both = self.out.forward(&self.hidden.forward(x)?.relu()?)?;
        let d = both.dim(D::Minus1)? / 2;
        Ok((both.narrow(D::Minus1, 0, d)?, both.narrow(D::Minus1, d, d)?))
    }

    /// [`GaussianHead::forward`] through the fused CPU kernels, for `(rows, input)` inputs.
    fn forward_fast(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let both = linear_fast(&self.out, &fused::relu(&linear_fast(&self.hidden, x, true)?)?, true)?;
        let d = both.dim(1)? / 2;
        Ok((both.narrow(1, 0, d)?, both.narrow(1, d, d)?))
    }
}

// ANCHOR: vrnn
pub struct Vrnn {
    phi_x: Linear,
    phi_z: Linear,
    prior: GaussianHead,
    encoder: GaussianHead,
    decoder_hidden: Linear,
    decoder_out: Linear,
    rnn: GRU,
    /// The same GRU's parameters, which the fast CPU path ([`crate::cpu::gru`]) reads.
    fast: GruWeights,
    pub cfg: VrnnConfig,
}

/// What a pass over a batch gives, each `(T, B)`, zero on padding.
pub struct StepTerms {
    /// `-log p(x_t | z_t, h)` with `z_t` drawn from the encoder.
    pub nll: Tensor,
    /// `KL(q(z_t | x_t, h) || p(z_t | h))`, analytic.
    pub kl: Tensor,
    /// `log p(z_t | h) - log q(z_t | x_t, h)` at the drawn `z_t` (only when asked for).
    pub log_ratio: Option<Tensor>,
    /// The decoder's logits, `(T, B, D)`: a reconstruction of every frame.
    pub logits: Tensor,
}

impl Vrnn {
    pub fn new(cfg: VrnnConfig, vb: VarBuilder) -> Result<Self> {
        let (f, h) = (cfg.feature, cfg.hidden);
        Ok(Self {
            phi_x: lin(cfg.input_dim, f, &vb, "phi_x")?,
            phi_z: lin(cfg.latent_dim, f, &vb, "phi_z")?,
            prior: GaussianHead::new(h, cfg, vb.pp("prior"))?,
            encoder: GaussianHead::new(f + h, cfg, vb.pp("encoder"))?,
            decoder_hidden: lin(f + h, f, &vb, "decoder_hidden")?,
            decoder_out: lin(f, cfg.input_dim, &vb, "decoder_out")?,
            rnn: candle_nn::rnn::gru(2 * f, h, GRUConfig::default(), vb.pp("gru"))?,
            fast: GruWeights::new(2 * f, h, vb.pp("gru"))?,
            cfg,
        })
    }

    /// One pass over `batch` with encoder noise `eps` (`(T, B, latent)`).
    pub fn run(&self, batch: &SeqBatch, eps: &Tensor, with_log_ratio: bool) -> Result<StepTerms> {
        let (t_max, b, d) = batch.x.dims3()?;
        // The frame features do not depend on the recurrence: one matmul for all steps.
        let phi_x =
            self.phi_x.forward(&batch.x.reshape((t_max * b, d))?)?.relu()?.reshape((t_max, b, self.cfg.feature))?;
        let mut state = self.rnn.zero_state(b)?;
        let (mut dec_h, mut q_mu, mut q_lv, mut p_mu, mut p_lv, mut zs) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for t in 0..t_max {
            let (fx, h) = (phi_x.get(t)?, state.h().clone());
            let (mu_p, lv_p) = self.prior.forward(&h)?;
            let (mu_q, lv_q) = self.encoder.forward(&Tensor::cat(&[&fx, &h], 1)?)?;
            let z = prob::reparameterize(&mu_q, &lv_q, &eps.get(t)?)?;
            let fz = self.phi_z.forward(&z)?.relu()?;
            dec_h.push(self.decoder_hidden.forward(&Tensor::cat(&[&fz, &h], 1)?)?.relu()?);
            state = self.rnn.step(&Tensor::cat(&[&fx, &fz], 1)?, &state)?;
            q_mu.push(mu_q);
            q_lv.push(lv_q);
            p_mu.push(mu_p);
            p_lv.push(lv_p);
            zs.push(z);
        }
        // Everything that does not feed the recurrence is computed once, for all steps.
        let stack = |v: &[Tensor]| Tensor::stack(v, 0);
        let logits = self.decoder_out.forward(&stack(&dec_h)?)?;
        let nll = (prob::bernoulli_log_likelihood_logits(&batch.x, &logits)?.neg()? * &batch.mask)?;
        let (q_mu, q_lv, p_mu, p_lv) = (stack(&q_mu)?, stack(&q_lv)?, stack(&p_mu)?, stack(&p_lv)?);
        let kl = (prob::kl_gaussians(&q_mu, &q_lv, &p_mu, &p_lv)? * &batch.mask)?;
        let log_ratio = if with_log_ratio {
            let z = stack(&zs)?;
            let r = (prob::gaussian_log_density(&z, &p_mu, &p_lv)? - prob::gaussian_log_density(&z, &q_mu, &q_lv)?)?;
            Some((r * &batch.mask)?)
        } else {
            None
        };
        Ok(StepTerms { nll, kl, log_ratio, logits })
    }

    /// Frames generated after (optionally) reading `prefix` (`(T0, B, D)`, encoded with the
    /// encoder's means): `steps` new frames drawn from the prior and the decoder, `(steps, B, D)`
    /// 0/1 values, and their probabilities.
    pub fn sample(
        &self,
        batch: usize,
        prefix: Option<&Tensor>,
        steps: usize,
        rng: &mut SeededRng,
    ) -> Result<(Tensor, Tensor)> {
        let dev = self.phi_x.weight().device();
        let mut state = self.rnn.zero_state(batch)?;
        if let Some(p) = prefix {
            for t in 0..p.dim(0)? {
                let fx = self.phi_x.forward(&p.get(t)?)?.relu()?;
                let (mu_q, _) = self.encoder.forward(&Tensor::cat(&[&fx, state.h()], 1)?)?;
                let fz = self.phi_z.forward(&mu_q)?.relu()?;
                state = self.rnn.step(&Tensor::cat(&[&fx, &fz], 1)?, &state)?;
            }
        }
        let (mut frames, mut probs) = (Vec::new(), Vec::new());
        for _ in 0..steps {
            let h = state.h().clone();
            let (mu_p, lv_p) = self.prior.forward(&h)?;
            let z = prob::reparameterize(&mu_p, &lv_p, &rng.normal(mu_p.dims(), dev)?)?;
            let fz = self.phi_z.forward(&z)?.relu()?;
            let p = candle_nn::ops::sigmoid(
                &self.decoder_out.forward(&self.decoder_hidden.forward(&Tensor::cat(&[&fz, &h], 1)?)?.relu()?)?,
            )?;
            let u = Tensor::from_vec(rng.uniform_vec(p.elem_count(), 0.0, 1.0)?, p.dims(), dev)?;
            let x = u.lt(&p)?.to_dtype(DType::F32)?;
            let fx = self.phi_x.forward(&x)?.relu()?;
            state = self.rnn.step(&Tensor::cat(&[&fx, &fz], 1)?, &state)?;
            frames.push(x);
            probs.push(p);
        }
        Ok((Tensor::stack(&frames, 0)?, Tensor::stack(&probs, 0)?))
    }
}
// ANCHOR_END: vrnn

// ANCHOR: baseline
/// The deterministic recurrent baseline: `p(x_t | x_{<t})` from a GRU that has read `x_{<t}`.
pub struct RnnBaseline {
    phi_x: Linear,
    out_hidden: Linear,
    out: Linear,
    rnn: GRU,
    /// The same GRU's parameters, which the fast CPU path ([`crate::cpu::gru`]) reads.
    fast: GruWeights,
    pub cfg: VrnnConfig,
}

impl RnnBaseline {
    pub fn new(cfg: VrnnConfig, vb: VarBuilder) -> Result<Self> {
        let (f, h) = (cfg.feature, cfg.hidden);
        Ok(Self {
            phi_x: lin(cfg.input_dim, f, &vb, "phi_x")?,
            out_hidden: lin(h, f, &vb, "out_hidden")?,
            out: lin(f, cfg.input_dim, &vb, "out")?,
            rnn: candle_nn::rnn::gru(f, h, GRUConfig::default(), vb.pp("gru"))?,
            fast: GruWeights::new(f, h, vb.pp("gru"))?,
            cfg,
        })
    }

    /// `-log p(x_t | x_{<t})` for every step, `(T, B)`, zero on padding.
    pub fn nll(&self, batch: &SeqBatch) -> Result<Tensor> {
        let (t_max, b, d) = batch.x.dims3()?;
        let phi_x =
            self.phi_x.forward(&batch.x.reshape((t_max * b, d))?)?.relu()?.reshape((t_max, b, self.cfg.feature))?;
        let mut state: GRUState = self.rnn.zero_state(b)?;
        let mut before = Vec::with_capacity(t_max);
        for t in 0..t_max {
            before.push(state.h().clone()); // the state that predicts step t has read steps < t
            state = self.rnn.step(&phi_x.get(t)?, &state)?;
        }
        let logits = self.out.forward(&self.out_hidden.forward(&Tensor::stack(&before, 0)?)?.relu()?)?;
        prob::bernoulli_log_likelihood_logits(&batch.x, &logits)?.neg()? * &batch.mask
    }
}
// ANCHOR_END: baseline

impl RnnBaseline {
    /// [`RnnBaseline::nll`] on the fast CPU path (what training and scoring use; other devices
    /// take the plain one): the whole recurrence is one [`gru::sequence`].
    pub fn nll_fast(&self, batch: &SeqBatch) -> Result<Tensor> {
        if !batch.x.device().is_cpu() {
            return self.nll(batch);
        }
        let (t_max, b, d) = batch.x.dims3()?;
        let phi_x = fused::relu(&linear_fast(&self.phi_x, &batch.x.reshape((t_max * b, d))?, false)?)?;
        let h0 = Tensor::zeros((1, b, self.cfg.hidden), DType::F32, batch.x.device())?;
        let after = gru::sequence(&self.fast, &phi_x.reshape((t_max, b, self.cfg.feature))?, &h0.get(0)?)?;
        // The state that predicts step t has read steps < t: h0, then every state but the last.
        let before = Tensor::cat(&[&h0, &after.narrow(0, 0, t_max - 1)?], 0)?.reshape((t_max * b, ()))?;
        let logits = linear_fast(&self.out, &fused::relu(&linear_fast(&self.out_hidden, &before, true)?)?, true)?;
        fused::bernoulli_nll(&batch.x.reshape((t_max * b, d))?, &logits)?.reshape((t_max, b))? * &batch.mask
    }
}

/// A candle `Linear` through the fused CPU kernel (`input_grad = false` when `x` is data).
fn linear_fast(l: &Linear, x: &Tensor, input_grad: bool) -> Result<Tensor> {
    let b = l.bias().ok_or_else(|| candle_core::Error::Msg("linear layer without bias".into()))?;
    fused::linear(x, l.weight(), b, input_grad)
}

/// What [`Vrnn::run_fast`] keeps from each step of its loop.
#[derive(Default)]
struct Steps {
    /// The state before the step, the encoder's mean and log-variance, the code and its features.
    h: Vec<Tensor>,
    mu_q: Vec<Tensor>,
    lv_q: Vec<Tensor>,
    z: Vec<Tensor>,
    fz: Vec<Tensor>,
}

impl Vrnn {
    /// [`Vrnn::run`] on the fast CPU path (what training and scoring use; other devices take the
    /// plain one). The same function, arranged so that only what feeds the recurrence stays in the
    /// loop (the encoder, the code, its features and one GRU step through [`gru::recur`], with
    /// the fused kernels); the prior and the decoder run once after it, for all steps together.
    pub fn run_fast(&self, batch: &SeqBatch, eps: &Tensor, with_log_ratio: bool) -> Result<StepTerms> {
        if !batch.x.device().is_cpu() {
            return self.run(batch, eps, with_log_ratio);
        }
        let (t_max, b, d) = batch.x.dims3()?;
        let steps = self.recurrence_fast(&batch.x, eps)?;
        let flat = |v: &[Tensor]| Tensor::cat(v, 0);
        let (h, fz) = (flat(&steps.h)?, flat(&steps.fz)?);
        let (mu_p, lv_p) = self.prior.forward_fast(&h)?;
        let dec = fused::relu(&linear_fast(&self.decoder_hidden, &Tensor::cat(&[&fz, &h], 1)?, true)?)?;
        let logits = linear_fast(&self.decoder_out, &dec, true)?;
        let nll =
            (fused::bernoulli_nll(&batch.x.reshape((t_max * b, d))?, &logits)?.reshape((t_max, b))? * &batch.mask)?;
        let (mu_q, lv_q) = (flat(&steps.mu_q)?, flat(&steps.lv_q)?);
        let by_step = |t: Tensor| t.reshape((t_max, b));
        let kl = (by_step(prob::kl_gaussians(&mu_q, &lv_q, &mu_p, &lv_p)?)? * &batch.mask)?;
        let log_ratio = if with_log_ratio {
            let z = flat(&steps.z)?;
            let r = (prob::gaussian_log_density(&z, &mu_p, &lv_p)? - prob::gaussian_log_density(&z, &mu_q, &lv_q)?)?;
            Some((by_step(r)? * &batch.mask)?)
        } else {
            None
        };
        Ok(StepTerms { nll, kl, log_ratio, logits: logits.reshape((t_max, b, d))? })
    }

    /// The loop of [`Vrnn::run_fast`] over the frames `x` (`(T, B, D)`). Everything in it reads
    /// one step's slice of data (`x`, `eps`), never a slice of a computed tensor: the gradient of
    /// such a slice is a zero-padded copy of the whole tensor, which made the backward pass
    /// quadratic in the sequence length.
    fn recurrence_fast(&self, x: &Tensor, eps: &Tensor) -> Result<Steps> {
        let (t_max, b, _) = x.dims3()?;
        let (f, hid, l) = (self.cfg.feature, self.cfg.hidden, self.cfg.latent_dim);
        // The encoder's first layer reads [fx, h] and the GRU's input is [fx, fz]: split both
        // weights by input, once per pass.
        let part = |w: &Tensor, from: usize, len: usize| w.narrow(1, from, len)?.contiguous();
        let enc_w = self.encoder.hidden.weight();
        let enc_b = self.encoder.hidden.bias().ok_or_else(|| candle_core::Error::Msg("encoder without bias".into()))?;
        let (enc_x, enc_h) = (part(enc_w, 0, f)?, part(enc_w, f, hid)?);
        let (gru_x, gru_z) = (part(&self.fast.w_ih, 0, f)?, part(&self.fast.w_ih, f, f)?);
        let wb = gru::recurrent_operand(&self.fast)?;
        let mut h = Tensor::zeros((b, hid), DType::F32, x.device())?;
        let mut steps = Steps::default();
        for t in 0..t_max {
            let fx = fused::relu(&linear_fast(&self.phi_x, &x.get(t)?, false)?)?;
            let hidden = fused::relu(&(fx.matmul(&enc_x.t()?)? + fused::linear(&h, &enc_h, enc_b, true)?)?)?;
            let both = linear_fast(&self.encoder.out, &hidden, true)?;
            let (mu_q, lv_q) = (both.narrow(1, 0, l)?, both.narrow(1, l, l)?);
            let z = prob::reparameterize(&mu_q, &lv_q, &eps.get(t)?)?;
            let fz = fused::relu(&linear_fast(&self.phi_z, &z, true)?)?;
            let gi = (fused::linear(&fx, &gru_x, &self.fast.b_ih, true)? + fz.matmul(&gru_z.t()?)?)?;
            let next = gru::recur(&gi.unsqueeze(0)?, &h, &wb)?.squeeze(0)?;
            steps.h.push(h);
            steps.mu_q.push(mu_q);
            steps.lv_q.push(lv_q);
            steps.z.push(z);
            steps.fz.push(fz);
            h = next;
        }
        Ok(steps)
    }
}

/// The VRNN's negative ELBO per time step on `data`, one fixed draw per step from `seed`, split
/// into `(reconstruction, KL)`.
pub fn vrnn_elbo(model: &Vrnn, data: &SeqData, seed: u64) -> Result<(f64, f64)> {
    let mut rng = SeededRng::derived(seed, "vrnn-eval", 0);
    let (mut nll, mut kl) = (0.0, 0.0);
    for b in &data.batches {
        let (t, n, _) = b.x.dims3()?;
        let terms = model.run_fast(b, &rng.normal(&[t, n, model.cfg.latent_dim], b.x.device())?, false)?;
        nll += total(&terms.nll)?;
        kl += total(&terms.kl)?;
    }
    let steps = data.steps() as f64;
    Ok((nll / steps, kl / steps))
}

/// `-log p(x_{1:T})` per time step by importance sampling `k` whole trajectories from the encoder
/// per sequence (the IWAE estimator over sequences), in chunks of `chunk` copies.
pub fn vrnn_importance_nll(model: &Vrnn, data: &SeqData, k: usize, chunk: usize, seed: u64) -> Result<f64> {
    let mut rng = SeededRng::derived(seed, "vrnn-importance", 0);
    let mut sum = 0.0;
    for b in &data.batches {
        let (t, n, _) = b.x.dims3()?;
        let mut weights = LogWeights::new(n, k);
        let mut done = 0;
        while done < k {
            let c = chunk.max(1).min(k - done);
            let rep = b.repeat(c)?;
            let terms = model.run_fast(&rep, &rng.normal(&[t, n * c, model.cfg.latent_dim], b.x.device())?, true)?;
            let ratio = terms.log_ratio.ok_or_else(|| candle_core::Error::Msg("no log ratio".into()))?;
            let log_w = (ratio - terms.nll)?.sum(0)?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
            weights.push_copies(&log_w);
            done += c;
        }
        sum -= weights.log_mean_exp().iter().sum::<f64>();
    }
    Ok(sum / data.steps() as f64)
}

/// The baseline's exact negative log-likelihood per time step on `data`.
pub fn baseline_nll(model: &RnnBaseline, data: &SeqData) -> Result<f64> {
    let mut sum = 0.0;
    for b in &data.batches {
        sum += total(&model.nll_fast(b)?)?;
    }
    Ok(sum / data.steps() as f64)
}

impl Model for Vrnn {
    type Config = VrnnConfig;
    type Data = SeqSplits;
    const NAME: &'static str = "vrnn";
    const PREBATCHED: bool = true;

    fn new(cfg: &VrnnConfig, vb: VarBuilder) -> Result<Self> {
        Vrnn::new(*cfg, vb)
    }

    fn rows(data: &SeqSplits) -> usize {
        data.train.batches.len()
    }

    /// The negative ELBO per time step of one length bucket.
    fn loss(&self, cfg: &VrnnConfig, data: &SeqSplits, at: Step, noise: &mut SeededRng) -> Result<LossTerms> {
        let b = &data.train.batches[at.rows[0] as usize];
        let (t, n, _) = b.x.dims3()?;
        let terms = self.run_fast(b, &noise.normal(&[t, n, cfg.latent_dim], b.x.device())?, false)?;
        let steps = b.steps() as f64;
        let (recon, kl) = ((terms.nll.sum_all()? / steps)?, (terms.kl.sum_all()? / steps)?);
        let objective = ((terms.nll + terms.kl)?.sum_all()? / steps)?;
        Ok(LossTerms::new(objective, vec![("recon", recon), ("kl", kl)]))
    }

    /// The validation negative ELBO per time step, one fixed draw from `seed`.
    fn evaluate(&self, _cfg: &VrnnConfig, data: &SeqSplits, seed: u64) -> Result<Score> {
        let (recon, kl) = vrnn_elbo(self, &data.valid, seed)?;
        Ok(Score { loss: recon + kl, terms: vec![("recon".into(), recon), ("kl".into(), kl)] })
    }
}

impl Model for RnnBaseline {
    type Config = VrnnConfig;
    type Data = SeqSplits;
    const NAME: &'static str = "rnn";
    const PREBATCHED: bool = true;

    fn new(cfg: &VrnnConfig, vb: VarBuilder) -> Result<Self> {
        RnnBaseline::new(*cfg, vb)
    }

    fn rows(data: &SeqSplits) -> usize {
        data.train.batches.len()
    }

    /// The exact negative log-likelihood per time step of one length bucket.
    fn loss(&self, _cfg: &VrnnConfig, data: &SeqSplits, at: Step, _noise: &mut SeededRng) -> Result<LossTerms> {
        let b = &data.train.batches[at.rows[0] as usize];
        Ok(LossTerms::plain((self.nll_fast(b)?.sum_all()? / b.steps() as f64)?))
    }

    fn evaluate(&self, _cfg: &VrnnConfig, data: &SeqSplits, _seed: u64) -> Result<Score> {
        Ok(Score { loss: baseline_nll(self, &data.valid)?, terms: Vec::new() })
    }
}

/// Trains model `M` on `train` with early stopping on `valid` (one Adam step per length bucket);
/// `on_epoch(epoch, train, valid)` per time step.
fn train_sequences<M: Model<Config = VrnnConfig, Data = SeqSplits>>(
    cfg: VrnnConfig,
    (train, valid): (&SeqData, &SeqData),
    schedule: Schedule,
    mut on_epoch: impl FnMut(usize, f64, f64),
) -> std::result::Result<(Run<M>, Fit), TrainError> {
    let dev = train.batches.first().map(|b| b.x.device().clone()).unwrap_or(Device::Cpu);
    let data = SeqSplits { train: train.clone(), valid: valid.clone(), test: None };
    let mut run = Run::<M>::new(cfg, schedule.into(), &dev)?;
    run.fit(&data, |e| on_epoch(e.epoch, e.train_loss, e.eval.loss))?;
    let fit = run.fit_summary();
    Ok((run, fit))
}

/// Trains a VRNN on `train` (loss = negative ELBO per step), stopping early on the validation
/// negative ELBO; the best epoch's weights are kept.
pub fn train_vrnn(
    cfg: VrnnConfig,
    train: &SeqData,
    valid: &SeqData,
    schedule: Schedule,
    on_epoch: impl FnMut(usize, f64, f64),
) -> std::result::Result<(Vrnn, VarMap, Fit), TrainError> {
    let (run, fit) = train_sequences::<Vrnn>(cfg, (train, valid), schedule, on_epoch)?;
    Ok((run.model, run.varmap, fit))
}

/// Trains the deterministic baseline like [`train_vrnn`].
pub fn train_baseline(
    cfg: VrnnConfig,
    train: &SeqData,
    valid: &SeqData,
    schedule: Schedule,
    on_epoch: impl FnMut(usize, f64, f64),
) -> std::result::Result<(RnnBaseline, VarMap, Fit), TrainError> {
    let (run, fit) = train_sequences::<RnnBaseline>(cfg, (train, valid), schedule, on_epoch)?;
    Ok((run.model, run.varmap, fit))
}
