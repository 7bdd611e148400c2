//! The semi-supervised VAE "M2" of Kingma, Rezende, Mohamed and Welling (2014): the label `y` is
//! a second latent variable, observed for a few images and summed out for the rest.
//!
//! Generative model: `p(y)` uniform over the classes, `p(z) = N(0, I)`, `p(x | y, z)` Bernoulli
//! whose logits an MLP computes from `[z, y]`. Inference: a classifier `q(y | x)` and a Gaussian
//! `q(z | x, y)`. For a labelled image the bound is the CVAE's plus `log p(y)`; for an unlabelled
//! one, the bound of every label weighted by `q(y | x)`, plus the entropy of `q(y | x)`. Only the
//! labelled images teach the classifier directly, through a cross-entropy term of weight alpha.

use crate::data::labelled::FewLabels;
use crate::estimators::{self, LogWeights};
use crate::models::cvae::one_hot;
use crate::prob::{self, SeededRng};
use crate::train::{LossTerms, Model, RunConfig, Score, Step};
use candle_core::{D, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder, linear};
use serde::{Deserialize, Serialize};

/// Labels kept per class by default: 100 in all, the paper's hardest setting.
pub const LABELS_PER_CLASS: usize = 10;
/// The chapter's run: 30 epochs over the unlabelled digits, batches of 100, Adam at 1e-3.
pub const BOOK_RUN: RunConfig = RunConfig { epochs: 30, batch_size: 100, lr: 1e-3, seed: 42, patience: None };

/// Test images per chunk when a whole set is scored (each decoded once per class).
const EVAL_CHUNK: usize = 500;

/// One commented configuration: the paper's sizes, with ReLU for its softplus.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct M2Config {
    pub input_dim: usize,
    /// Units of the one hidden layer of each of the three networks (the paper: 500).
    pub hidden: usize,
    /// Dimensions of z (the paper: 50).
    pub latent_dim: usize,
    pub classes: usize,
    /// The weight of the classification term, as the paper's multiple of the data size N
    /// (alpha = 0.1 N in all its experiments): the objective per image carries `alpha * mean
    /// cross-entropy over the labelled images`.
    pub alpha: f64,
    /// Labelled images per gradient step, beside the step's unlabelled batch.
    pub labelled_batch: usize,
}

impl Default for M2Config {
    fn default() -> Self {
        Self { input_dim: 784, hidden: 500, latent_dim: 50, classes: 10, alpha: 0.1, labelled_batch: 100 }
    }
}

// ANCHOR: classifier
/// `q(y | x)`: one hidden layer, then class logits.
pub struct LabelClassifier {
    hidden: Linear,
    out: Linear,
}

impl LabelClassifier {
    pub fn new(cfg: &M2Config, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            hidden: linear(cfg.input_dim, cfg.hidden, vb.pp("hidden"))?,
            out: linear(cfg.hidden, cfg.classes, vb.pp("out"))?,
        })
    }

    /// Class logits, `(batch, classes)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.out.forward(&self.hidden.forward(x)?.relu()?)
    }

    /// The most probable label of every row of `x`.
    pub fn classify(&self, x: &Tensor) -> Result<Vec<u8>> {
        Ok(self.forward(x)?.argmax(D::Minus1)?.to_vec1::<u32>()?.into_iter().map(|g| g as u8).collect())
    }
}

/// How many of `guesses` differ from `labels`, as a fraction.
fn error_rate(guesses: &[u8], labels: &[u8]) -> f64 {
    guesses.iter().zip(labels).filter(|(g, l)| g != l).count() as f64 / labels.len().max(1) as f64
}
// ANCHOR_END: classifier

// ANCHOR: model
pub struct M2 {
    pub classifier: LabelClassifier,
    enc_hidden: Linear,
    mu: Linear,
    logvar: Linear,
    dec_hidden: Linear,
    dec_out: Linear,
    pub cfg: M2Config,
}

