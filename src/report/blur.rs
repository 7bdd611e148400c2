//! The blur chapter: how far generated images are from real ones in a classifier's features (a
//! Fréchet distance, the FID's recipe on our own classifier) and how sharp they are (gradient
//! energy), for held-out images, the VAE chapter's MLP VAE (reconstructions, samples as decoder
//! means, as Bernoulli pixels, and from a Gaussian fitted to the training codes instead of the
//! prior), a VAE-GAN of the same encoder and decoder, and an unstable VAE-GAN; on the digits and
//! on Fashion-MNIST.

use super::{ReportError, generated_dir, write_atomic, write_json};
use crate::classic::frechet::{FeatureStats, frechet_distance, sharpness};
use crate::data::{ImageSet, Images, Mnist};
use crate::figures;
use crate::models::classifier::{self, Classifier, ClassifierConfig};
use crate::models::vae::Autoencoder;
use crate::models::vae_gan::{self, VaeGan, VaeGanConfig};
use crate::prob::SeededRng;
use crate::train::{Run, RunConfig, TrainConfig, Trainer, quick_requested};
use candle_core::{Device, Tensor};
use nalgebra::DVector;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Pixels per side of the embedded images.
const SIDE: usize = 28;
/// Images per row of the figure.
const SHOWN: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlurConfig {
    pub data: Vec<ImageSet>,
    /// The classifier whose last hidden layer is the feature space.
    pub classifier: ClassifierConfig,
    pub classifier_run: RunConfig,
    /// The VAE chapter's MLP VAE (20-D code, Bernoulli decoder on grey levels). Its `data` field is
    /// not read: the VAE trains on each set of `data` in turn.
    pub vae: TrainConfig,
    /// The VAE-GAN with the same encoder and decoder, and the unstable one (gamma 0).
    pub vaegan: VaeGanConfig,
    pub vaegan_run: RunConfig,
    pub unstable: VaeGanConfig,
    pub unstable_run: RunConfig,
    /// Images generated per row of the table (the test set has 1,000).
    pub samples: usize,
    /// Embedded images used (`None`: all 9,000 training and 1,000 test images).
    pub train_size: Option<usize>,
    pub test_size: Option<usize>,
}

impl BlurConfig {
    pub fn book() -> Self {
        Self {
            data: ImageSet::ALL.to_vec(),
            classifier: ClassifierConfig::default(),
            classifier_run: classifier::BOOK_RUN,
            vae: TrainConfig { epochs: vae_gan::BOOK_RUN.epochs, ..super::book_configs().0 },
            vaegan: VaeGanConfig::default(),
            vaegan_run: vae_gan::BOOK_RUN,
            unstable: VaeGanConfig { gamma: 0.0, ..VaeGanConfig::default() },
            unstable_run: vae_gan::BOOK_RUN,
            samples: 1000,
            train_size: None,
            test_size: None,
        }
    }

    pub fn quick() -> Self {
        let mut c = Self::book();
        c.classifier_run.epochs = 2;
        c.vae = c.vae.quick();
        c.vaegan_run.epochs = 2;
        c.unstable_run.epochs = 2;
        c.samples = 200;
        c.train_size = Some(1000);
        c.test_size = Some(200);
        c
    }

    pub fn from_env() -> Self {
        if quick_requested() { Self::quick() } else { Self::book() }
    }
}

/// One set of images: its Fréchet distance to the training images and its sharpness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetScore {
    pub name: String,
    pub frechet: f64,
    pub sharpness: f64,
    /// The share of the images that the classifier puts in its most frequent class (a tenth for
    /// a set that covers the ten classes evenly; near 1 when a generator collapses onto one).
    pub top_class: f64,
}

