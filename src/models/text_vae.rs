//! The sentence VAE of Bowman et al. (2016), "Generating Sentences from a Continuous Space": a GRU
//! reads a sentence into a Gaussian code `z`, and a GRU language model whose first state comes
//! from `z` writes it back word by word.
//!
//! The decoder alone is a strong model of text, so training is tempted to ignore `z` (posterior
//! collapse: the KL term falls to about zero). Two remedies, both here: a KL weight that grows
//! from 0 to 1 ([`KlWeight`]), and word dropout (decoder inputs replaced by `<unk>`, so the
//! decoder must lean on `z`). [`RnnLm`] is the same decoder without `z`: the baseline.

use crate::cpu::fused;
use crate::cpu::gru::{self, GruWeights};
use crate::data::sotu::Vocabulary;
use crate::data::tokens::{SentenceSplits, TokenBatch, TokenData};
use crate::estimators::LogWeights;
use crate::prob::{self, SeededRng};
use crate::train::{Fit, LossTerms, Model, Run, Schedule, Score, Step, StepReport, TrainError, total};
use candle_core::{D, DType, Device, IndexOp, Module, Result, Tensor};
use candle_nn::rnn::{GRU, GRUConfig, GRUState, RNN};
use candle_nn::{Embedding, Linear, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TextVaeConfig {
    pub vocab: usize,
    pub embedding: usize,
    /// GRU state of the encoder and of the decoder.
    pub hidden: usize,
    pub latent_dim: usize,
}

// ANCHOR: decoder
/// A GRU language model over word ids: `p(w_t | w_<t, z)` from a state that has read `w_<t`.
/// In the VAE the code `z` sets the first state and is read again with every word (so that its
/// message does not fade along the sentence); the plain language model has neither.
pub struct Decoder {
    embed: Embedding,
    /// Maps `z` to a vector added to every word vector (a linear layer on `[word, z]`, in fewer steps).
    from_z: Option<Linear>,
    rnn: GRU,
    out: Linear,
    /// The same GRU's parameters, which the fast CPU path ([`crate::cpu::gru`]) reads.
    fast: GruWeights,
}

impl Decoder {
    /// `latent` extra inputs per step: `latent_dim` for the VAE, 0 for the language model.
    pub fn new(cfg: TextVaeConfig, latent: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            embed: candle_nn::embedding(cfg.vocab, cfg.embedding, vb.pp("embed"))?,
            from_z: if latent > 0 { Some(candle_nn::linear(latent, cfg.embedding, vb.pp("from_z"))?) } else { None },
            rnn: candle_nn::rnn::gru(cfg.embedding, cfg.hidden, GRUConfig::default(), vb.pp("gru"))?,
            out: candle_nn::linear(cfg.hidden, cfg.vocab, vb.pp("out"))?,
            fast: GruWeights::new(cfg.embedding, cfg.hidden, vb.pp("gru"))?,
        })
    }

    /// The projection of the code `z` (`(B, latent)`) added to every word vector, if given.
    fn code_input(&self, z: Option<&Tensor>) -> Result<Option<Tensor>> {
        match (z, &self.from_z) {
            (None, _) => Ok(None),
            (Some(z), Some(from_z)) => Ok(Some(from_z.forward(z)?)),
            (Some(_), None) => candle_core::bail!("this decoder has no input for a code z"),
        }
    }

    /// The GRU's input at one step: word vectors `(B, embedding)` plus the code's projection.
    fn step_input(word_vectors: Tensor, code: &Option<Tensor>) -> Result<Tensor> {
        match code {
            None => Ok(word_vectors),
            Some(c) => word_vectors + c,
        }
    }

    /// `-log p(target_t | inputs_<=t, z)` at every position, `(T, B)`, zero on padding; `z` is
    /// the code and the first state `h0` (both `None` for the language model).
    pub fn nll(&self, inputs: &Tensor, batch: &TokenBatch, z: Option<&Tensor>, h0: Option<Tensor>) -> Result<Tensor> {
        let (t_max, b) = inputs.dims2()?;
        let emb = self.embed.forward(inputs)?;
        let code = self.code_input(z)?;
        let mut state = match h0 {
            Some(h) => GRUState { h },
            None => self.rnn.zero_state(b)?,
        };
        let mut states = Vec::with_capacity(t_max);
        for t in 0..t_max {
            state = self.rnn.step(&Self::step_input(emb.get(t)?, &code)?, &state)?;
            states.push(state.h().clone());
        }
        // The softmax over the vocabulary is most of the cost: one matmul for all positions.
        let logits = self.out.forward(&Tensor::stack(&states, 0)?.reshape((t_max * b, ()))?)?;
        let targets = batch.targets.reshape(t_max * b)?;
        softmax_nll(&logits, &targets)?.reshape((t_max, b))? * &batch.mask
    }

    /// Continues from states `h` (`(B, hidden)`), starting at `<bos>`, for at most `max_len`
    /// words: the most likely word each time (`rng` = None, greedy) or a draw from the softmax.
    /// Each sentence stops at its `<eos>` (not included). `<unk>` is never chosen (it stands for
    /// thousands of rare word types, so it is often the likeliest single token), nor are `<pad>` and `<bos>`.
    pub fn generate(
        &self,
        z: Option<&Tensor>,
        h: Tensor,
        max_len: usize,
        mut rng: Option<&mut SeededRng>,
    ) -> Result<Vec<Vec<u32>>> {
        let b = h.dim(0)?;
        let dev = h.device().clone();
        let code = self.code_input(z)?;
        let mut state = GRUState { h };
        let mut input = Tensor::from_vec(vec![Vocabulary::BOS; b], b, &dev)?;
        let mut out = vec![Vec::new(); b];
        let mut done = vec![false; b];
        let vocab = self.out.weight().dim(0)?;
        let mut banned = vec![0f32; vocab];
        for id in [Vocabulary::PAD, Vocabulary::BOS, Vocabulary::UNK] {
            banned[id as usize] = f32::NEG_INFINITY;
        }
        let banned = Tensor::from_vec(banned, vocab, &dev)?;
        for _ in 0..max_len {
            state = self.rnn.step(&Self::step_input(self.embed.forward(&input)?, &code)?, &state)?;
            let logits = self.out.forward(state.h())?.broadcast_add(&banned)?;
            let next: Vec<u32> = match rng.as_deref_mut() {
                None => logits.argmax(D::Minus1)?.to_vec1()?,
                Some(r) => {
                    let p = candle_nn::ops::softmax_last_dim(&logits)?.to_vec2::<f32>()?;
                    p.iter().map(|row| sample_index(row, r.uniform_f64())).collect()
                }
            };
            for (i, &w) in next.iter().enumerate() {
                if !done[i] {
                    if w == Vocabulary::EOS { done[i] = true } else { out[i].push(w) }
                }
            }
            if done.iter().all(|&d| d) {
                break;
            }
            input = Tensor::from_vec(next, b, &dev)?;
        }
        Ok(out)
    }
}
// ANCHOR_END: decoder

