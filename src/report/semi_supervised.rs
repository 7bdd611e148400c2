//! The experiment of a chapter to come, "Classifying from 100 labels": the semi-supervised VAE
//! (M2) of Kingma et al. 2014 against what the same 100 labels give without the unlabelled
//! digits (the same classifier network alone, k-NN on pixels and on an unsupervised VAE's codes),
//! over several draws of the labels. Not in the book yet: trained for the budget of
//! [`SemiSupervisedConfig::book`], M2's classifier is still worse than the same network trained on
//! the labels alone, and the chapter waits for a run that shows what M2 can do.

use super::{ReportError, mean_sd};
use crate::classic::latent;
use crate::data::labelled::FewLabels;
use crate::data::{Images, Mnist};
use crate::models::m2::{self, BOOK_RUN, LabelsOnly, M2, M2Config};
use crate::plot::{self, ImageGrid, Lines};
use crate::train::{EpochRecord, Run, RunConfig, TrainConfig, Trainer, quick_requested};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The paper's M2 test error with 100 labels (Kingma et al. 2014, Table 1, MNIST), mean and
/// standard deviation over runs, in percent.
pub const PAPER_M2: (f64, f64) = (11.97, 1.71);
/// The paper's M1+M2 (M2 on the codes of a VAE trained first) with 100 labels, percent.
pub const PAPER_M1_M2: (f64, f64) = (3.33, 0.14);
/// Pyro's SS-VAE tutorial with 100 labels: test accuracy in percent, mean and the 95% bound over
/// five draws of the labels.
pub const PYRO_ACCURACY: (f64, f64) = (93.19, 0.60);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SemiSupervisedConfig {
    pub model: M2Config,
    /// M2's run: epochs over the unlabelled digits, batch, rate; each draw uses its own seed.
    pub run: RunConfig,
    /// The classifier trained on the labelled digits alone (one step per epoch with 100 labels).
    pub labels_only: RunConfig,
    pub per_class: usize,
    /// One draw of the labels (and of the initial weights) per seed.
    pub seeds: Vec<u64>,
    /// The unsupervised VAE whose codes the k-NN baseline classifies.
    pub vae: TrainConfig,
    /// Neighbours that vote in the k-NN baselines.
    pub k: usize,
    /// Codes per label for M2's importance-sampled test likelihood.
    pub importance_per_label: usize,
    /// Use only the first N training and test digits (small configurations).
    pub train_size: Option<usize>,
    pub test_size: Option<usize>,
}

impl SemiSupervisedConfig {
    pub fn book() -> Self {
        let mut vae = TrainConfig::default();
        vae.model.latent_dim = M2Config::default().latent_dim;
        Self {
            model: M2Config::default(),
            run: BOOK_RUN,
            labels_only: RunConfig { epochs: 200, batch_size: 100, ..BOOK_RUN },
            per_class: 10,
            seeds: vec![1, 2, 3],
            vae,
            k: 5,
            importance_per_label: 100,
            train_size: None,
            test_size: None,
        }
    }

    /// Two seeds, two epochs, small networks on 1,000 digits (`VAE_BOOK_QUICK=1`).
    pub fn quick() -> Self {
        let book = Self::book();
        Self {
            model: M2Config { hidden: 64, latent_dim: 8, ..book.model },
            run: RunConfig { epochs: 2, ..book.run },
            labels_only: RunConfig { epochs: 20, ..book.labels_only },
            seeds: vec![1, 2],
            vae: TrainConfig { epochs: 2, ..book.vae },
            importance_per_label: 5,
            train_size: Some(1000),
            test_size: Some(200),
            ..book
        }
    }

    pub fn from_env() -> Self {
        if quick_requested() { Self::quick() } else { Self::book() }
    }
}

