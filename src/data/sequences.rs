//! Sequences as the recurrent models read them: 0/1 frames padded into time-major batches of
//! similar length, with a mask for the padding.

use candle_core::{Device, Result, Tensor};

/// Sequences of different lengths, padded to the longest: `x` is `(T, B, D)` time-major (so each
/// step is one slice), `mask` `(T, B)` has 1 on real steps and 0 on padding.
#[derive(Debug, Clone)]
pub struct SeqBatch {
    pub x: Tensor,
    pub mask: Tensor,
    pub lengths: Vec<usize>,
}

impl SeqBatch {
    /// `seqs[i]` is a `len_i x dim` row-major 0/1 matrix.
    pub fn new(seqs: &[&[f32]], dim: usize, dev: &Device) -> Result<Self> {
        let mut lengths = Vec::with_capacity(seqs.len());
        for (i, s) in seqs.iter().enumerate() {
            if s.is_empty() || s.len() % dim != 0 {
                candle_core::bail!("sequence {i} has {} values, not a positive multiple of {dim}", s.len());
            }
            lengths.push(s.len() / dim);
        }
        let (t_max, b) = (lengths.iter().copied().max().unwrap_or(0), seqs.len());
        let mut x = vec![0f32; t_max * b * dim];
        let mut mask = vec![0f32; t_max * b];
        for (i, s) in seqs.iter().enumerate() {
            for t in 0..lengths[i] {
                x[(t * b + i) * dim..(t * b + i + 1) * dim].copy_from_slice(&s[t * dim..(t + 1) * dim]);
                mask[t * b + i] = 1.0;
            }
        }
        Ok(Self {
            x: Tensor::from_vec(x, (t_max, b, dim), dev)?,
            mask: Tensor::from_vec(mask, (t_max, b), dev)?,
            lengths,
        })
    }

    /// Real (unpadded) steps in the batch.
    pub fn steps(&self) -> usize {
        self.lengths.iter().sum()
    }

    /// The batch repeated `k` times along the batch axis (copy `j` of sequence `i` at `j * B + i`).
    pub fn repeat(&self, k: usize) -> Result<Self> {
        let x = Tensor::cat(&vec![&self.x; k], 1)?;
        let mask = Tensor::cat(&vec![&self.mask; k], 1)?;
        Ok(Self { x, mask, lengths: self.lengths.repeat(k) })
    }
}

/// Groups sequences of similar length into batches of at most `batch_size` (less padding); the
/// order of the batches is left to the caller's shuffle.
pub fn length_buckets(lengths: &[usize], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| (lengths[i], i));
    order.chunks(batch_size.max(1)).map(<[usize]>::to_vec).collect()
}

/// Sequences of one split as padded batches of similar length (cheap to clone: tensors are shared).
#[derive(Clone)]
pub struct SeqData {
    pub batches: Vec<SeqBatch>,
}

impl SeqData {
    pub fn new(seqs: &[Vec<f32>], dim: usize, batch_size: usize, dev: &Device) -> Result<Self> {
        let lengths: Vec<usize> = seqs.iter().map(|s| s.len() / dim.max(1)).collect();
        let batches = length_buckets(&lengths, batch_size)
            .iter()
            .map(|idx| SeqBatch::new(&idx.iter().map(|&i| seqs[i].as_slice()).collect::<Vec<_>>(), dim, dev))
            .collect::<Result<_>>()?;
        Ok(Self { batches })
    }

    pub fn steps(&self) -> usize {
        self.batches.iter().map(SeqBatch::steps).sum()
    }
}

/// What the sequence models train on: prepared batches of the training split, the validation
/// split that early stopping watches, and (for the command line) the test split.
pub struct SeqSplits {
    pub train: SeqData,
    pub valid: SeqData,
    pub test: Option<SeqData>,
}
