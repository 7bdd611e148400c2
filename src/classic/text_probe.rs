//! Linear classifiers ("probes") for sentences: softmax regression on a VAE's latent means, or on
//! a bag of words (each word's count divided by the sentence length). Both are trained the same
//! way (Adam, mini-batches, the epoch with the best validation accuracy kept), so the comparison
//! is between the features, not between the classifiers.

use crate::prob::SeededRng;
use crate::train::{LossTerms, Model, Run, Schedule, Score, Step, TrainError};
use candle_core::{D, DType, Device, Result, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

/// A split's features and labels.
pub enum Features<'a> {
    /// `(N, d)` rows, one per sentence.
    Dense(&'a Tensor),
    /// Word ids of each sentence (no `<bos>`/`<eos>`), and the vocabulary size.
    Words(&'a [Vec<u32>], usize),
}

impl Features<'_> {
    fn len(&self) -> Result<usize> {
        match self {
            Features::Dense(x) => x.dim(0),
            Features::Words(w, _) => Ok(w.len()),
        }
    }
}

/// Softmax regression: `inputs` features to `classes` logits, weights starting at zero.
pub struct Probe {
    weight: Tensor,
    bias: Tensor,
}

/// The probe's sizes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProbeConfig {
    pub inputs: usize,
    pub classes: usize,
}

/// A split's features, owned (cheap for dense features: tensors are shared).
enum OwnedFeatures {
    Dense(Tensor),
    Words(Vec<Vec<u32>>, usize),
}

impl OwnedFeatures {
    fn new(f: &Features) -> Self {
        match f {
            Features::Dense(x) => OwnedFeatures::Dense((*x).clone()),
            Features::Words(w, v) => OwnedFeatures::Words(w.to_vec(), *v),
        }
    }

    fn borrow(&self) -> Features<'_> {
        match self {
            OwnedFeatures::Dense(x) => Features::Dense(x),
            OwnedFeatures::Words(w, v) => Features::Words(w, *v),
        }
    }
}

/// What a probe trains on: training features and labels, the validation split whose accuracy
/// early stopping watches, and the training mean and deviation of dense features.
pub struct ProbeData {
    train: OwnedFeatures,
    labels: Tensor,
    valid: OwnedFeatures,
    valid_labels: Vec<u32>,
    /// Training-set mean and standard deviation of dense features (`None` for words).
    scale: Option<(Tensor, Tensor)>,
}

impl Model for Probe {
    type Config = ProbeConfig;
    type Data = ProbeData;
    const NAME: &'static str = "probe";

    fn new(cfg: &ProbeConfig, vb: VarBuilder) -> Result<Self> {
        // Named without a layer prefix, so the seeded initialisation leaves them at zero.
        let weight = vb.get_with_hints((cfg.inputs, cfg.classes), "weight", candle_nn::Init::Const(0.0))?;
        let bias = vb.get_with_hints(cfg.classes, "bias", candle_nn::Init::Const(0.0))?;
        Ok(Self { weight, bias })
    }

    fn rows(data: &ProbeData) -> usize {
        data.labels.dims()[0]
    }

    fn loss(&self, _cfg: &ProbeConfig, data: &ProbeData, at: Step, _noise: &mut SeededRng) -> Result<LossTerms> {
        let y = data.labels.index_select(&Tensor::from_slice(at.rows, at.rows.len(), data.labels.device())?, 0)?;
        let logits = self.logits(&data.train.borrow(), at.rows, &data.scale)?;
        Ok(LossTerms::plain(candle_nn::loss::cross_entropy(&logits, &y)?))
    }

    /// One minus the validation accuracy.
    fn evaluate(&self, _cfg: &ProbeConfig, data: &ProbeData, _seed: u64) -> Result<Score> {
        let accuracy = self.accuracy(&data.valid.borrow(), &data.valid_labels, &data.scale)?;
        Ok(Score { loss: 1.0 - accuracy, terms: Vec::new() })
    }
}

impl Probe {
    fn logits(&self, f: &Features, rows: &[u32], scale: &Option<(Tensor, Tensor)>) -> Result<Tensor> {
        let dev = self.weight.device();
        let idx = Tensor::from_slice(rows, rows.len(), dev)?;
        let x = match (f, scale) {
            (Features::Dense(x), Some((mean, sd))) => {
                let x = x.detach().index_select(&idx, 0)?.broadcast_sub(mean)?.broadcast_div(sd)?;
                x.matmul(&self.weight)?
            }
            (Features::Words(words, _), _) => {
                // A bag of words times a weight matrix = the mean of the words' weight rows.
                let longest = rows.iter().map(|&r| words[r as usize].len()).max().unwrap_or(0).max(1);
                let (mut ids, mut w) = (vec![0u32; rows.len() * longest], vec![0f32; rows.len() * longest]);
                for (i, &r) in rows.iter().enumerate() {
                    let s = &words[r as usize];
                    for (j, &id) in s.iter().enumerate() {
                        ids[i * longest + j] = id;
                        w[i * longest + j] = 1.0 / s.len() as f32;
                    }
                }
                let classes = self.weight.dim(1)?;
                let picked = self.weight.index_select(&Tensor::from_vec(ids, rows.len() * longest, dev)?, 0)?;
                let w = Tensor::from_vec(w, (rows.len(), longest, 1), dev)?;
                picked.reshape((rows.len(), longest, classes))?.broadcast_mul(&w)?.sum(1)?
            }
            _ => candle_core::bail!("dense features need their training mean and deviation"),
        };
        x.broadcast_add(&self.bias)
    }

