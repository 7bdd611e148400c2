//! The convolutional VAE's section: the Keras-shaped conv VAE with a 2-D code against the MLP VAE
//! with a 2-D code, trained for the same epochs on the same digits.

use super::{ReportError, generated_dir, run_to_end, write_atomic, write_json};
use crate::data::Images;
use crate::data::Mnist;
use crate::figures;
use crate::models::conv_vae::{self, ConvVae, ConvVaeConfig};
use crate::train::{Run, RunConfig};
use crate::train::{TrainConfig, quick_requested};
use candle_core::Device;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvConfig {
    /// The MLP run it is compared with (latent 2); the conv VAE uses its epochs, batch, rate, seed.
    pub mlp: TrainConfig,
}

impl ConvConfig {
    /// Five epochs: candle's CPU transposed convolution is slow (about 50 s per epoch on two
    /// cores), and the comparison must fit the book's time budget.
    pub fn book() -> Self {
        let mut mlp = TrainConfig { epochs: 5, ..TrainConfig::default() };
        mlp.model.latent_dim = 2;
        Self { mlp }
    }

    pub fn quick() -> Self {
        let mut c = Self::book();
        c.mlp = c.mlp.quick();
        c
    }

    pub fn from_env() -> Self {
        if quick_requested() { Self::quick() } else { Self::book() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvResults {
    pub config: ConvConfig,
    /// Test negative ELBO after the last epoch (one sample of z per image, the same noise seed).
    pub mlp_test: f64,
    pub conv_test: f64,
    /// Final test reconstruction term and KL of the conv model.
    pub conv_recon: f64,
    pub conv_kl: f64,
    pub mlp_parameters: usize,
    pub conv_parameters: usize,
    pub mlp_seconds_per_epoch: f64,
    pub conv_seconds_per_epoch: f64,
}

fn parameter_count(varmap: &candle_nn::VarMap) -> usize {
    varmap.all_vars().iter().map(|v| v.elem_count()).sum()
}

/// Trains both models and draws the conv model's manifold and label scatter into `fig_dir`.
pub fn run(
    cfg: &ConvConfig,
    dev: &Device,
    fig_dir: &Path,
    log: &mut dyn FnMut(String),
) -> Result<(ConvResults, Vec<PathBuf>), ReportError> {
    let start = Instant::now();
    let mlp = run_to_end(cfg.mlp.clone(), dev, log)?;
    let mlp_seconds = start.elapsed().as_secs_f64() / cfg.mlp.epochs as f64;
    let mut data = Mnist::load(cfg.mlp.data_dir.as_deref()).map_err(crate::train::TrainError::from)?;
    if let Some(n) = cfg.mlp.train_size {
        data.train = data.train.take(n);
    }
    if let Some(n) = cfg.mlp.test_size {
        data.test = data.test.take(n);
    }
    let images = Images::from_mnist(&data, dev)?;
    let ccfg = ConvVaeConfig { latent_dim: 2 };
    let m = &cfg.mlp;
    let schedule = RunConfig { epochs: m.epochs, batch_size: m.batch_size, lr: m.lr, seed: m.seed, patience: None };
    let mut conv = Run::<ConvVae>::new(ccfg, schedule, dev)?;
    conv.fit(&images, |e| log(format!("    conv VAE epoch {}: training -ELBO {:.2}", e.epoch, e.train_loss)))?;
    // Training steps only: the trainer also scores the test set after every epoch.
    let conv_seconds = conv.history.iter().map(|e| e.train_seconds).sum::<f64>() / m.epochs as f64;
    let (model, varmap, x_test) = (&conv.model, &conv.varmap, &images.test);
    let (total, recon, kl) = conv_vae::evaluate(model, x_test, m.seed)?;
    let results = ConvResults {
        config: cfg.clone(),
        mlp_test: mlp.history.last().map(|h| h.test_loss).unwrap_or(f64::NAN),
        conv_test: total,
        conv_recon: recon,
        conv_kl: kl,
        mlp_parameters: parameter_count(&mlp.varmap),
        conv_parameters: parameter_count(varmap),
        mlp_seconds_per_epoch: mlp_seconds,
        conv_seconds_per_epoch: conv_seconds,
    };
    let manifold = fig_dir.join("conv-manifold.png");
    figures::manifold(model, 20, 3.0, &manifold)?;
    let scatter = fig_dir.join("conv-latent.png");
    figures::latent_scatter(model, x_test, &data.test.labels, &scatter)?;
    Ok((results, vec![manifold, scatter]))
}

/// The comparison table.
pub fn table(r: &ConvResults) -> String {
    let (mlp_last, conv_last) = (r.mlp_test, r.conv_test);
    format!(
        "| model, 2-D code, {} epochs | parameters | test −ELBO (nats) | seconds per epoch (2 cores) |\n|---|---:|---:|---:|\n\
         | MLP VAE (784-400-2) | {} | {mlp_last:.2} | {:.1} |\n\
         | convolutional VAE (Keras shape) | {} | {conv_last:.2} | {:.1} |\n\n\
         The convolutional model's test loss splits into reconstruction {:.2} + KL {:.2} nats.\n",
        r.config.mlp.epochs,
        r.mlp_parameters,
        r.mlp_seconds_per_epoch,
        r.conv_parameters,
        r.conv_seconds_per_epoch,
        r.conv_recon,
        r.conv_kl
    )
}

/// Runs the book's configuration and writes figures, JSON and table under `book_src`.
pub fn book(book_src: &Path, dev: &Device, log: &mut dyn FnMut(String)) -> Result<Vec<PathBuf>, ReportError> {
    let (results, mut written) = run(&ConvConfig::book(), dev, &book_src.join("figures"), log)?;
    let json = generated_dir(book_src).join("conv-vae.json");
    write_json(&json, &results)?;
    let md = generated_dir(book_src).join("conv-vae.md");
    write_atomic(&md, table(&results).as_bytes())?;
    written.extend([json, md]);
    Ok(written)
}