/// The row names of the table, in order.
pub const ROWS: [&str; 8] = [
    "held-out images",
    "VAE reconstructions (decoder means)",
    "VAE samples: decoder means, z from N(0, I)",
    "VAE samples: pixels drawn from the Bernoulli",
    "VAE samples: z from a Gaussian fitted to the training codes",
    "VAE-GAN reconstructions",
    "VAE-GAN samples, z from N(0, I)",
    "unstable VAE-GAN samples",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlurData {
    pub set: ImageSet,
    /// The classifier's test error rate.
    pub classifier_error: f64,
    /// One score per row of [`ROWS`].
    pub scores: Vec<SetScore>,
    /// Fréchet distance of prior samples after every epoch: VAE, VAE-GAN, unstable VAE-GAN.
    pub vae_curve: Vec<f64>,
    pub vaegan_curve: Vec<f64>,
    pub unstable_curve: Vec<f64>,
    /// The VAE's test terms after its last epoch (nats per image).
    pub vae_recon: f64,
    pub vae_kl: f64,
    /// KL(N(m, C) || N(0, I)) of the Gaussian fitted to the training codes: how far the
    /// aggregate posterior's first two moments are from the prior's.
    pub fitted_kl: f64,
    /// The VAE-GAN's test terms after its last epoch.
    pub vaegan_terms: Vec<(String, f64)>,
    pub vaegan_seconds_per_epoch: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlurResults {
    pub config: BlurConfig,
    pub data: Vec<BlurData>,
}

/// Measures sets of images against the training images in the classifier's features.
struct Judge {
    classifier: Classifier,
    reference: FeatureStats,
}

impl Judge {
    fn new(classifier: Classifier, train: &Tensor) -> Result<Self, ReportError> {
        let d = classifier.cfg.features;
        let reference = FeatureStats::new(&classifier.features_of(train)?, d)?;
        Ok(Self { classifier, reference })
    }

    fn frechet(&self, images: &Tensor) -> Result<f64, ReportError> {
        let d = self.classifier.cfg.features;
        let stats = FeatureStats::new(&self.classifier.features_of(images)?, d)?;
        Ok(frechet_distance(&stats, &self.reference))
    }

    fn score(&self, name: &str, images: &Tensor) -> Result<SetScore, ReportError> {
        let pixels = images.flatten_all()?.to_vec1::<f32>()?;
        let classes = self.classifier.classify(images)?;
        let mut counts = vec![0usize; self.classifier.cfg.classes];
        classes.iter().for_each(|&c| counts[c as usize] += 1);
        let top_class = counts.iter().copied().max().unwrap_or(0) as f64 / classes.len().max(1) as f64;
        Ok(SetScore {
            name: name.into(),
            frechet: self.frechet(images)?,
            sharpness: sharpness(&pixels, SIDE),
            top_class,
        })
    }
}

fn feature_error(msg: String) -> ReportError {
    ReportError::File { path: "blur features".into(), msg }
}

/// Decoder means (pixel probabilities) of codes `z`.
fn decoded(model: &impl Autoencoder, z: &Tensor) -> Result<Tensor, ReportError> {
    Ok(candle_nn::ops::sigmoid(&model.decode(z)?)?)
}

/// Decoder means of the code means of `x`.
fn reconstructed(model: &impl Autoencoder, x: &Tensor) -> Result<Tensor, ReportError> {
    decoded(model, &model.encode(x)?.0)
}

/// `n` codes from `N(m, C)`, the Gaussian with the mean and covariance of one code drawn from
/// `q(z|x)` for each image of `x` (the aggregate posterior's first two moments), and that
/// Gaussian's KL divergence from the prior `N(0, I)`, in nats.
fn fitted_codes(
    model: &impl Autoencoder,
    x: &Tensor,
    n: usize,
    rng: &mut SeededRng,
) -> Result<(Tensor, f64), ReportError> {
    let d = model.latent_dim();
    let (mu, logvar) = model.encode(x)?;
    let z = crate::prob::reparameterize(&mu, &logvar, &rng.normal(mu.dims(), x.device())?)?;
    let stats = FeatureStats::new(&z.flatten_all()?.to_vec1::<f32>()?, d)?;
    let chol = nalgebra::Cholesky::new(stats.cov.clone()).ok_or_else(|| feature_error("codes' covariance".into()))?;
    let log_det: f64 = chol.l().diagonal().iter().map(|v| 2.0 * v.ln()).sum();
    let kl = 0.5 * (stats.cov.trace() + stats.mean.norm_squared() - d as f64 - log_det);
    let mut out = Vec::with_capacity(n * d);
    for _ in 0..n {
        let eps = DVector::from_iterator(d, (0..d).map(|_| rng.normal_f64()));
        out.extend((&stats.mean + chol.l() * eps).iter().map(|&v| v as f32));
    }
    Ok((Tensor::from_vec(out, (n, d), x.device())?, kl))
}

/// Pixels drawn from the Bernoulli of each probability.
fn bernoulli_pixels(p: &Tensor, rng: &mut SeededRng) -> Result<Tensor, ReportError> {
    let u = Tensor::from_vec(rng.uniform_vec(p.elem_count(), 0.0, 1.0)?, p.shape(), p.device())?;
    Ok(u.lt(p)?.to_dtype(candle_core::DType::F32)?)
}

/// The classifier, trained on the training images and labels.
fn train_classifier(cfg: &BlurConfig, images: &Images, dev: &Device) -> Result<(Classifier, f64), ReportError> {
    let mut run = Run::<Classifier>::new(cfg.classifier, cfg.classifier_run, dev)?;
    run.fit(images, |_| {})?;
    let error = run.history.last().map(|e| e.eval.terms[0].1).unwrap_or(f64::NAN);
    Ok((run.model, error))
}

/// A VAE-GAN trained epoch by epoch, with the Fréchet distance of its prior samples after each.
fn train_vaegan(
    (model, run): (VaeGanConfig, RunConfig),
    images: &Images,
    judge: &Judge,
    z: &Tensor,
    log: &mut dyn FnMut(String),
) -> Result<(Run<VaeGan>, Vec<f64>), ReportError> {
    let mut r = Run::<VaeGan>::new(model, run, images.test.device())?;
    let mut curve = Vec::new();
    while !r.finished() {
        let e = r.epoch(images, |_| {})?.clone();
        curve.push(judge.frechet(&decoded(&r.model, z)?)?);
        let terms: Vec<String> = e.eval.terms.iter().map(|(k, v)| format!("{k} {v:.2}")).collect();
        log(format!(
            "    VAE-GAN (gamma {}) epoch {}: test {}; Fréchet {:.2} ({:.1} s)",
            model.gamma,
            e.epoch,
            terms.join(", "),
            curve[curve.len() - 1],
            e.seconds
        ));
    }
    Ok((r, curve))
}

/// The VAE trained epoch by epoch, with the Fréchet distance of its prior samples after each.
fn train_vae(
    cfg: &BlurConfig,
    data: Mnist,
    judge: &Judge,
    z: &Tensor,
    log: &mut dyn FnMut(String),
) -> Result<(Trainer, Vec<f64>), ReportError> {
    let mut trainer = Trainer::with_data(cfg.vae.clone(), data, z.device())?;
    let mut curve = Vec::new();
    while trainer.next_epoch() <= trainer.cfg.epochs {
        let m = trainer.train_epoch(|_, _| {})?;
        curve.push(judge.frechet(&decoded(&trainer.model, z)?)?);
        let f = curve[curve.len() - 1];
        log(format!("    VAE epoch {}: test -ELBO {:.2}; Fréchet {f:.2} ({:.1} s)", m.epoch, m.test_loss, m.seconds));
    }
    Ok((trainer, curve))
}

/// Short row labels for the figure, in the order of [`ROWS`].
const FIGURE_ROWS: [&str; 8] = [
    "held-out",
    "VAE reconstruction",
    "VAE sample (mean)",
    "VAE sample (pixels)",
    "VAE, fitted Gaussian",
    "VAE-GAN reconstruction",
    "VAE-GAN sample",
    "unstable VAE-GAN",
];

/// Measures one data set: trains the classifier, the VAE and both VAE-GANs; scores every row
/// and draws the images figure and the curves figure into `fig_dir`.
fn run_set(
    cfg: &BlurConfig,
    set: ImageSet,
    dev: &Device,
    fig_dir: &Path,
    log: &mut dyn FnMut(String),
) -> Result<(BlurData, Vec<PathBuf>), ReportError> {
    let data = super::embedded_images(set, (cfg.train_size, cfg.test_size))?;
    let images = Images::from_mnist(&data, dev)?;
    let (classifier, classifier_error) = train_classifier(cfg, &images, dev)?;
    log(format!("    {}: classifier test error {:.2}%", data_name(set), 100.0 * classifier_error));
    let judge = Judge::new(classifier, &images.train)?;
    let mut rng = SeededRng::derived(cfg.vae.seed, "blur-samples", 0);
    let z = rng.normal(&[cfg.samples, cfg.vae.model.latent_dim], dev)?;
    let (vae, vae_curve) = train_vae(cfg, data, &judge, &z, log)?;
    let (gan, vaegan_curve) = train_vaegan((cfg.vaegan, cfg.vaegan_run), &images, &judge, &z, log)?;
    let (unstable, unstable_curve) = train_vaegan((cfg.unstable, cfg.unstable_run), &images, &judge, &z, log)?;
    let vae_samples = decoded(&vae.model, &z)?;
    let fitted = fitted_codes(&vae.model, &images.train, cfg.samples, &mut rng)?;
    let sets = [
        images.test.clone(),
        reconstructed(&vae.model, &images.test)?,
        vae_samples.clone(),
        bernoulli_pixels(&vae_samples, &mut rng)?,
        decoded(&vae.model, &fitted.0)?,
        reconstructed(&gan.model, &images.test)?,
        decoded(&gan.model, &z)?,
        decoded(&unstable.model, &z)?,
    ];
    let scores = ROWS.iter().zip(&sets).map(|(name, x)| judge.score(name, x)).collect::<Result<Vec<_>, _>>()?;
    let name = data_name(set);
    let figs = [fig_dir.join(format!("blur-{name}.png")), fig_dir.join(format!("blur-curves-{name}.png"))];
    images_figure(&sets, set, &figs[0])?;
    let last = vae.history.last().ok_or_else(|| feature_error("the VAE ran no epoch".into()))?;
    let gan_last = gan.history.last().ok_or_else(|| feature_error("the VAE-GAN ran no epoch".into()))?;
    let seconds = gan.history.iter().map(|e| e.train_seconds).sum::<f64>() / gan.history.len() as f64;
    let out = BlurData {
        set,
        classifier_error,
        scores,
        vae_curve,
        vaegan_curve,
        unstable_curve,
        vae_recon: last.recon,
        vae_kl: last.kl,
        fitted_kl: fitted.1,
        vaegan_terms: gan_last.eval.terms.clone(),
        vaegan_seconds_per_epoch: seconds,
    };
    curves_figure(&out, &figs[1])?;
    Ok((out, figs.to_vec()))
}

/// The Fréchet distance of each generator's prior samples after every epoch (log scale).
pub fn curves_figure(d: &BlurData, path: &Path) -> Result<(), ReportError> {
    let series = [("VAE", &d.vae_curve), ("VAE-GAN", &d.vaegan_curve), ("unstable VAE-GAN", &d.unstable_curve)];
    let points: Vec<(&str, Vec<(f32, f32)>)> = series
        .iter()
        .map(|(n, c)| (*n, c.iter().enumerate().map(|(e, &f)| ((e + 1) as f32, f as f32)).collect()))
        .collect();
    let refs: Vec<(&str, &[(f32, f32)])> = points.iter().map(|(n, p)| (*n, p.as_slice())).collect();
    let how = crate::plot::Lines { dots: true, integer_x: true, log_y: true, ..Default::default() };
    let title = format!("Fréchet distance of the samples to the training {}, after each epoch", data_name(d.set));
    crate::plot::lines(&refs, how, &title, ("epoch", "Fréchet distance (log scale)"), path)?;
    Ok(())
}

fn data_name(set: ImageSet) -> &'static str {
    match set {
        ImageSet::Mnist => "digits",
        ImageSet::Fashion => "clothes",
    }
}

/// The first images of every set, one row each.
fn images_figure(sets: &[Tensor], set: ImageSet, path: &Path) -> Result<(), ReportError> {
    let mut rows = Vec::new();
    for (label, x) in FIGURE_ROWS.iter().zip(sets) {
        rows.push((*label, figures::pixels(&x.narrow(0, 0, SHOWN)?)?));
    }
    let title =
        format!("Held-out {}, reconstructions and samples (the reconstructions are of the top row)", data_name(set));
    Ok(figures::labelled_rows(&rows, SHOWN, &title, path)?)
}

/// Trains and measures every data set of the configuration.
pub fn run(
    cfg: &BlurConfig,
    dev: &Device,
    fig_dir: &Path,
    log: &mut dyn FnMut(String),
) -> Result<(BlurResults, Vec<PathBuf>), ReportError> {
    let mut data = Vec::new();
    let mut written = Vec::new();
    for &set in &cfg.data {
        let (d, figs) = run_set(cfg, set, dev, fig_dir, log)?;
        data.push(d);
        written.extend(figs);
    }
    Ok((BlurResults { config: cfg.clone(), data }, written))
}

/// The chapter's table: each row's Fréchet distance and sharpness, one column pair per data set.
pub fn table(r: &BlurResults) -> String {
    let mut md = String::from("| images |");
    let mut rule = String::from("|---|");
    for d in &r.data {
        md += &format!(" Fréchet distance, {0} | sharpness, {0} | most common class, {0} |", data_name(d.set));
        rule += "---:|---:|---:|";
    }
    md += &format!("\n{rule}\n");
    for (i, row) in ROWS.iter().enumerate() {
        md += &format!("| {row} |");
        for d in &r.data {
            let s = &d.scores[i];
            md += &format!(" {:.2} | {:.4} | {:.0}% |", s.frechet, s.sharpness, 100.0 * s.top_class);
        }
        md += "\n";
    }
    md
}

/// Runs the book's configuration and writes figures, JSON and table under `book_src`.
pub fn book(book_src: &Path, dev: &Device, log: &mut dyn FnMut(String)) -> Result<Vec<PathBuf>, ReportError> {
    let (results, mut written) = run(&BlurConfig::book(), dev, &book_src.join("figures"), log)?;
    let json = generated_dir(book_src).join("blur.json");
    write_json(&json, &results)?;
    let md = generated_dir(book_src).join("blur.md");
    write_atomic(&md, table(&results).as_bytes())?;
    written.extend([json, md]);
    Ok(written)
}