impl Decoder {
    /// [`Decoder::nll`] on the fast CPU path: the GRU of [`crate::cpu::gru`] over all steps at
    /// once and the fused output layer. Other devices take the plain path.
    pub fn nll_fast(
        &self,
        inputs: &Tensor,
        batch: &TokenBatch,
        z: Option<&Tensor>,
        h0: Option<Tensor>,
    ) -> Result<Tensor> {
        if !inputs.device().is_cpu() {
            return self.nll(inputs, batch, z, h0);
        }
        let (t_max, b) = inputs.dims2()?;
        let emb = self.embed.forward(inputs)?;
        let x = match self.code_input(z)? {
            Some(code) => emb.broadcast_add(&code)?,
            None => emb,
        };
        let h0 = match h0 {
            Some(h) => h,
            None => Tensor::zeros((b, self.fast.w_hh.dim(1)?), DType::F32, inputs.device())?,
        };
        let states = gru::sequence(&self.fast, &x, &h0)?.reshape((t_max * b, ()))?;
        let Some(bias) = self.out.bias() else { candle_core::bail!("the output layer has no bias") };
        let logits = fused::linear(&states, self.out.weight(), bias, true)?;
        softmax_nll(&logits, &batch.targets.reshape(t_max * b)?)?.reshape((t_max, b))? * &batch.mask
    }
}