impl M2 {
    pub fn new(cfg: M2Config, vb: VarBuilder) -> Result<Self> {
        let (enc, dec) = (vb.pp("encoder"), vb.pp("decoder"));
        Ok(Self {
            classifier: LabelClassifier::new(&cfg, vb.pp("classifier"))?,
            enc_hidden: linear(cfg.input_dim + cfg.classes, cfg.hidden, enc.pp("hidden"))?,
            mu: linear(cfg.hidden, cfg.latent_dim, enc.pp("mu"))?,
            logvar: linear(cfg.hidden, cfg.latent_dim, enc.pp("logvar"))?,
            dec_hidden: linear(cfg.latent_dim + cfg.classes, cfg.hidden, dec.pp("hidden"))?,
            dec_out: linear(cfg.hidden, cfg.input_dim, dec.pp("out"))?,
            cfg,
        })
    }

    /// `q(z | x, y)`: mean and log-variance from the pixels and the one-hot label.
    pub fn encode(&self, x: &Tensor, y: &Tensor) -> Result<(Tensor, Tensor)> {
        let h = self.enc_hidden.forward(&Tensor::cat(&[x, y], 1)?)?.relu()?;
        Ok((self.mu.forward(&h)?, self.logvar.forward(&h)?))
    }

    /// [`M2::encode`] of every row of `x` with every label, label-major `(classes * batch, latent)`,
    /// the pixels' share of the first layer computed once: a layer on `[x, y]` is `W_x x + W_y y + b`,
    /// and with `y` one-hot, `W_y y` is a column of `W_y`.
    pub fn encode_every_label(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let (b, k, d) = (x.dim(0)?, self.cfg.classes, self.cfg.input_dim);
        let w = self.enc_hidden.weight();
        let from_x = x.matmul(&w.narrow(1, 0, d)?.t()?)?; // (batch, hidden)
        let from_x = match self.enc_hidden.bias() {
            Some(bias) => from_x.broadcast_add(bias)?,
            None => from_x,
        };
        let from_y = w.narrow(1, d, k)?.t()?.unsqueeze(1)?; // (classes, 1, hidden)
        let h = from_y.broadcast_add(&from_x.unsqueeze(0)?)?.reshape((k * b, self.cfg.hidden))?.relu()?;
        Ok((self.mu.forward(&h)?, self.logvar.forward(&h)?))
    }

    /// The pixels' logits under `p(x | y, z)`.
    pub fn decode(&self, z: &Tensor, y: &Tensor) -> Result<Tensor> {
        self.dec_out.forward(&self.dec_hidden.forward(&Tensor::cat(&[z, y], 1)?)?.relu()?)
    }

    /// `-log p(x | y, z)` per row.
    pub fn reconstruction(&self, x: &Tensor, z: &Tensor, y: &Tensor) -> Result<Tensor> {
        prob::bernoulli_log_likelihood_logits(x, &self.decode(z, y)?)?.neg()
    }

    /// `-L(x, y)` per row: the negative bound on `log p(x, y)` with one code drawn by `eps`,
    /// `-log p(x | y, z) + KL(q(z | x, y) || p(z)) - log p(y)`.
    pub fn labelled_bound(&self, x: &Tensor, y: &Tensor, eps: &Tensor) -> Result<Tensor> {
        self.bound_given_code(x, y, self.encode(x, y)?, eps)
    }

    /// [`M2::labelled_bound`] with `q(z | x, y)`'s mean and log-variance already computed.
    fn bound_given_code(&self, x: &Tensor, y: &Tensor, (mu, logvar): (Tensor, Tensor), eps: &Tensor) -> Result<Tensor> {
        let z = prob::reparameterize(&mu, &logvar, eps)?;
        let recon = self.reconstruction(x, &z, y)?;
        let kl = prob::kl_standard_normal(&mu, &logvar)?;
        (recon + kl)?.affine(1.0, (self.cfg.classes as f64).ln())
    }