    fn accuracy(&self, f: &Features, labels: &[u32], scale: &Option<(Tensor, Tensor)>) -> Result<f64> {
        Ok(Accuracy::of(&self.guesses(f, labels.len(), scale)?, labels).plain)
    }

    /// The most likely class of each of `n` feature rows.
    fn guesses(&self, f: &Features, n: usize, scale: &Option<(Tensor, Tensor)>) -> Result<Vec<u32>> {
        if f.len()? != n {
            candle_core::bail!("{} feature rows but {n} labels", f.len()?);
        }
        let rows: Vec<u32> = (0..n as u32).collect();
        let mut out = Vec::with_capacity(n);
        for chunk in rows.chunks(1024) {
            out.extend(self.logits(f, chunk, scale)?.argmax(D::Minus1)?.to_vec1::<u32>()?);
        }
        Ok(out)
    }
}

/// Accuracy two ways: the share of right answers, and the mean over the classes present of the
/// share of each class answered right (balanced accuracy: one over the number of classes present
/// for a constant answer that is one of them, whatever the classes' sizes; 0 for one that is not).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Accuracy {
    pub plain: f64,
    pub balanced: f64,
}

impl Accuracy {
    pub fn of(guesses: &[u32], labels: &[u32]) -> Self {
        let mut per_class = std::collections::BTreeMap::<u32, (usize, usize)>::new();
        for (&g, &l) in guesses.iter().zip(labels) {
            let e = per_class.entry(l).or_default();
            e.0 += usize::from(g == l);
            e.1 += 1;
        }
        let right: usize = per_class.values().map(|c| c.0).sum();
        let recall: f64 = per_class.values().map(|&(r, n)| r as f64 / n as f64).sum();
        Self { plain: right as f64 / labels.len().max(1) as f64, balanced: recall / per_class.len().max(1) as f64 }
    }
}

/// What a probe scored.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProbeScore {
    pub valid_accuracy: f64,
    pub test: Accuracy,
    pub best_epoch: usize,
}

/// Trains softmax regression on `train` and scores it on `valid` and `test` (labels below
/// `classes`), keeping the epoch with the best validation accuracy.
pub fn probe(
    train: (Features, &[u32]),
    valid: (Features, &[u32]),
    test: (Features, &[u32]),
    classes: usize,
    schedule: Schedule,
) -> std::result::Result<ProbeScore, TrainError> {
    let n = train.0.len()?;
    if n != train.1.len() || n == 0 {
        return Err(candle_core::Error::Msg(format!("{n} training rows but {} labels", train.1.len())).into());
    }
    if let Some(bad) = train.1.iter().chain(valid.1).chain(test.1).find(|&&c| c as usize >= classes) {
        return Err(candle_core::Error::Msg(format!("label {bad} is not below the {classes} classes")).into());
    }
    let dev = Device::Cpu;
    let (inputs, scale) = match &train.0 {
        Features::Dense(x) => {
            let x = x.to_dtype(DType::F32)?;
            let mean = x.mean_keepdim(0)?;
            let sd = (x.broadcast_sub(&mean)?.sqr()?.mean_keepdim(0)? + 1e-6)?.sqrt()?;
            (x.dim(1)?, Some((mean, sd)))
        }
        Features::Words(_, vocab) => (*vocab, None),
    };
    let data = ProbeData {
        train: OwnedFeatures::new(&train.0),
        labels: Tensor::from_slice(train.1, n, &dev)?,
        valid: OwnedFeatures::new(&valid.0),
        valid_labels: valid.1.to_vec(),
        scale,
    };
    let mut run = Run::<Probe>::new(ProbeConfig { inputs, classes }, schedule.into(), &dev)?;
    run.fit(&data, |_| {})?;
    let probe = &run.model;
    Ok(ProbeScore {
        valid_accuracy: probe.accuracy(&valid.0, valid.1, &data.scale)?,
        test: Accuracy::of(&probe.guesses(&test.0, test.1.len(), &data.scale)?, test.1),
        best_epoch: run.best.epoch,
    })
}

/// The most frequent label of `labels` (the smallest one on a tie).
pub fn majority(labels: &[u32]) -> Option<u32> {
    let mut counts = std::collections::HashMap::<u32, usize>::new();
    for &c in labels {
        *counts.entry(c).or_default() += 1;
    }
    counts.into_iter().max_by_key(|&(c, n)| (n, std::cmp::Reverse(c))).map(|(c, _)| c)
}

/// The accuracy on `test` of always answering `label`.
pub fn constant_accuracy(label: Option<u32>, test: &[u32]) -> Accuracy {
    Accuracy::of(&vec![label.unwrap_or(u32::MAX); test.len()], test)
}