/// `-log softmax(logits)[target]` per row: the fused CPU kernel, or plain tensor code elsewhere.
pub fn softmax_nll(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    if logits.device().is_cpu() {
        crate::cpu::fused::softmax_nll(logits, targets)
    } else {
        logits.log_sum_exp(D::Minus1)? - logits.gather(&targets.unsqueeze(1)?, 1)?.squeeze(1)?
    }
}

/// The index `i` where the running sum of `p` first passes `u` (inverse-CDF sampling).
fn sample_index(p: &[f32], u: f64) -> u32 {
    let mut acc = 0.0;
    for (i, &q) in p.iter().enumerate() {
        acc += q as f64;
        if u < acc {
            return i as u32;
        }
    }
    (p.len() - 1) as u32
}

/// The baseline: a GRU language model, `p(sentence)` exactly, no latent code.
pub struct RnnLm {
    pub decoder: Decoder,
    pub cfg: TextVaeConfig,
}

impl RnnLm {
    pub fn new(cfg: TextVaeConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self { decoder: Decoder::new(cfg, 0, vb.pp("decoder"))?, cfg })
    }

    /// `-log p(sentence)` for every sentence of the batch, `(B)`.
    pub fn nll(&self, batch: &TokenBatch) -> Result<Tensor> {
        let inputs = batch.decoder_inputs(0.0, &mut SeededRng::new(0))?;
        self.decoder.nll(&inputs, batch, None, None)?.sum(0)
    }

    /// [`RnnLm::nll`] on the fast CPU path (what training and scoring use).
    pub fn nll_fast(&self, batch: &TokenBatch) -> Result<Tensor> {
        let inputs = batch.decoder_inputs(0.0, &mut SeededRng::new(0))?;
        self.decoder.nll_fast(&inputs, batch, None, None)?.sum(0)
    }
}

// ANCHOR: text_vae
pub struct TextVae {
    encoder: GRU,
    encoder_fast: GruWeights,
    to_latent: Linear,
    to_state: Linear,
    pub decoder: Decoder,
    pub cfg: TextVaeConfig,
}

/// Per sentence, `(B)` each: `-log p(x | z)` at the drawn `z`, and `KL(q(z | x) || p(z))`; and
/// the KL of each latent dimension, `(B, latent)`, which free bits need.
pub struct SentenceTerms {
    pub nll: Tensor,
    pub kl: Tensor,
    pub kl_dims: Tensor,
}

impl SentenceTerms {
    fn new(nll: Tensor, mu: &Tensor, logvar: &Tensor) -> Result<Self> {
        let kl_dims = prob::kl_standard_normal_dims(mu, logvar)?;
        Ok(Self { nll, kl: kl_dims.sum(D::Minus1)?, kl_dims })
    }
}