    /// `-U(x)` per row: every label's `-L(x, y)` weighted by `q(y | x)`, minus the entropy of
    /// `q(y | x)`, the label summed out exactly. `eps` holds one code's noise per (label, image),
    /// `(classes * batch, latent)`, label-major.
    pub fn unlabelled_bound(&self, x: &Tensor, eps: &Tensor) -> Result<Tensor> {
        let (b, k) = (x.dim(0)?, self.cfg.classes);
        let labels: Vec<u8> = (0..k as u8).flat_map(|c| std::iter::repeat_n(c, b)).collect();
        let x_every = x.repeat((k, 1))?;
        let y_every = one_hot(&labels, k, x.device())?;
        let bounds = self.bound_given_code(&x_every, &y_every, self.encode_every_label(x)?, eps)?;
        let bounds = bounds.reshape((k, b))?.t()?; // (batch, classes)
        let log_q = candle_nn::ops::log_softmax(&self.classifier.forward(x)?, D::Minus1)?;
        // sum_y q(y|x) (-L(x, y) + log q(y|x)) = sum_y q(y|x) (-L(x, y)) - H(q(y|x))
        (log_q.exp()? * (bounds + &log_q)?)?.sum(D::Minus1)
    }
}
// ANCHOR_END: model

/// Mean cross-entropy of `q(y | x)` against `labels`.
fn cross_entropy(classifier: &LabelClassifier, x: &Tensor, labels: &[u8]) -> Result<Tensor> {
    let y = Tensor::from_vec(labels.iter().map(|&l| l as u32).collect::<Vec<_>>(), labels.len(), x.device())?;
    candle_nn::loss::cross_entropy(&classifier.forward(x)?, &y)
}

impl Model for M2 {
    type Config = M2Config;
    type Data = FewLabels;
    const NAME: &'static str = "m2";

    fn new(cfg: &M2Config, vb: VarBuilder) -> Result<Self> {
        M2::new(*cfg, vb)
    }

    /// An epoch is one pass over the unlabelled images.
    fn rows(data: &FewLabels) -> usize {
        data.unlabelled.len()
    }

    // ANCHOR: loss
    /// The paper's objective divided by the number of training images N: the two bounds weighted
    /// by the share of images of each kind, plus alpha times the labelled cross-entropy.
    fn loss(&self, cfg: &M2Config, data: &FewLabels, at: Step, noise: &mut SeededRng) -> Result<LossTerms> {
        let rows: Vec<u32> = at.rows.iter().map(|&r| data.unlabelled[r as usize]).collect();
        let labelled = data.labelled_batch(at.step, cfg.labelled_batch);
        let (x_u, x_l) = (data.images.batch(&rows)?, data.images.batch(&labelled)?);
        let labels = data.images.batch_labels(&labelled);
        let dev = x_u.device();
        let eps_u = noise.normal(&[cfg.classes * rows.len(), cfg.latent_dim], dev)?;
        let eps_l = noise.normal(&[labelled.len(), cfg.latent_dim], dev)?;
        let unlabelled = self.unlabelled_bound(&x_u, &eps_u)?.mean_all()?;
        let y_l = one_hot(&labels, cfg.classes, dev)?;
        let labelled_bound = self.labelled_bound(&x_l, &y_l, &eps_l)?.mean_all()?;
        let classification = cross_entropy(&self.classifier, &x_l, &labels)?;
        let (n_u, n_l) = (data.unlabelled.len() as f64, data.labelled.len() as f64);
        let objective = ((unlabelled.affine(n_u / (n_u + n_l), 0.0)?
            + labelled_bound.affine(n_l / (n_u + n_l), 0.0)?)?
            + classification.affine(cfg.alpha, 0.0)?)?;
        let terms = vec![("unlabelled", unlabelled), ("labelled", labelled_bound), ("classification", classification)];
        Ok(LossTerms::new(objective, terms))
    }
    // ANCHOR_END: loss

    /// The test images' `-U(x)` (a bound on `-log p(x)` with the label unknown, nats per image),
    /// and the classifier's test error.
    fn evaluate(&self, _cfg: &M2Config, data: &FewLabels, seed: u64) -> Result<Score> {
        let (bound, error) = evaluate(self, &data.images.test, &data.images.test_labels, seed)?;
        Ok(Score { loss: bound, terms: vec![("error".into(), error)] })
    }
}

