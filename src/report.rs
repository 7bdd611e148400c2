//! What a run leaves behind: `metrics.json`, the figures, and the book's generated numbers.

use crate::checkpoint::{CheckpointError, write_atomic};
use crate::figures::{self, FigureError};
use crate::train::{EpochMetrics, TrainConfig, TrainError, Trainer};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The contents of `metrics.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metrics {
    pub seed: u64,
    pub config: TrainConfig,
    pub data: String,
    pub train_images: usize,
    pub test_images: usize,
    pub epochs: Vec<EpochMetrics>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Figure(#[from] FigureError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error("{path}: {msg}")]
    File { path: PathBuf, msg: String },
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), ReportError> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| ReportError::File { path: path.into(), msg: e.to_string() })?;
    Ok(write_atomic(path, format!("{text}\n").as_bytes())?)
}

/// Writes `metrics.json` for the trainer's run so far (atomically, like the checkpoint).
pub fn write_metrics(path: &Path, trainer: &Trainer) -> Result<(), ReportError> {
    let metrics = Metrics {
        seed: trainer.cfg.seed,
        config: trainer.cfg.clone(),
        data: trainer.data.source.clone(),
        train_images: trainer.data.train.len(),
        test_images: trainer.data.test.len(),
        epochs: trainer.history.clone(),
    };
    write_json(path, &metrics)
}

/// The figures of one run: reconstructions, prior samples, latent scatter, loss curves, and the
/// latent manifold for a 2-D latent space. Returns the files written.
pub fn write_run_figures(trainer: &Trainer, x_test: &Tensor, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let model = &trainer.model;
    let mut written = Vec::new();
    let mut out = |name: &str| {
        let p = dir.join(name);
        written.push(p.clone());
        p
    };
    figures::reconstructions(model, x_test, 10, &out("reconstructions.png"))?;
    figures::prior_samples(model, trainer.cfg.seed, &out("samples.png"))?;
    figures::latent_scatter(model, x_test, &trainer.data.test.labels, &out("latent.png"))?;
    figures::loss_curves(&trainer.history, &out("loss.png"))?;
    if model.cfg.latent_dim == 2 {
        figures::manifold(model, 20, 3.0, &out("manifold.png"))?;
    }
    Ok(written)
}

/// The numbers the VAE chapter quotes, produced by [`book_figures`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaeResults {
    /// The default run (latent 20).
    pub config: TrainConfig,
    pub epochs: Vec<EpochMetrics>,
    /// The same model with a 2-D latent space, for the manifold figure.
    pub latent2_config: TrainConfig,
    pub latent2_epochs: Vec<EpochMetrics>,
}

/// The configurations of the book's two runs.
pub fn book_configs() -> (TrainConfig, TrainConfig) {
    let default = TrainConfig::default();
    let mut latent2 = default.clone();
    latent2.model.latent_dim = 2;
    (default, latent2)
}

/// Trains `cfg` to the end, reporting each epoch through `log`.
pub fn run_to_end(cfg: TrainConfig, dev: &Device, log: &mut dyn FnMut(String)) -> Result<Trainer, TrainError> {
    let mut trainer = Trainer::new(cfg, dev)?;
    while trainer.next_epoch() <= trainer.cfg.epochs {
        let m = trainer.train_epoch(|_, _| {})?;
        log(format!(
            "  latent {:>2} epoch {:>2}: train {:.2}, test {:.2} ({:.1} s)",
            trainer.cfg.model.latent_dim, m.epoch, m.train_loss, m.test_loss, m.seconds
        ));
    }
    Ok(trainer)
}

/// The Markdown table of a run's epochs that the chapter includes.
pub fn results_table(results: &VaeResults) -> String {
    let mut s = String::from(
        "| epoch | train −ELBO | test −ELBO | test reconstruction | test KL | seconds |\n|---:|---:|---:|---:|---:|---:|\n",
    );
    for m in &results.epochs {
        s.push_str(&format!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} |\n",
            m.epoch, m.train_loss, m.test_loss, m.recon, m.kl, m.seconds
        ));
    }
    s
}

/// The one-line summary of the 2-D run that the chapter includes.
pub fn latent2_summary(results: &VaeResults) -> String {
    match (results.epochs.last(), results.latent2_epochs.last()) {
        (Some(a), Some(b)) => format!(
            "After {} epochs the 2-D model reaches a test −ELBO of {:.2} nats per image \
             (reconstruction {:.2}, KL {:.2}), against {:.2} for the 20-D model.\n",
            b.epoch, b.test_loss, b.recon, b.kl, a.test_loss
        ),
        _ => String::from("(no results yet: run `cargo run --release -- figures`)\n"),
    }
}

/// Where the generated files live under the book's `src/`.
pub fn generated_dir(book_src: &Path) -> PathBuf {
    book_src.join("generated")
}

/// Trains the book's two models and writes every figure and number of the VAE chapter under
/// `book_src` (`figures/*.png`, `generated/vae-results.{json,md}`, `generated/vae-latent2.md`).
pub fn book_figures(book_src: &Path, dev: &Device, mut log: impl FnMut(String)) -> Result<Vec<PathBuf>, ReportError> {
    let (cfg, cfg2) = book_configs();
    let fig_dir = book_src.join("figures");
    let main = run_to_end(cfg.clone(), dev, &mut log)?;
    let x_test = main.data.test.images(dev)?;
    let mut written = write_run_figures(&main, &x_test, &fig_dir)?;
    let small = run_to_end(cfg2.clone(), dev, &mut log)?;
    let manifold = fig_dir.join("manifold.png");
    figures::manifold(&small.model, 20, 3.0, &manifold)?;
    let scatter2 = fig_dir.join("latent-2d.png");
    figures::latent_scatter(&small.model, &x_test, &small.data.test.labels, &scatter2)?;
    written.extend([manifold, scatter2]);
    let results = VaeResults {
        config: cfg,
        epochs: main.history.clone(),
        latent2_config: cfg2,
        latent2_epochs: small.history.clone(),
    };
    let gen_dir = generated_dir(book_src);
    let json = gen_dir.join("vae-results.json");
    write_json(&json, &results)?;
    let table = gen_dir.join("vae-results.md");
    write_atomic(&table, results_table(&results).as_bytes())?;
    let summary = gen_dir.join("vae-latent2.md");
    write_atomic(&summary, latent2_summary(&results).as_bytes())?;
    written.extend([json, table, summary]);
    Ok(written)
}