impl TextVae {
    pub fn new(cfg: TextVaeConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            encoder: candle_nn::rnn::gru(cfg.embedding, cfg.hidden, GRUConfig::default(), vb.pp("encoder"))?,
            encoder_fast: GruWeights::new(cfg.embedding, cfg.hidden, vb.pp("encoder"))?,
            to_latent: candle_nn::linear(cfg.hidden, 2 * cfg.latent_dim, vb.pp("to_latent"))?,
            to_state: candle_nn::linear(cfg.latent_dim, cfg.hidden, vb.pp("to_state"))?,
            decoder: Decoder::new(cfg, cfg.latent_dim, vb.pp("decoder"))?,
            cfg,
        })
    }

    /// `q(z | x)`: the encoder GRU reads the words and `<eos>` (sharing the decoder's word
    /// vectors); its state after each sentence's last token gives the mean and log-variance.
    pub fn encode(&self, batch: &TokenBatch) -> Result<(Tensor, Tensor)> {
        let (t_max, b) = batch.targets.dims2()?;
        let emb = self.decoder.embed.forward(&batch.targets)?;
        let mut state = self.encoder.zero_state(b)?;
        let mut states = Vec::with_capacity(t_max);
        for t in 0..t_max {
            state = self.encoder.step(&emb.get(t)?, &state)?;
            states.push(state.h().clone());
        }
        // Shorter sentences of the batch are done before the last step: take each one's own end.
        let last = Tensor::stack(&states, 0)?.broadcast_mul(&batch.last)?.sum(0)?;
        let both = self.to_latent.forward(&last)?;
        let d = self.cfg.latent_dim;
        Ok((both.narrow(1, 0, d)?, both.narrow(1, d, d)?))
    }

    /// The decoder's first state for codes `z` (`(B, latent)`).
    pub fn initial_state(&self, z: &Tensor) -> Result<Tensor> {
        self.to_state.forward(z)?.tanh()
    }

    /// One pass: encode, draw `z` with noise `eps` (`(B, latent)`), decode `inputs`.
    pub fn run(&self, batch: &TokenBatch, inputs: &Tensor, eps: &Tensor) -> Result<SentenceTerms> {
        let (mu, logvar) = self.encode(batch)?;
        let z = prob::reparameterize(&mu, &logvar, eps)?;
        let nll = self.decoder.nll(inputs, batch, Some(&z), Some(self.initial_state(&z)?))?.sum(0)?;
        SentenceTerms::new(nll, &mu, &logvar)
    }

    /// Decodes codes `z` into word ids (see [`Decoder::generate`]).
    pub fn decode(&self, z: &Tensor, max_len: usize, rng: Option<&mut SeededRng>) -> Result<Vec<Vec<u32>>> {
        self.decoder.generate(Some(z), self.initial_state(z)?, max_len, rng)
    }
}
// ANCHOR_END: text_vae

impl TextVae {
    /// [`TextVae::encode`] on the fast CPU path (other devices take the plain one).
    pub fn encode_fast(&self, batch: &TokenBatch) -> Result<(Tensor, Tensor)> {
        if !batch.targets.device().is_cpu() {
            return self.encode(batch);
        }
        let (_, b) = batch.targets.dims2()?;
        let emb = self.decoder.embed.forward(&batch.targets)?;
        let h0 = Tensor::zeros((b, self.cfg.hidden), DType::F32, emb.device())?;
        let last = gru::sequence(&self.encoder_fast, &emb, &h0)?.broadcast_mul(&batch.last)?.sum(0)?;
        let both = self.to_latent.forward(&last)?;
        let d = self.cfg.latent_dim;
        Ok((both.narrow(1, 0, d)?, both.narrow(1, d, d)?))
    }

    /// [`TextVae::run`] on the fast CPU path: what training and scoring use.
    pub fn run_fast(&self, batch: &TokenBatch, inputs: &Tensor, eps: &Tensor) -> Result<SentenceTerms> {
        let (mu, logvar) = self.encode_fast(batch)?;
        let z = prob::reparameterize(&mu, &logvar, eps)?;
        let nll = self.decoder.nll_fast(inputs, batch, Some(&z), Some(self.initial_state(&z)?))?.sum(0)?;
        SentenceTerms::new(nll, &mu, &logvar)
    }
}

// ANCHOR: kl_weight
/// The weight of the KL term at a given optimizer step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum KlWeight {
    /// The plain ELBO (1), or a fixed beta.
    Constant(f64),
    /// From 0 at step 0 up to 1 at step `steps`, in a straight line, then 1.
    Linear { steps: usize },
    /// Cyclical annealing (Fu et al. 2019): the linear climb over the first `ramp` steps of
    /// every cycle of `period` steps, then 1 until the cycle ends and the weight drops to 0 again.
    Cyclical { period: usize, ramp: usize },
}

impl KlWeight {
    pub fn at(&self, step: usize) -> f64 {
        match *self {
            KlWeight::Constant(w) => w,
            KlWeight::Linear { steps } => (step as f64 / steps.max(1) as f64).min(1.0),
            KlWeight::Cyclical { period, ramp } => KlWeight::Linear { steps: ramp }.at(step % period.max(1)),
        }
    }
}
// ANCHOR_END: kl_weight

// ANCHOR: free_bits
/// Free bits (Kingma et al. 2016): the KL term of a batch with each latent dimension's mean KL
/// over the batch raised to at least `lambda` nats. Below the floor a dimension costs the same
/// whatever its code says, so the gradient stops pulling it towards the prior. `kl_dims` is
/// `(B, latent)`; the result is the batch's total, as `kl_dims.sum_all()` would be.
pub fn free_bits_kl(kl_dims: &Tensor, lambda: f64) -> Result<Tensor> {
    let batch = kl_dims.dim(0)? as f64;
    kl_dims.mean(0)?.maximum(lambda)?.sum_all()? * batch
}
// ANCHOR_END: free_bits

