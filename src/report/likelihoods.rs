//! The likelihood chapter: the same encoder and decoder trained with five decoder likelihoods and
//! with the per-pixel-mean mistake, on the digits and on Fashion-MNIST; test bounds, importance-
//! sampled likelihoods in bits per dimension where they are comparable, the KL each leaves, and
//! reconstructions and samples side by side.

use super::{ReportError, generated_dir, write_atomic, write_json};
use crate::data::{ImageSet, Images, Mnist};
use crate::estimators;
use crate::models::likelihood::{self, Likelihood, LikelihoodConfig, LikelihoodVae};
use crate::plot::ImageGrid;
use crate::prob::SeededRng;
use crate::train::{Run, RunConfig, quick_requested};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One trained variant: a short label for tables and figures, and its configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    pub label: String,
    pub model: LikelihoodConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LikelihoodsConfig {
    pub variants: Vec<Variant>,
    pub data: Vec<ImageSet>,
    pub run: RunConfig,
    /// Training and test images used (all of them when `None`).
    pub train_size: Option<usize>,
    pub test_size: Option<usize>,
    /// Importance samples per test image for `-log p(x)`.
    pub importance_samples: usize,
    /// Images per row of the figures.
    pub columns: usize,
}

fn variant(label: &str, likelihood: Likelihood, pixel_mean: bool) -> Variant {
    Variant { label: label.into(), model: LikelihoodConfig { pixel_mean, ..LikelihoodConfig::new(likelihood) } }
}

impl LikelihoodsConfig {
    pub fn book() -> Self {
        Self {
            variants: vec![
                variant("Bernoulli, grey", Likelihood::Bernoulli, false),
                variant("Bernoulli, binarized", Likelihood::BinarizedBernoulli, false),
                variant("Gaussian, sigma 1", Likelihood::Gaussian, false),
                variant("Gaussian, learned sigma", Likelihood::LearnedGaussian, false),
                variant("continuous Bernoulli", Likelihood::ContinuousBernoulli, false),
                variant("Bernoulli, pixel mean", Likelihood::Bernoulli, true),
            ],
            data: ImageSet::ALL.to_vec(),
            run: RunConfig { epochs: 20, batch_size: 128, lr: 1e-3, seed: 42, patience: None },
            train_size: None,
            test_size: None,
            importance_samples: 100,
            columns: 8,
        }
    }

    pub fn quick() -> Self {
        Self {
            run: RunConfig { epochs: 2, ..Self::book().run },
            train_size: Some(1000),
            test_size: Some(200),
            importance_samples: 5,
            ..Self::book()
        }
    }

    pub fn from_env() -> Self {
        if quick_requested() { Self::quick() } else { Self::book() }
    }
}

/// One variant on one data set, measured on the test images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantResult {
    pub label: String,
    pub likelihood: Likelihood,
    pub pixel_mean: bool,
    /// The summed negative ELBO's terms, nats per image, one code per image.
    pub recon: f64,
    pub kl: f64,
    /// `-log p(x)` by importance sampling, nats per image.
    pub importance_nll: f64,
    pub active_units: usize,
    /// The Gaussians' standard deviation: fixed, or fitted on the training images after training.
    pub sigma: Option<f64>,
    pub seconds_per_epoch: f64,
}

impl VariantResult {
    pub fn neg_elbo(&self) -> f64 {
        self.recon + self.kl
    }

    /// Bits per dimension of the 8-bit images, for the densities (dequantized: an upper bound).
    pub fn bits_per_dim(&self, pixels: usize) -> Option<f64> {
        self.likelihood.is_density().then(|| likelihood::bits_per_dim(self.importance_nll, pixels))
    }

