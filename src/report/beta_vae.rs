//! The beta-VAE chapter: the same model trained with `recon + beta * KL` for several `beta`, its
//! rate (KL) against its distortion (reconstruction term), the number of active latent units, and
//! latent traversals for a small and a large `beta`.

use super::{ReportError, generated_dir, write_generated, write_json};
use crate::classic::latent;
use crate::data::Mnist;
use crate::plot::{self, ImageGrid};
use crate::train::{TrainConfig, Trainer, quick_requested};
use candle_core::Device;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BetaConfig {
    pub train: TrainConfig,
    pub betas: Vec<f64>,
}

impl BetaConfig {
    pub fn book() -> Self {
        Self { train: TrainConfig::default(), betas: vec![0.5, 1.0, 2.0, 4.0, 8.0] }
    }

    pub fn quick() -> Self {
        Self { train: TrainConfig::default().quick(), ..Self::book() }
    }

    pub fn from_env() -> Self {
        if quick_requested() { Self::quick() } else { Self::book() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BetaResult {
    pub beta: f64,
    /// Test distortion `E_q[-log p(x|z)]` and rate `KL(q(z|x) || p(z))`, nats per image.
    pub distortion: f64,
    pub rate: f64,
    /// Latent units whose encoder mean varies over the test digits by more than 0.01.
    pub active_units: usize,
    /// The variance over test digits of each unit's mean, largest first.
    pub mean_variances: Vec<f32>,
}

impl BetaResult {
    /// The test negative ELBO, `distortion + rate` whatever beta was used in training.
    pub fn neg_elbo(&self) -> f64 {
        self.distortion + self.rate
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BetaResults {
    pub config: BetaConfig,
    pub runs: Vec<BetaResult>,
}

/// Trains one model per beta, measures it on the test digits and draws the figures into `fig_dir`.
pub fn run(
    cfg: &BetaConfig,
    dev: &Device,
    fig_dir: &Path,
    log: &mut dyn FnMut(String),
) -> Result<(BetaResults, Vec<PathBuf>), ReportError> {
    let data = Mnist::load(cfg.train.data_dir.as_deref()).map_err(crate::train::TrainError::from)?;
    let (low, high) =
        (cfg.betas.iter().copied().fold(f64::INFINITY, f64::min), cfg.betas.iter().copied().fold(0.0, f64::max));
    let mut runs = Vec::new();
    let mut traversals = Vec::new();
    for &beta in &cfg.betas {
        let (result, traversal) = train_one(cfg, beta, &data, (beta == low || beta == high, dev), log)?;
        traversals.extend(traversal.map(|t| (beta, t)));
        runs.push(result);
    }
    let results = BetaResults { config: cfg.clone(), runs };
    let mut written = vec![rate_distortion_figure(&results, fig_dir)?, unit_variances_figure(&results, fig_dir)?];
    written.extend(traversal_figures(traversals, data.test.rows, fig_dir)?);
    Ok((results, written))
}

/// Trains the VAE with weight `beta` on its KL and scores it on the test digits; draws its
/// traversals too when `traverse` is set.
fn train_one(
    cfg: &BetaConfig,
    beta: f64,
    data: &Mnist,
    (traverse, dev): (bool, &Device),
    log: &mut dyn FnMut(String),
) -> Result<(BetaResult, Option<Traversal>), ReportError> {
    let tc = TrainConfig { beta, ..cfg.train.clone() };
    let trainer = super::continue_to_end(Trainer::with_data(tc, data.clone(), dev)?, &mut |_| {})?;
    let x_test = trainer.data.test.images(dev)?;
    let test = trainer.evaluate(&x_test)?;
    let mut variances = latent::mean_variances(&latent::encode_means(&trainer.model, &x_test)?)?;
    let active = crate::estimators::count_active(&variances);
    log(format!("    beta {beta}: distortion {:.2}, rate {:.2}, {active} active units", test.recon, test.kl));
    let traversal = if traverse { Some(traversal_images(&trainer, &x_test, &variances)?) } else { None };
    variances.sort_by(|a, b| b.total_cmp(a));
    let result =
        BetaResult { beta, distortion: test.recon, rate: test.kl, active_units: active, mean_variances: variances };
    Ok((result, traversal))
}

/// Rate against distortion, one point per beta.
fn rate_distortion_figure(results: &BetaResults, fig_dir: &Path) -> Result<PathBuf, ReportError> {
    let cfg = &results.config;
    let curve: Vec<(f32, f32)> = results.runs.iter().map(|r| (r.rate as f32, r.distortion as f32)).collect();
    let path = fig_dir.join("beta-rate-distortion.png");
    let betas: Vec<String> = cfg.betas.iter().map(|b| b.to_string()).collect();
    let name = format!("beta = {} (rate falls as beta grows)", betas.join(", "));
    plot::lines(
        &[(name.as_str(), &curve[..])],
        plot::Lines { dots: true, ..plot::Lines::default() },
        "Rate against distortion on the test digits",
        ("rate: KL(q(z|x) || p(z)), nats", "distortion: -E log p(x|z), nats"),
        &path,
    )?;
    Ok(path)
}

/// Each unit's variance of its mean over the test digits, sorted, one line per beta.
fn unit_variances_figure(results: &BetaResults, fig_dir: &Path) -> Result<PathBuf, ReportError> {
    let sorted: Vec<(String, Vec<(f32, f32)>)> = results
        .runs
        .iter()
        .map(|r| {
            let pts = r.mean_variances.iter().enumerate().map(|(i, v)| ((i + 1) as f32, v.max(1e-6).log10())).collect();
            (format!("beta = {}", r.beta), pts)
        })
        .collect();
    let refs: Vec<(&str, &[(f32, f32)])> = sorted.iter().map(|(n, p)| (n.as_str(), p.as_slice())).collect();
    let path = fig_dir.join("beta-unit-variances.png");
    plot::lines(
        &refs,
        plot::Lines { dots: true, integer_x: true, ..plot::Lines::default() },
        "How much each latent unit's mean varies over the test digits",
        ("unit, most to least active", "log10 variance of the unit's mean"),
        &path,
    )?;
    Ok(path)
}

/// A traversal grid's images and its row labels.
type Traversal = (Vec<f32>, Vec<String>);

/// One traversal grid per beta in `traversals`.
fn traversal_figures(
    traversals: Vec<(f64, Traversal)>,
    side: usize,
    fig_dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    let mut written = Vec::new();
    for (beta, (images, labels)) in traversals {
        let path = fig_dir.join(format!("beta-traversal-{beta}.png"));
        let label_refs: Vec<&str> = labels.iter().map(String::as_str).collect();
        ImageGrid {
            images: &images,
            side,
            rows: labels.len(),
            cols: latent::TRAVERSAL_STEPS,
            title: &format!("beta = {beta}: the five most active units, -3 to 3"),
            row_labels: Some(&label_refs),
            scale: 2,
        }
        .save(&path)?;
        written.push(path);
    }
    Ok(written)
}

/// Traversals of the five units whose means vary most, around the code of the first test 5.
fn traversal_images(
    trainer: &Trainer,
    x_test: &candle_core::Tensor,
    variances: &[f32],
) -> Result<Traversal, ReportError> {
    let codes = latent::encode_means(&trainer.model, x_test)?.to_vec2::<f32>()?;
    let base = trainer.data.test.labels.iter().position(|&l| l == 5).unwrap_or(0);
    let mut order: Vec<usize> = (0..variances.len()).collect();
    order.sort_by(|&a, &b| variances[b].total_cmp(&variances[a]));
    let units = &order[..order.len().min(5)];
    let images = latent::traversal_images(&trainer.model, &codes[base], units, &latent::traversal_values())?;
    Ok((images, units.iter().map(|&dim| format!("z{dim} (var {:.2})", variances[dim])).collect()))
}

/// The chapter's table.
pub fn table(r: &BetaResults) -> String {
    let mut t = String::from(
        "| β | distortion (nats) | rate (nats) | test −ELBO (nats) | active units | variance of the most active unit's mean |\n|---:|---:|---:|---:|---:|---:|\n",
    );
    for run in &r.runs {
        t += &format!(
            "| {} | {:.2} | {:.2} | {:.2} | {} of {} | {:.3} |\n",
            run.beta,
            run.distortion,
            run.rate,
            run.neg_elbo(),
            run.active_units,
            run.mean_variances.len(),
            run.mean_variances.first().copied().unwrap_or(0.0)
        );
    }
    t
}

/// Runs the book's configuration and writes figures, JSON and table under `book_src`.
pub fn book(book_src: &Path, dev: &Device, log: &mut dyn FnMut(String)) -> Result<Vec<PathBuf>, ReportError> {
    let (results, mut written) = run(&BetaConfig::book(), dev, &book_src.join("figures"), log)?;
    let json = generated_dir(book_src).join("beta-vae.json");
    write_json(&json, &results)?;
    written.push(json);
    written.extend(write_generated(book_src, vec![("beta-vae.md", table(&results))])?);
    Ok(written)
}