/// How a text VAE is helped against posterior collapse.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Remedies {
    pub kl_weight: KlWeight,
    pub word_dropout: f64,
    /// Free bits' floor in nats per latent dimension ([`free_bits_kl`]); 0 for none.
    #[serde(default)]
    pub free_bits: f64,
}

impl Remedies {
    /// The plain ELBO: no annealing, no word dropout, no free bits.
    pub const NONE: Remedies = Remedies { kl_weight: KlWeight::Constant(1.0), word_dropout: 0.0, free_bits: 0.0 };
}

/// Sums over a split, per sentence: `-log p(x | z)`, `KL`, and the tokens they cover.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TextScore {
    pub sentences: usize,
    pub tokens: usize,
    /// Mean over sentences of the reconstruction term (the whole `-log p(x)` for the language model).
    pub recon: f64,
    /// Mean KL per sentence (0 for the language model).
    pub kl: f64,
}

impl TextScore {
    /// Negative ELBO per sentence (exact negative log-likelihood for the language model).
    pub fn nll(&self) -> f64 {
        self.recon + self.kl
    }

    /// `exp` of the negative log-likelihood (or bound) per predicted token.
    pub fn perplexity(&self) -> f64 {
        perplexity(self.nll(), self.sentences, self.tokens)
    }
}

/// Perplexity from a mean negative log-likelihood per sentence.
pub fn perplexity(nll_per_sentence: f64, sentences: usize, tokens: usize) -> f64 {
    (nll_per_sentence * sentences as f64 / tokens as f64).exp()
}

/// The VAE's negative ELBO on `data` (one draw of `z` per sentence from `seed`, no word dropout).
pub fn vae_score(model: &TextVae, data: &TokenData, seed: u64) -> Result<TextScore> {
    let mut rng = SeededRng::derived(seed, "text-eval", 0);
    let (mut recon, mut kl) = (0.0, 0.0);
    for b in &data.batches {
        let eps = rng.normal(&[b.size(), model.cfg.latent_dim], b.targets.device())?;
        let terms = model.run_fast(b, &b.decoder_inputs(0.0, &mut rng)?, &eps)?;
        recon += total(&terms.nll)?;
        kl += total(&terms.kl)?;
    }
    let n = data.sentences() as f64;
    Ok(TextScore { sentences: data.sentences(), tokens: data.tokens(), recon: recon / n, kl: kl / n })
}

/// The language model's exact negative log-likelihood on `data`.
pub fn lm_score(model: &RnnLm, data: &TokenData) -> Result<TextScore> {
    let mut sum = 0.0;
    for b in &data.batches {
        sum += total(&model.nll_fast(b)?)?;
    }
    Ok(TextScore { sentences: data.sentences(), tokens: data.tokens(), recon: sum / data.sentences() as f64, kl: 0.0 })
}

/// `-log p(x)` per sentence by importance sampling `k` codes from `q(z | x)` (the IWAE estimator),
/// in chunks of `chunk` codes; in `data.order`'s order.
pub fn importance_nll(model: &TextVae, data: &TokenData, k: usize, chunk: usize, seed: u64) -> Result<Vec<f64>> {
    let mut rng = SeededRng::derived(seed, "text-importance", 0);
    let mut out = Vec::with_capacity(data.sentences());
    for b in &data.batches {
        let n = b.size();
        let (mu, logvar) = model.encode_fast(b)?;
        let mut weights = LogWeights::new(n, k);
        let mut done = 0;
        while done < k {
            let c = chunk.max(1).min(k - done);
            let rep = b.repeat(c)?;
            let (mu_c, lv_c) = (Tensor::cat(&vec![&mu; c], 0)?, Tensor::cat(&vec![&logvar; c], 0)?);
            let z = prob::reparameterize(&mu_c, &lv_c, &rng.normal(mu_c.dims(), mu.device())?)?;
            let inputs = rep.decoder_inputs(0.0, &mut rng)?;
            let nll = model.decoder.nll_fast(&inputs, &rep, Some(&z), Some(model.initial_state(&z)?))?.sum(0)?;
            let log_w = ((prob::standard_normal_log_density(&z)? - prob::gaussian_log_density(&z, &mu_c, &lv_c)?)?
                - nll)?
                .to_dtype(DType::F64)?
                .to_vec1::<f64>()?;
            weights.push_copies(&log_w);
            done += c;
        }
        out.extend(weights.log_mean_exp().iter().map(|l| -l));
    }
    Ok(out)
}