/// One draw of the labels: every method's test error, and M2's curve and scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrawResult {
    pub seed: u64,
    /// Test error rates (fractions) of M2's classifier q(y | x), of the same network trained on
    /// the labelled digits alone, and of k-NN with the labelled digits' pixels or VAE codes as pool.
    pub m2: f64,
    pub labels_only: f64,
    pub knn_pixels: f64,
    pub knn_vae: f64,
    /// M2's test error after each epoch (watched, not used to choose: the last epoch is reported).
    pub m2_curve: Vec<f64>,
    /// M2's test bound with the label summed out and its importance-sampled -log p(x), nats.
    pub m2_bound: f64,
    pub m2_nll: f64,
    pub m2_seconds_per_epoch: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SemiSupervisedResults {
    pub config: SemiSupervisedConfig,
    pub train_images: usize,
    pub test_images: usize,
    /// The share of the most frequent test label: the error of always answering it is 1 minus this.
    pub test_majority: f64,
    pub draws: Vec<DrawResult>,
}

fn digits(cfg: &SemiSupervisedConfig) -> Result<Mnist, ReportError> {
    Ok(Mnist::embedded().map_err(crate::train::TrainError::from)?.cut((cfg.train_size, cfg.test_size)))
}

/// Test error of a k-NN classifier whose pool is the labelled rows of `train`.
fn knn_error(train: &Tensor, test: &Tensor, few: &FewLabels, k: usize) -> Result<f64, ReportError> {
    let labels = (&few.images.train_labels[..], &few.images.test_labels[..]);
    Ok(1.0 - latent::knn_accuracy((train, test), &few.labelled, labels, k)?)
}

/// The test error after each epoch of `history`.
fn errors(history: &[EpochRecord]) -> Vec<f64> {
    let error = |e: &EpochRecord| e.eval.terms.iter().find(|(n, _)| n == "error").map(|(_, v)| *v);
    history.iter().filter_map(error).collect()
}

/// One draw: labels drawn with `seed`, M2 and the labels-only classifier trained from that seed.
fn draw(
    cfg: &SemiSupervisedConfig,
    data: &Mnist,
    codes: (&Tensor, &Tensor),
    seed: u64,
    log: &mut dyn FnMut(String),
) -> Result<(DrawResult, M2, FewLabels), ReportError> {
    let dev = codes.0.device();
    let few = FewLabels::draw(Images::from_mnist(data, dev)?, cfg.per_class, seed)
        .map_err(|e| ReportError::File { path: "embedded digits".into(), msg: e.to_string() })?;
    let mut run = Run::<M2>::new(cfg.model, RunConfig { seed, ..cfg.run }, dev)?;
    run.fit(&few, |e| {
        let error = errors(std::slice::from_ref(e)).first().copied().unwrap_or(f64::NAN);
        log(format!("    seed {seed}, M2 epoch {}: objective {:.2}, test error {error:.3}", e.epoch, e.train_loss))
    })?;
    let mut alone = Run::<LabelsOnly>::new(cfg.model, RunConfig { seed, ..cfg.labels_only }, dev)?;
    alone.fit(&few, |_| {})?;
    let (x_test, test_labels) = (&few.images.test, &few.images.test_labels);
    let (m2_bound, m2_error) = m2::evaluate(&run.model, x_test, test_labels, seed)?;
    let m2_nll = m2::importance_nll(&run.model, x_test, cfg.importance_per_label, seed)?;
    let result = DrawResult {
        seed,
        m2: m2_error,
        labels_only: errors(&alone.history).last().copied().unwrap_or(f64::NAN),
        knn_pixels: knn_error(&few.images.train, x_test, &few, cfg.k)?,
        knn_vae: knn_error(codes.0, codes.1, &few, cfg.k)?,
        m2_curve: errors(&run.history),
        m2_bound,
        m2_nll,
        m2_seconds_per_epoch: run.history.iter().map(|e| e.seconds).sum::<f64>() / run.history.len().max(1) as f64,
    };
    log(format!(
        "    seed {seed}: test error M2 {:.3}, labels only {:.3}, k-NN pixels {:.3}, k-NN VAE codes {:.3}",
        result.m2, result.labels_only, result.knn_pixels, result.knn_vae
    ));
    Ok((result, run.model, few))
}