/// Mean `-U(x)` over the rows of `x` (one code per image and label, noise from `seed`), and the
/// classifier's error rate against `labels`.
pub fn evaluate(model: &M2, x: &Tensor, labels: &[u8], seed: u64) -> Result<(f64, f64)> {
    let n = x.dim(0)?;
    let mut rng = SeededRng::derived(seed, "m2-eval", 0);
    let (mut bound, mut guesses) = (0.0, Vec::with_capacity(n));
    for s in (0..n).step_by(EVAL_CHUNK) {
        let m = EVAL_CHUNK.min(n - s);
        let chunk = x.narrow(0, s, m)?;
        let eps = rng.normal(&[model.cfg.classes * m, model.cfg.latent_dim], x.device())?;
        bound += model.unlabelled_bound(&chunk, &eps)?.sum_all()?.to_scalar::<f32>()? as f64;
        guesses.extend(model.classifier.classify(&chunk)?);
    }
    Ok((bound / n.max(1) as f64, error_rate(&guesses, labels)))
}

/// Analogies as in the paper's figure: each test image's style code (the mean of `q(z | x, y)`
/// with `y` the classifier's guess) decoded with every label, `(rows * classes, pixels)` of
/// pixel probabilities, image-major.
pub fn analogies(model: &M2, x: &Tensor) -> Result<Tensor> {
    let (n, k) = (x.dim(0)?, model.cfg.classes);
    let guess = one_hot(&model.classifier.classify(x)?, k, x.device())?;
    let (mu, _) = model.encode(x, &guess)?;
    let labels: Vec<u8> = (0..n).flat_map(|_| 0..k as u8).collect();
    let z = mu.unsqueeze(1)?.repeat((1, k, 1))?.reshape((n * k, model.cfg.latent_dim))?;
    candle_nn::ops::sigmoid(&model.decode(&z, &one_hot(&labels, k, x.device())?)?)
}

/// The classifier `q(y | x)` alone, trained on the labelled images only: the baseline that M2's
/// unlabelled images must beat.
pub struct LabelsOnly(pub LabelClassifier);

impl Model for LabelsOnly {
    type Config = M2Config;
    type Data = FewLabels;
    const NAME: &'static str = "m2-labels-only";

    fn new(cfg: &M2Config, vb: VarBuilder) -> Result<Self> {
        Ok(Self(LabelClassifier::new(cfg, vb.pp("classifier"))?))
    }

    fn rows(data: &FewLabels) -> usize {
        data.labelled.len()
    }

    fn loss(&self, _cfg: &M2Config, data: &FewLabels, at: Step, _noise: &mut SeededRng) -> Result<LossTerms> {
        let rows: Vec<u32> = at.rows.iter().map(|&r| data.labelled[r as usize]).collect();
        let x = data.images.batch(&rows)?;
        Ok(LossTerms::plain(cross_entropy(&self.0, &x, &data.images.batch_labels(&rows))?))
    }

    fn evaluate(&self, _cfg: &M2Config, data: &FewLabels, _seed: u64) -> Result<Score> {
        let (x, labels) = (&data.images.test, &data.images.test_labels);
        let ce = cross_entropy(&self.0, x, labels)?.to_scalar::<f32>()? as f64;
        Ok(Score { loss: ce, terms: vec![("error".into(), error_rate(&self.0.classify(x)?, labels))] })
    }
}

/// `-log p(x)` averaged over the rows of `x`, the label summed out exactly: for each label,
/// `per_label` codes from `q(z | x, y)` estimate `p(x | y)` by importance sampling, and with
/// `p(y)` uniform, `log p(x) = log (1/classes) sum_y p(x | y)`.
pub fn importance_nll(model: &M2, x: &Tensor, per_label: usize, seed: u64) -> Result<f64> {
    let (n, k) = (x.dim(0)?, model.cfg.classes);
    let mut rng = SeededRng::derived(seed, "m2-importance", per_label as u64);
    let mut by_label = LogWeights::new(n, k);
    for c in 0..k as u8 {
        let y = one_hot(&vec![c; n], k, x.device())?;
        let (mu, logvar) = model.encode(x, &y)?;
        let log_p_given_y = estimators::gaussian_importance_log_p((&mu, &logvar), per_label, &mut rng, |z| {
            model.reconstruction(x, z, &y)?.neg()
        })?;
        by_label.push_copies(&log_p_given_y);
    }
    let log_p = by_label.log_mean_exp();
    Ok(-log_p.iter().sum::<f64>() / log_p.len().max(1) as f64)
}