/// The encoder's means for every sentence of `data`, `(N, latent)`, in `data.order`'s order.
pub fn latent_means(model: &TextVae, data: &TokenData) -> Result<Tensor> {
    // Detached: the means are data from here on, and a graph back through every batch's encoder
    // would make each later backward pass (a classifier's) walk all of it.
    let means =
        data.batches.iter().map(|b| model.encode_fast(b).map(|(mu, _)| mu.detach())).collect::<Result<Vec<_>>>()?;
    Tensor::cat(&means, 0)
}

/// The KL term and its weight, recorded every `every` optimizer steps during training.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KlTrace {
    pub step: Vec<usize>,
    /// Mean KL per sentence over the last `every` batches.
    pub kl: Vec<f64>,
    pub weight: Vec<f64>,
}

/// A sentence VAE and how it is trained against posterior collapse.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TextVaeTraining {
    pub model: TextVaeConfig,
    pub remedies: Remedies,
}

impl Model for TextVae {
    type Config = TextVaeTraining;
    type Data = SentenceSplits;
    const NAME: &'static str = "text";
    const PREBATCHED: bool = true;

    fn new(cfg: &TextVaeTraining, vb: VarBuilder) -> Result<Self> {
        TextVae::new(cfg.model, vb)
    }

    fn rows(data: &SentenceSplits) -> usize {
        data.train.batches.len()
    }

    /// Per token: reconstruction + weight x KL, the weight from the step's place in the schedule
    /// and the KL with free bits' floor if it has one; the `kl` term reported is the true KL.
    fn loss(&self, cfg: &TextVaeTraining, data: &SentenceSplits, at: Step, noise: &mut SeededRng) -> Result<LossTerms> {
        let b = &data.train.batches[at.rows[0] as usize];
        let weight = cfg.remedies.kl_weight.at(at.step as usize);
        let inputs = b.decoder_inputs(cfg.remedies.word_dropout, noise)?;
        let terms = self.run_fast(b, &inputs, &noise.normal(&[b.size(), cfg.model.latent_dim], b.targets.device())?)?;
        let per_sentence = (terms.kl.sum_all()? / b.size() as f64)?;
        let kl = if cfg.remedies.free_bits > 0.0 {
            free_bits_kl(&terms.kl_dims, cfg.remedies.free_bits)?
        } else {
            terms.kl.sum_all()?
        };
        let objective = ((terms.nll.sum_all()? + (kl * weight)?)? / b.tokens() as f64)?;
        let weight = Tensor::new(weight as f32, b.targets.device())?;
        Ok(LossTerms::new(objective, vec![("kl", per_sentence), ("kl_weight", weight)]))
    }

    /// The validation negative ELBO per sentence (full KL weight, no word dropout).
    fn evaluate(&self, _cfg: &TextVaeTraining, data: &SentenceSplits, seed: u64) -> Result<Score> {
        let s = vae_score(self, &data.valid, seed)?;
        Ok(Score { loss: s.nll(), terms: vec![("recon".into(), s.recon), ("kl".into(), s.kl)] })
    }
}

impl Model for RnnLm {
    type Config = TextVaeConfig;
    type Data = SentenceSplits;
    const NAME: &'static str = "lm";
    const PREBATCHED: bool = true;

    fn new(cfg: &TextVaeConfig, vb: VarBuilder) -> Result<Self> {
        RnnLm::new(*cfg, vb)
    }

    fn rows(data: &SentenceSplits) -> usize {
        data.train.batches.len()
    }