/// Trains everything and draws the two figures into `fig_dir`.
pub fn run(
    cfg: &SemiSupervisedConfig,
    dev: &Device,
    fig_dir: &Path,
    log: &mut dyn FnMut(String),
) -> Result<(SemiSupervisedResults, Vec<PathBuf>), ReportError> {
    let data = digits(cfg)?;
    log("  semi-supervised: an unsupervised VAE for the k-NN baseline's codes".into());
    let vae = super::continue_to_end(Trainer::with_data(cfg.vae.clone(), data.clone(), dev)?, &mut |_| {})?;
    let (x_train, x_test) = (data.train.images(dev)?, data.test.images(dev)?);
    let codes = (latent::encode_means(&vae.model, &x_train)?, latent::encode_means(&vae.model, &x_test)?);
    let mut draws = Vec::new();
    let mut first = None;
    for &seed in &cfg.seeds {
        log(format!("  semi-supervised: labels drawn with seed {seed}"));
        let (result, model, few) = draw(cfg, &data, (&codes.0, &codes.1), seed, log)?;
        draws.push(result);
        first.get_or_insert((model, few));
    }
    let mut counts = [0usize; 256];
    data.test.labels.iter().for_each(|&l| counts[l as usize] += 1);
    let results = SemiSupervisedResults {
        config: cfg.clone(),
        train_images: data.train.len(),
        test_images: data.test.len(),
        test_majority: counts.iter().copied().max().unwrap_or(0) as f64 / data.test.len().max(1) as f64,
        draws,
    };
    let mut written = vec![error_figure(&results, fig_dir)?];
    if let Some((model, few)) = first {
        written.push(analogies_figure(&model, &few, fig_dir)?);
    }
    Ok((results, written))
}

/// M2's test error after each epoch, one line per draw, beside the labels-only classifier's mean.
fn error_figure(r: &SemiSupervisedResults, dir: &Path) -> Result<PathBuf, ReportError> {
    let path = dir.join("m2-error.png");
    let names: Vec<String> = r.draws.iter().map(|d| format!("M2, labels drawn with seed {}", d.seed)).collect();
    let curves: Vec<Vec<(f32, f32)>> = r
        .draws
        .iter()
        .map(|d| d.m2_curve.iter().enumerate().map(|(e, v)| (e as f32 + 1.0, 100.0 * *v as f32)).collect())
        .collect();
    let (alone, _) = mean_sd(&r.draws.iter().map(|d| d.labels_only).collect::<Vec<_>>());
    let flat = vec![(1.0, 100.0 * alone as f32), (r.config.run.epochs as f32, 100.0 * alone as f32)];
    let mut series: Vec<(&str, &[(f32, f32)])> =
        names.iter().map(String::as_str).zip(curves.iter().map(Vec::as_slice)).collect();
    series.push(("the classifier on the labels alone (mean)", &flat));
    let how = Lines { integer_x: true, reference_last: true, ..Lines::default() };
    let title = "Test error of M2's classifier q(y | x) after each epoch";
    plot::lines(&series, how, title, ("epoch", "test error (%)"), &path)?;
    Ok(path)
}

