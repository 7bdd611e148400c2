//! The second stage of the VQ-VAE: a prior over its codes, learned after the VQ-VAE is trained.
//! It is the text chapter's GRU language model ([`RnnLm`]) reading an image's 49 codes in raster
//! order as a sentence: `<bos>`, the codes (past the four special tokens), `<eos>`. Its
//! `-log p(codes)` is the code cost in the VQ-VAE's bound, and its samples, decoded by the VQ-VAE,
//! are new images.

use crate::data::sotu::Vocabulary;
use crate::data::tokens::{SentenceSplits, TokenData};
use crate::models::text_vae::{RnnLm, TextVaeConfig};
use crate::models::vqvae::{POSITIONS, VqVae};
use crate::prob::SeededRng;
use crate::train::{LossTerms, Model, Score, Step};
use candle_core::{DType, Device, Result, Tensor};
use candle_nn::VarBuilder;

/// Word vectors and GRU state of the prior (small: its vocabulary is the codebook).
pub const EMBEDDING: usize = 32;
pub const HIDDEN: usize = 128;

/// The id of code `k` in the prior's vocabulary: the text models' four special tokens come first.
pub const FIRST_CODE_ID: u32 = 4;

/// An image's codes as a "sentence" for the prior (the [`RnnLm`]):
/// `<bos>`, the 49 codes shifted past the special tokens, `<eos>`.
pub fn prior_tokens(codes: &[u32]) -> Vec<u32> {
    let mut s = Vec::with_capacity(codes.len() + 2);
    s.push(Vocabulary::BOS);
    s.extend(codes.iter().map(|&k| k + FIRST_CODE_ID));
    s.push(Vocabulary::EOS);
    s
}

/// The prior's configuration for a codebook of `codes` entries.
pub fn config(codes: usize, hidden: usize) -> TextVaeConfig {
    TextVaeConfig { vocab: codes + FIRST_CODE_ID as usize, embedding: EMBEDDING, hidden, latent_dim: 0 }
}

/// The code grids at `rows` as the prior's sentences, in length buckets of `batch`.
pub fn sentences(grids: &[Vec<u32>], rows: &[usize], batch: usize, dev: &Device) -> Result<TokenData> {
    let s: Vec<Vec<u32>> = rows.iter().map(|&i| prior_tokens(&grids[i])).collect();
    TokenData::new(&s, batch, dev)
}

/// The prior's data: the training grids at `keep` (it learns from them) and at `held` (it stops on
/// them), and every test grid; in length buckets of `batch`.
pub fn splits(
    train: &[Vec<u32>],
    (keep, held): (&[usize], &[usize]),
    test: &[Vec<u32>],
    batch: usize,
    dev: &Device,
) -> Result<SentenceSplits> {
    let all_test: Vec<usize> = (0..test.len()).collect();
    Ok(SentenceSplits {
        train: sentences(train, keep, batch, dev)?,
        valid: sentences(train, held, batch, dev)?,
        test: Some(sentences(test, &all_test, batch, dev)?),
        vocab: None,
    })
}

/// `n` code grids drawn from the prior (on `dev`, where it lives), and how many of them ended
/// (drew `<eos>`) before 49 codes; those are completed with code 0.
pub fn sample(lm: &RnnLm, n: usize, rng: &mut SeededRng, dev: &Device) -> Result<(Vec<Vec<u32>>, usize)> {
    let h0 = Tensor::zeros((n, lm.cfg.hidden), DType::F32, dev)?;
    let drawn = lm.decoder.generate(None, h0, POSITIONS, Some(rng))?;
    let short = drawn.iter().filter(|s| s.len() < POSITIONS).count();
    let grids = drawn
        .into_iter()
        .map(|s| {
            let mut codes: Vec<u32> = s.iter().map(|&id| id - FIRST_CODE_ID).collect();
            codes.resize(POSITIONS, 0);
            codes
        })
        .collect();
    Ok((grids, short))
}

/// The prior as a model of its own, for `vae train --model vq-prior`.
pub struct VqPrior {
    pub lm: RnnLm,
}

/// What the prior trains on: the code sentences of the training images (a validation part held
/// out to stop on) and of the test images, with the VQ-VAE that wrote them and the test images
/// (to decode samples and to score the bound).
pub struct VqPriorData {
    pub codes: SentenceSplits,
    pub vqvae: VqVae,
    pub test_images: Tensor,
}

impl Model for VqPrior {
    type Config = TextVaeConfig;
    type Data = VqPriorData;
    const NAME: &'static str = "vq-prior";
    const PREBATCHED: bool = true;

    fn new(cfg: &TextVaeConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self { lm: RnnLm::new(*cfg, vb)? })
    }

    fn rows(data: &VqPriorData) -> usize {
        data.codes.train.batches.len()
    }

    /// The language model's loss: nats per code (and `<eos>`) of one batch.
    fn loss(&self, cfg: &TextVaeConfig, data: &VqPriorData, at: Step, noise: &mut SeededRng) -> Result<LossTerms> {
        self.lm.loss(cfg, &data.codes, at, noise)
    }

    /// `-log p(codes)` per held-out image.
    fn evaluate(&self, cfg: &TextVaeConfig, data: &VqPriorData, seed: u64) -> Result<Score> {
        self.lm.evaluate(cfg, &data.codes, seed)
    }
}
