//! Linear classifiers ("probes") for sentences: softmax regression on a VAE's latent means, or on
//! a bag of words (each word's count divided by the sentence length). Both are trained the same
//! way (Adam, mini-batches, the epoch with the best validation accuracy kept), so the comparison
//! is between the features, not between the classifiers.

use crate::train::{Schedule, TrainError, fit_with_early_stopping};
use candle_core::{D, DType, Device, Result, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};

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

struct Probe {
    weight: Var,
    bias: Var,
    /// Training-set mean and standard deviation of dense features (`None` for words).
    scale: Option<(Tensor, Tensor)>,
}

impl Probe {
    fn logits(&self, f: &Features, rows: &[u32]) -> Result<Tensor> {
        let dev = self.weight.device();
        let idx = Tensor::from_slice(rows, rows.len(), dev)?;
        let x = match (f, &self.scale) {
            (Features::Dense(x), Some((mean, sd))) => {
                let x = x.detach().index_select(&idx, 0)?.broadcast_sub(mean)?.broadcast_div(sd)?;
                x.matmul(self.weight.as_tensor())?
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
                let picked =
                    self.weight.as_tensor().index_select(&Tensor::from_vec(ids, rows.len() * longest, dev)?, 0)?;
                let w = Tensor::from_vec(w, (rows.len(), longest, 1), dev)?;
                picked.reshape((rows.len(), longest, classes))?.broadcast_mul(&w)?.sum(1)?
            }
            _ => candle_core::bail!("dense features need their training mean and deviation"),
        };
        x.broadcast_add(self.bias.as_tensor())
    }

    fn accuracy(&self, f: &Features, labels: &[u32]) -> Result<f64> {
        let n = f.len()?;
        if n != labels.len() {
            candle_core::bail!("{n} feature rows but {} labels", labels.len());
        }
        let mut right = 0usize;
        let rows: Vec<u32> = (0..n as u32).collect();
        for chunk in rows.chunks(1024) {
            let guess = self.logits(f, chunk)?.argmax(D::Minus1)?.to_vec1::<u32>()?;
            right += guess.iter().zip(chunk).filter(|(g, r)| **g == labels[**r as usize]).count();
        }
        Ok(right as f64 / n.max(1) as f64)
    }
}

/// What a probe scored.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProbeScore {
    pub valid_accuracy: f64,
    pub test_accuracy: f64,
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
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let (inputs, scale) = match &train.0 {
        Features::Dense(x) => {
            let x = x.to_dtype(DType::F32)?;
            let mean = x.mean_keepdim(0)?;
            let sd = (x.broadcast_sub(&mean)?.sqr()?.mean_keepdim(0)? + 1e-6)?.sqrt()?;
            (x.dim(1)?, Some((mean, sd)))
        }
        Features::Words(_, vocab) => (*vocab, None),
    };
    vb.get_with_hints((inputs, classes), "weight", candle_nn::Init::Const(0.0))?;
    vb.get_with_hints(classes, "bias", candle_nn::Init::Const(0.0))?;
    let vars = varmap.data().lock().map_err(|_| candle_core::Error::Msg("VarMap lock poisoned".into()))?.clone();
    let probe = Probe { weight: vars["weight"].clone(), bias: vars["bias"].clone(), scale };
    let labels = Tensor::from_slice(train.1, n, &dev)?;
    let step = |_epoch: usize, idx: &[u32], _noise: &mut crate::prob::SeededRng| -> Result<Tensor> {
        let y = labels.index_select(&Tensor::from_slice(idx, idx.len(), &dev)?, 0)?;
        candle_nn::loss::cross_entropy(&probe.logits(&train.0, idx)?, &y)
    };
    let valid_loss = || probe.accuracy(&valid.0, valid.1).map(|a| 1.0 - a);
    let fit = fit_with_early_stopping(&varmap, n, schedule, step, valid_loss, |_, _, _| {})?;
    Ok(ProbeScore {
        valid_accuracy: probe.accuracy(&valid.0, valid.1)?,
        test_accuracy: probe.accuracy(&test.0, test.1)?,
        best_epoch: fit.best_epoch,
    })
}

/// The accuracy of always answering the most frequent training label.
pub fn majority_accuracy(train: &[u32], test: &[u32]) -> f64 {
    let mut counts = std::collections::HashMap::<u32, usize>::new();
    for &c in train {
        *counts.entry(c).or_default() += 1;
    }
    let top = counts.into_iter().max_by_key(|&(c, n)| (n, std::cmp::Reverse(c))).map(|(c, _)| c);
    test.iter().filter(|&&c| Some(c) == top).count() as f64 / test.len().max(1) as f64
}