/// One test digit of each class and its style decoded with every label (the paper's Figure 1).
fn analogies_figure(model: &M2, few: &FewLabels, dir: &Path) -> Result<PathBuf, ReportError> {
    let path = dir.join("m2-analogies.png");
    let labels = &few.images.test_labels;
    let picks: Vec<u32> = (0..10u8).filter_map(|d| labels.iter().position(|&l| l == d)).map(|i| i as u32).collect();
    let x = few.images.test.index_select(&Tensor::from_slice(&picks, picks.len(), few.images.test.device())?, 0)?;
    let k = model.cfg.classes;
    let drawn = m2::analogies(model, &x)?.reshape((picks.len(), k, model.cfg.input_dim))?;
    let images = Tensor::cat(&[&x.unsqueeze(1)?, &drawn], 1)?.flatten_all()?.to_vec1::<f32>()?;
    let title = "A test digit (left), then its style z decoded with each label 0-9";
    ImageGrid { images: &images, side: 28, rows: picks.len(), cols: k + 1, title, row_labels: None, scale: 2 }
        .save(&path)?;
    Ok(path)
}

/// `mean ± sd | a, b, c` of error rates, in percent.
fn spread(values: &[f64]) -> String {
    let (mean, sd) = mean_sd(values);
    let each: Vec<String> = values.iter().map(|v| format!("{:.1}", 100.0 * v)).collect();
    format!("{:.1} ± {:.1} | {}", 100.0 * mean, 100.0 * sd, each.join(", "))
}

/// The table: every method's test error over the draws, then the published anchors.
pub fn table(r: &SemiSupervisedResults) -> String {
    let c = &r.config;
    let labelled = c.per_class * c.model.classes;
    let unlabelled = r.train_images.saturating_sub(labelled);
    let column = |f: fn(&DrawResult) -> f64| spread(&r.draws.iter().map(f).collect::<Vec<_>>());
    let seeds: Vec<String> = c.seeds.iter().map(u64::to_string).collect();
    let mut out = format!(
        "| method ({labelled} labels, {} per class) | test error (%), mean ± sd | each draw (seeds {}) |\n\
         |---|---:|---:|\n",
        c.per_class,
        seeds.join(", ")
    );
    out += &format!("| always the test set's most frequent digit | {:.1} | |\n", 100.0 * (1.0 - r.test_majority));
    out += &format!("| {}-NN on the labelled digits' pixels | {} |\n", c.k, column(|d| d.knn_pixels));
    let vae_dim = c.vae.model.latent_dim;
    out += &format!(
        "| {}-NN on the codes of a VAE trained without labels ({vae_dim}-D) | {} |\n",
        c.k,
        column(|d| d.knn_vae)
    );
    out += &format!("| M2's classifier network trained on the labels alone | {} |\n", column(|d| d.labels_only));
    let (n_u, epochs) = (super::thousands(unlabelled), c.run.epochs);
    out += &format!("| **M2**, with the {n_u} unlabelled digits, {epochs} epochs | **{}** |\n", column(|d| d.m2));
    out += &format!(
        "\nTest error on the {} embedded test digits, {} draws of the labels (each with its own initial weights). \
         Published, on MNIST's official 10,000 test digits with the same {labelled} labels but 49,900 unlabelled \
         digits: M2 {:.2} ± {:.2}, M1+M2 {:.2} ± {:.2} (Kingma et al. 2014, Table 1); Pyro's SS-VAE tutorial, \
         accuracy {:.2}% (± {:.2}, a 95% bound over five draws), an error of {:.2}%.\n",
        super::thousands(r.test_images),
        r.draws.len(),
        PAPER_M2.0,
        PAPER_M2.1,
        PAPER_M1_M2.0,
        PAPER_M1_M2.1,
        PYRO_ACCURACY.0,
        PYRO_ACCURACY.1,
        100.0 - PYRO_ACCURACY.0
    );
    let bound = mean_sd(&r.draws.iter().map(|d| d.m2_bound).collect::<Vec<_>>()).0;
    let nll = mean_sd(&r.draws.iter().map(|d| d.m2_nll).collect::<Vec<_>>()).0;
    out += &format!(
        "\nM2 as a density model of the test digits (mean over the draws, nats per image): −ELBO with the label \
         summed out {bound:.2}; −log p(x) by importance sampling with {} codes per label {nll:.2}.\n",
        c.importance_per_label
    );
    out
}