    /// The negative log-likelihood per token of one length bucket.
    fn loss(&self, _cfg: &TextVaeConfig, data: &SentenceSplits, at: Step, _noise: &mut SeededRng) -> Result<LossTerms> {
        let b = &data.train.batches[at.rows[0] as usize];
        Ok(LossTerms::plain((self.nll_fast(b)?.sum_all()? / b.tokens() as f64)?))
    }

    /// The validation negative log-likelihood per sentence.
    fn evaluate(&self, _cfg: &TextVaeConfig, data: &SentenceSplits, _seed: u64) -> Result<Score> {
        Ok(Score { loss: lm_score(self, &data.valid)?.nll(), terms: Vec::new() })
    }
}

impl KlTrace {
    /// Records one training step of a text VAE; every `every` steps, a point: the mean KL per
    /// sentence over those steps and the weight of the last.
    pub fn record(&mut self, step: &StepReport, every: usize, pending: &mut Vec<f64>) {
        let term = |name: &str| step.terms.iter().find(|(n, _)| *n == name).map_or(0.0, |(_, v)| *v);
        pending.push(term("kl"));
        if pending.len() == every.max(1) {
            self.step.push(self.step.len() * every.max(1) + every.max(1));
            self.kl.push(pending.iter().sum::<f64>() / every.max(1) as f64);
            self.weight.push(term("kl_weight"));
            pending.clear();
        }
    }
}

fn splits(train: &TokenData, valid: &TokenData) -> (SentenceSplits, Device) {
    let dev = train.batches.first().map(|b| b.targets.device().clone()).unwrap_or(Device::Cpu);
    (SentenceSplits { train: train.clone(), valid: valid.clone(), test: None, vocab: None }, dev)
}

/// Trains a text VAE (one Adam step per length bucket; loss per token = reconstruction + weight x
/// KL), stopping early on the validation negative ELBO (full weight, no word dropout); records
/// the KL every `trace_every` steps.
pub fn train_vae(
    cfg: TextVaeConfig,
    remedies: Remedies,
    (train, valid): (&TokenData, &TokenData),
    schedule: Schedule,
    trace_every: usize,
    mut on_epoch: impl FnMut(usize, f64, f64),
) -> std::result::Result<(TextVae, VarMap, Fit, KlTrace), TrainError> {
    let (data, dev) = splits(train, valid);
    let mut run = Run::<TextVae>::new(TextVaeTraining { model: cfg, remedies }, schedule.into(), &dev)?;
    let (mut trace, mut pending) = (KlTrace::default(), Vec::new());
    run.fit_observed(
        &data,
        |s| trace.record(s, trace_every, &mut pending),
        |e| on_epoch(e.epoch, e.train_loss, e.eval.loss),
    )?;
    let fit = run.fit_summary();
    Ok((run.model, run.varmap, fit, trace))
}

/// Trains the language model like [`train_vae`] (loss per token, early stopping on validation).
pub fn train_lm(
    cfg: TextVaeConfig,
    (train, valid): (&TokenData, &TokenData),
    schedule: Schedule,
    mut on_epoch: impl FnMut(usize, f64, f64),
) -> std::result::Result<(RnnLm, VarMap, Fit), TrainError> {
    let (data, dev) = splits(train, valid);
    let mut run = Run::<RnnLm>::new(cfg, schedule.into(), &dev)?;
    run.fit(&data, |e| on_epoch(e.epoch, e.train_loss, e.eval.loss))?;
    let fit = run.fit_summary();
    Ok((run.model, run.varmap, fit))
}

/// Codes along the straight line from `a` to `b` (`(1, latent)` each), `points` of them ends
/// included, `(points, latent)`: Bowman et al.'s homotopy.
pub fn homotopy(a: &Tensor, b: &Tensor, points: usize) -> Result<Tensor> {
    let rows = (0..points)
        .map(|i| {
            let t = i as f64 / (points.max(2) - 1) as f64;
            (a * (1.0 - t))? + (b * t)?
        })
        .collect::<Result<Vec<_>>>()?;
    Tensor::cat(&rows, 0)
}

/// Row `i` of a `(N, d)` tensor as `(1, d)`.
pub fn row(t: &Tensor, i: usize) -> Result<Tensor> {
    t.i(i..i + 1)
}
