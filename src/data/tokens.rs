//! Sentences as the text models read them: word ids padded into time-major batches of similar
//! length, with the decoder's inputs and targets shifted by one and a mask for the padding.

use crate::data::sotu::Vocabulary;
use crate::prob::SeededRng;
use candle_core::{Device, Result, Tensor};

/// Sentences padded to the longest, time-major. For a sentence `<bos> w1 .. wn <eos>` the decoder
/// reads `<bos> w1 .. wn` and predicts `w1 .. wn <eos>`: `n + 1` positions, its length here.
#[derive(Debug, Clone)]
pub struct TokenBatch {
    /// Decoder inputs `(T, B)`, on the host too so that word dropout can replace some of them.
    pub inputs: Vec<u32>,
    /// What each position predicts, `(T, B)`; the encoder reads these (the words and `<eos>`).
    pub targets: Tensor,
    /// 1 on real positions, 0 on padding, `(T, B)`.
    pub mask: Tensor,
    /// 1 at each sentence's last position only, `(T, B, 1)`: picks the encoder's final state.
    pub last: Tensor,
    pub lengths: Vec<usize>,
}

impl TokenBatch {
    /// `sentences[i]` as [`Vocabulary::encode`] gives it: `<bos>`, word ids, `<eos>`.
    pub fn new(sentences: &[&[u32]], dev: &Device) -> Result<Self> {
        let mut lengths = Vec::with_capacity(sentences.len());
        for (i, s) in sentences.iter().enumerate() {
            if s.len() < 2 || s[0] != Vocabulary::BOS || s[s.len() - 1] != Vocabulary::EOS {
                candle_core::bail!("sentence {i} is not <bos> ... <eos> ({} ids)", s.len());
            }
            lengths.push(s.len() - 1);
        }
        let (t_max, b) = (lengths.iter().copied().max().unwrap_or(0), sentences.len());
        let mut inputs = vec![Vocabulary::PAD; t_max * b];
        let mut targets = vec![Vocabulary::PAD; t_max * b];
        let mut mask = vec![0f32; t_max * b];
        let mut last = vec![0f32; t_max * b];
        for (i, s) in sentences.iter().enumerate() {
            for t in 0..lengths[i] {
                inputs[t * b + i] = s[t];
                targets[t * b + i] = s[t + 1];
                mask[t * b + i] = 1.0;
            }
            last[(lengths[i] - 1) * b + i] = 1.0;
        }
        Ok(Self {
            targets: Tensor::from_vec(targets, (t_max, b), dev)?,
            mask: Tensor::from_vec(mask, (t_max, b), dev)?,
            last: Tensor::from_vec(last, (t_max, b, 1), dev)?,
            inputs,
            lengths,
        })
    }

    pub fn size(&self) -> usize {
        self.lengths.len()
    }

    /// Predicted tokens (words and `<eos>`) in the batch.
    pub fn tokens(&self) -> usize {
        self.lengths.iter().sum()
    }

    /// The decoder's inputs with each word (never `<bos>` or padding) replaced by `<unk>` with
    /// probability `word_dropout` (Bowman et al.'s word dropout; 0 gives the inputs unchanged).
    pub fn decoder_inputs(&self, word_dropout: f64, rng: &mut SeededRng) -> Result<Tensor> {
        let dev = self.targets.device();
        let (t_max, b) = self.targets.dims2()?;
        let mut ids = self.inputs.clone();
        if word_dropout > 0.0 {
            // The first row is every sentence's <bos>: kept, so the decoder knows where it starts.
            for id in ids.iter_mut().skip(b) {
                if *id != Vocabulary::PAD && rng.uniform_f64() < word_dropout {
                    *id = Vocabulary::UNK;
                }
            }
        }
        Tensor::from_vec(ids, (t_max, b), dev)
    }

    /// The batch repeated `k` times along the batch axis (copy `j` of sentence `i` at `j * B + i`).
    pub fn repeat(&self, k: usize) -> Result<Self> {
        let (t_max, b) = self.targets.dims2()?;
        let mut inputs = Vec::with_capacity(self.inputs.len() * k);
        for t in 0..t_max {
            for _ in 0..k {
                inputs.extend_from_slice(&self.inputs[t * b..(t + 1) * b]);
            }
        }
        Ok(Self {
            inputs,
            targets: Tensor::cat(&vec![&self.targets; k], 1)?,
            mask: Tensor::cat(&vec![&self.mask; k], 1)?,
            last: Tensor::cat(&vec![&self.last; k], 1)?,
            lengths: self.lengths.repeat(k),
        })
    }
}

/// One split's sentences as batches of similar length (less padding).
#[derive(Clone)]
pub struct TokenData {
    pub batches: Vec<TokenBatch>,
    /// `order[k]` is the index (into the sentences given to [`TokenData::new`]) of the `k`-th
    /// sentence in batch order, so per-sentence results can be matched with labels.
    pub order: Vec<usize>,
}

impl TokenData {
    pub fn new(sentences: &[Vec<u32>], batch_size: usize, dev: &Device) -> Result<Self> {
        let lengths: Vec<usize> = sentences.iter().map(Vec::len).collect();
        let buckets = super::sequences::length_buckets(&lengths, batch_size);
        let batches = buckets
            .iter()
            .map(|idx| TokenBatch::new(&idx.iter().map(|&i| sentences[i].as_slice()).collect::<Vec<_>>(), dev))
            .collect::<Result<_>>()?;
        Ok(Self { batches, order: buckets.concat() })
    }

    pub fn sentences(&self) -> usize {
        self.order.len()
    }

    pub fn tokens(&self) -> usize {
        self.batches.iter().map(TokenBatch::tokens).sum()
    }
}

/// What the sentence models train on: prepared batches of training sentences and the validation
/// split that early stopping watches; for the command line, the test split and the vocabulary.
pub struct SentenceSplits {
    pub train: TokenData,
    pub valid: TokenData,
    pub test: Option<TokenData>,
    pub vocab: Option<Vocabulary>,
}