    /// Bits per binary pixel, for the Bernoulli on binarized images.
    pub fn bits_per_binary_pixel(&self, pixels: usize) -> Option<f64> {
        (self.likelihood == Likelihood::BinarizedBernoulli)
            .then(|| self.importance_nll / pixels as f64 / std::f64::consts::LN_2)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataResults {
    pub data: ImageSet,
    pub pixels: usize,
    pub variants: Vec<VariantResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LikelihoodsResults {
    pub config: LikelihoodsConfig,
    pub data: Vec<DataResults>,
}

/// The figures' rows for one trained variant: reconstructions of the first test images, and the
/// decoder's mean at the same prior draws for every variant.
struct Pictures {
    label: String,
    reconstructions: Vec<f32>,
    samples: Vec<f32>,
    /// For the continuous Bernoulli: `lambda` shown as if it were the image (the common mistake).
    lambda: Option<Vec<f32>>,
}

/// Trains one variant and measures it.
fn train_variant(
    v: &Variant,
    cfg: &LikelihoodsConfig,
    data: &Mnist,
    images: &Images,
    z: &Tensor,
    dev: &Device,
) -> Result<(VariantResult, Pictures), ReportError> {
    let mut run = Run::<LikelihoodVae>::new(v.model, cfg.run, dev)?;
    run.fit(images, |_| {})?;
    let model = &run.model;
    let seconds = run.history.iter().map(|e| e.train_seconds).sum::<f64>() / run.history.len().max(1) as f64;
    let x = likelihood::test_pixels(v.model.likelihood, &data.test, cfg.run.seed, dev)?;
    let sigma = model.fitted_sigma(images, cfg.run.seed)?;
    let (recon, kl) = likelihood::evaluate_terms(model, &x, sigma, cfg.run.seed)?;
    let importance_nll = likelihood::importance_nll(model, &x, sigma, cfg.importance_samples, cfg.run.seed)?;
    let (mu, _) = model.vae.encode(&x)?;
    let active_units = estimators::active_units(&mu)?;
    let shown = mu.narrow(0, 0, cfg.columns)?;
    let lambda = (v.model.likelihood == Likelihood::ContinuousBernoulli)
        .then(|| candle_nn::ops::sigmoid(&model.vae.decode(&shown)?)?.flatten_all()?.to_vec1::<f32>())
        .transpose()?;
    let pictures = Pictures {
        label: v.label.clone(),
        reconstructions: model.mean_images(&shown)?,
        samples: model.mean_images(z)?,
        lambda,
    };
    let result = VariantResult {
        label: v.label.clone(),
        likelihood: v.model.likelihood,
        pixel_mean: v.model.pixel_mean,
        recon,
        kl,
        importance_nll,
        active_units,
        sigma,
        seconds_per_epoch: seconds,
    };
    Ok((result, pictures))
}

/// Trains every variant on every data set; draws the reconstructions and samples into `fig_dir`.
pub fn run(
    cfg: &LikelihoodsConfig,
    dev: &Device,
    fig_dir: &Path,
    log: &mut dyn FnMut(String),
) -> Result<(LikelihoodsResults, Vec<PathBuf>), ReportError> {
    let mut results = LikelihoodsResults { config: cfg.clone(), data: Vec::new() };
    let mut written = Vec::new();
    for &set in &cfg.data {
        let data = super::embedded_images(set, (cfg.train_size, cfg.test_size))?;
        let images = Images::from_mnist(&data, dev)?;
        let latent = cfg.variants.first().map_or(20, |v| v.model.model.latent_dim);
        let z = SeededRng::derived(cfg.run.seed, "likelihood-samples", 0).normal(&[cfg.columns, latent], dev)?;
        let (mut variants, mut pictures) = (Vec::new(), Vec::new());
        for v in &cfg.variants {
            let (r, p) = train_variant(v, cfg, &data, &images, &z, dev)?;
            log(format!(
                "    {}: {}: -ELBO {:.2} (recon {:.2}, KL {:.2}), -log p {:.2}, {} active units",
                set.name(),
                r.label,
                r.neg_elbo(),
                r.recon,
                r.kl,
                r.importance_nll,
                r.active_units
            ));
            variants.push(r);
            pictures.push(p);
        }
        let originals = data.test.take(cfg.columns).images(dev)?.flatten_all()?.to_vec1::<f32>()?;
        written.extend(figures(set, &originals, &pictures, cfg.columns, fig_dir)?);
        results.data.push(DataResults { data: set, pixels: data.test.image_size(), variants });
    }
    Ok((results, written))
}

/// `likelihood-reconstructions-{set}.png` and `likelihood-samples-{set}.png`.
fn figures(
    set: ImageSet,
    originals: &[f32],
    pictures: &[Pictures],
    columns: usize,
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    let mut images = originals.to_vec();
    let mut labels = vec!["test image".to_string()];
    for p in pictures {
        images.extend(&p.reconstructions);
        labels.push(p.label.clone());
        if let Some(lambda) = &p.lambda {
            images.extend(lambda);
            labels.push("  its lambda (wrong)".into());
        }
    }
    let what = if set == ImageSet::Fashion { "clothes" } else { "digits" };
    let recon = dir.join(format!("likelihood-reconstructions-{}.png", set.name()));
    grid(&images, &labels, columns, &format!("Test {what} and each model's mean reconstruction"), &recon)?;
    let images: Vec<f32> = pictures.iter().flat_map(|p| p.samples.iter().copied()).collect();
    let labels: Vec<String> = pictures.iter().map(|p| p.label.clone()).collect();
    let samples = dir.join(format!("likelihood-samples-{}.png", set.name()));
    grid(&images, &labels, columns, &format!("Decoder means at the same {columns} prior draws ({what})"), &samples)?;
    Ok(vec![recon, samples])
}

fn grid(images: &[f32], labels: &[String], cols: usize, title: &str, path: &Path) -> Result<(), ReportError> {
    let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
    let g = ImageGrid { images, side: 28, rows: labels.len(), cols, title, row_labels: Some(&refs), scale: 2 };
    Ok(g.save(path)?)
}

fn dash(v: Option<f64>, digits: usize) -> String {
    v.map_or("—".into(), |v| signed(v, digits))
}

/// `v` with `digits` decimals and a typographic minus sign.
fn signed(v: f64, digits: usize) -> String {
    format!("{v:.digits$}").replace('-', "−")
}

/// How the table names a data set.
fn data_name(set: ImageSet) -> &'static str {
    match set {
        ImageSet::Mnist => "digits",
        ImageSet::Fashion => "clothes",
    }
}

/// The chapter's table: one block of rows per data set.
pub fn table(r: &LikelihoodsResults) -> String {
    let mut out = String::from(
        "| data | likelihood | −ELBO | reconstruction | KL | −log p(x) | bits/dim, 8-bit | bits per binary pixel | active units |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for d in &r.data {
        for v in &d.variants {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                data_name(d.data),
                v.label,
                signed(v.neg_elbo(), 1),
                signed(v.recon, 1),
                signed(v.kl, 1),
                signed(v.importance_nll, 1),
                dash(v.bits_per_dim(d.pixels), 3),
                dash(v.bits_per_binary_pixel(d.pixels), 3),
                v.active_units
            ));
        }
    }
    let sigmas: Vec<String> = r
        .data
        .iter()
        .flat_map(|d| d.variants.iter().filter(|v| v.likelihood == Likelihood::LearnedGaussian).map(move |v| (d, v)))
        .map(|(d, v)| format!("{:.3} on the {}", v.sigma.unwrap_or(f64::NAN), data_name(d.data)))
        .collect();
    out.push_str(&format!(
        "\nTest nats per image (each in its own likelihood's units, so a column compares rows only where the \
         likelihoods match), on the embedded MNIST digits and Fashion-MNIST clothes; {} epochs of {} images per step, Adam at {}, seed {}; −log p(x) importance-sampled \
         with {} codes per image. Bits per dimension: the densities on dequantized pixels, an upper bound on \
         the 8-bit images' −log₂ P per pixel (8 for a flat density). Learned sigma, fitted on the training images: {}.\n",
        r.config.run.epochs,
        r.config.run.batch_size,
        r.config.run.lr,
        r.config.run.seed,
        r.config.importance_samples,
        sigmas.join(", ")
    ));
    out
}

/// Trains the chapter's models and writes its figures, `generated/likelihoods-trained.{json,md}`.
pub fn book(book_src: &Path, dev: &Device, log: &mut dyn FnMut(String)) -> Result<Vec<PathBuf>, ReportError> {
    let (results, mut written) = run(&LikelihoodsConfig::book(), dev, &book_src.join("figures"), log)?;
    let json = generated_dir(book_src).join("likelihoods-trained.json");
    write_json(&json, &results)?;
    let md = generated_dir(book_src).join("likelihoods-trained.md");
    write_atomic(&md, table(&results).as_bytes())?;
    written.extend([json, md]);
    Ok(written)
}
