//! The convolutional VAE's section: the Keras-shaped conv VAE with a 2-D code against the MLP VAE
//! with a 2-D code, trained for the same epochs on the same digits.

use super::{ReportError, generated_dir, run_to_end, write_atomic, write_json};
use crate::data::Images;
use crate::data::Mnist;
use crate::estimators::active_units;
use crate::figures;
use crate::models::conv_vae::{self, ConvVae, ConvVaeConfig};
use crate::plot;
use crate::train::{Run, RunConfig};
use crate::train::{TrainConfig, quick_requested};
use candle_core::Device;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvConfig {
    /// The MLP run it is compared with (latent 2); the conv VAE uses its epochs, batch, rate, seed.
    pub mlp: TrainConfig,
}

/// The Keras example's length of training (on 70,000 digits there, MNIST's training and test
/// sets together; 9,000 here).
pub const KERAS_EPOCHS: usize = 30;

/// The epochs at which the table compares the two models (those within the run).
const TABLE_EPOCHS: [usize; 3] = [5, 10, KERAS_EPOCHS];

impl ConvConfig {
    /// As long as the Keras example trains (about 7 s per epoch for the conv model on two cores
    /// with the fast convolutions of `cpu::conv`).
    pub fn book() -> Self {
        let mut mlp = TrainConfig { epochs: KERAS_EPOCHS, ..TrainConfig::default() };
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
    /// Test negative ELBO after every epoch.
    pub mlp_curve: Vec<f64>,
    pub conv_curve: Vec<f64>,
    /// Final test reconstruction term and KL of each model.
    pub mlp_recon: f64,
    pub mlp_kl: f64,
    pub conv_recon: f64,
    pub conv_kl: f64,
    /// Latent units (of 2) whose test means vary by more than `estimators::ACTIVE_UNIT_VARIANCE`.
    pub mlp_active: usize,
    pub conv_active: usize,
    /// The correlation of the two coordinates of the test digits' code means (±1: a line).
    pub mlp_code_correlation: f64,
    pub conv_code_correlation: f64,
    /// Units of the conv encoder's 16-unit dense layer that are positive for at least one test digit.
    pub conv_live_features: usize,
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
    let mlp = run_to_end(cfg.mlp.clone(), dev, log)?;
    // Training steps only, for both models: each trainer also scores the test set every epoch.
    let mlp_seconds = mlp.history.iter().map(|h| h.train_seconds).sum::<f64>() / cfg.mlp.epochs as f64;
    let data = Mnist::load(cfg.mlp.data_dir.as_deref()).map_err(crate::train::TrainError::from)?;
    let data = data.cut((cfg.mlp.train_size, cfg.mlp.test_size));
    let images = Images::from_mnist(&data, dev)?;
    let ccfg = ConvVaeConfig { latent_dim: 2 };
    let m = &cfg.mlp;
    let schedule = RunConfig { epochs: m.epochs, batch_size: m.batch_size, lr: m.lr, seed: m.seed, patience: None };
    let mut conv = Run::<ConvVae>::new(ccfg, schedule, dev)?;
    conv.fit(&images, |e| log(format!("    conv VAE epoch {}: training -ELBO {:.2}", e.epoch, e.train_loss)))?;
    let conv_seconds = conv.history.iter().map(|e| e.train_seconds).sum::<f64>() / m.epochs as f64;
    let (model, varmap, x_test) = (&conv.model, &conv.varmap, &images.test);
    let (total, recon, kl) = conv_vae::evaluate(model, x_test, m.seed)?;
    let last = mlp.history.last();
    let (mlp_means, conv_means) = (mlp.model.encode(x_test)?.0, model.encode(x_test)?.0);
    let results = ConvResults {
        config: cfg.clone(),
        mlp_test: last.map_or(f64::NAN, |h| h.test_loss),
        conv_test: total,
        mlp_curve: mlp.history.iter().map(|h| h.test_loss).collect(),
        conv_curve: conv.history.iter().map(|e| e.eval.loss).collect(),
        mlp_recon: last.map_or(f64::NAN, |h| h.recon),
        mlp_kl: last.map_or(f64::NAN, |h| h.kl),
        conv_recon: recon,
        conv_kl: kl,
        mlp_active: active_units(&mlp_means)?,
        conv_active: active_units(&conv_means)?,
        mlp_code_correlation: correlation(&mlp_means)?,
        conv_code_correlation: correlation(&conv_means)?,
        conv_live_features: live_units(&model.features(x_test)?)?,
        mlp_parameters: parameter_count(&mlp.varmap),
        conv_parameters: parameter_count(varmap),
        mlp_seconds_per_epoch: mlp_seconds,
        conv_seconds_per_epoch: conv_seconds,
    };
    let curves = fig_dir.join("conv-curves.png");
    let series = [("MLP VAE", results.mlp_curve.as_slice()), ("convolutional VAE", results.conv_curve.as_slice())];
    plot::curves(&series, "Test -ELBO after each epoch (2-D code)", ("epoch", "nats per image"), &curves)?;
    let manifold = fig_dir.join("conv-manifold.png");
    figures::manifold(model, 20, 3.0, &manifold)?;
    let scatter = fig_dir.join("conv-latent.png");
    figures::latent_strips(model, x_test, &data.test.labels, &scatter)?;
    Ok((results, vec![curves, manifold, scatter]))
}

/// The Pearson correlation of the two columns of `(n, 2)` code means.
fn correlation(means: &candle_core::Tensor) -> candle_core::Result<f64> {
    let rows = means.to_dtype(candle_core::DType::F64)?.to_vec2::<f64>()?;
    let n = rows.len() as f64;
    let mean = |j: usize| rows.iter().map(|r| r[j]).sum::<f64>() / n;
    let (ma, mb) = (mean(0), mean(1));
    let cov = |f: &dyn Fn(&[f64]) -> f64| rows.iter().map(|r| f(r)).sum::<f64>() / n;
    let (sab, saa, sbb) =
        (cov(&|r| (r[0] - ma) * (r[1] - mb)), cov(&|r| (r[0] - ma).powi(2)), cov(&|r| (r[1] - mb).powi(2)));
    Ok(sab / (saa * sbb).sqrt())
}

/// Columns of a `(n, units)` ReLU output that are positive for at least one row.
fn live_units(h: &candle_core::Tensor) -> candle_core::Result<usize> {
    let max = h.max(0)?.to_vec1::<f32>()?;
    Ok(max.iter().filter(|&&v| v > 0.0).count())
}

/// The comparison table: test −ELBO at equal epochs, the final terms, active units and time.
pub fn table(r: &ConvResults) -> String {
    let epochs: Vec<usize> = TABLE_EPOCHS.into_iter().filter(|&e| e <= r.conv_curve.len()).collect();
    let epochs = if epochs.is_empty() { vec![r.conv_curve.len()] } else { epochs };
    let heads: Vec<String> = epochs.iter().map(|e| format!(" epoch {e} |")).collect();
    let mut md = format!(
        "| model, 2-D code | parameters | test −ELBO after:{} reconstruction + KL (last) | active units | training seconds per epoch (2 cores, one run) |\n|---|---:|{}---:|---:|---:|\n",
        heads.concat(),
        "---:|".repeat(epochs.len())
    );
    let rows = [
        (
            "MLP VAE (784-400-2)",
            r.mlp_parameters,
            &r.mlp_curve,
            (r.mlp_recon, r.mlp_kl),
            r.mlp_active,
            r.mlp_seconds_per_epoch,
        ),
        (
            "convolutional VAE (Keras shape)",
            r.conv_parameters,
            &r.conv_curve,
            (r.conv_recon, r.conv_kl),
            r.conv_active,
            r.conv_seconds_per_epoch,
        ),
    ];
    for (name, params, curve, (recon, kl), active, seconds) in rows {
        let at: Vec<String> = epochs.iter().map(|&e| format!(" {:.2} |", curve[e - 1])).collect();
        md += &format!("| {name} | {params} |{} {recon:.2} + {kl:.2} | {active} of 2 | {seconds:.2} |\n", at.concat());
    }
    md + &format!(
        "\nOver the test digits, the two coordinates of the code means correlate at r = {:.3} for the MLP and \
         r = {:.3} for the convolutional model. Of the 16 units of the convolutional encoder's dense layer, \
         {} positive for at least one test digit.\n",
        r.mlp_code_correlation,
        r.conv_code_correlation,
        if r.conv_live_features == 1 { "1 is".to_string() } else { format!("{} are", r.conv_live_features) }
    ) + &equal_time(r)
}

/// The two models at equal training time: the conv model's first epoch against the MLP epochs
/// that fit in the same time (from the average seconds per epoch).
fn equal_time(r: &ConvResults) -> String {
    let epochs = ((r.conv_seconds_per_epoch / r.mlp_seconds_per_epoch) as usize).clamp(1, r.mlp_curve.len());
    format!(
        "\nAt equal training time: after its first epoch ({:.1} s) the convolutional model is at {:.2}; in that \
         time the MLP trains {epochs} epochs and reaches {:.2}.\n",
        r.conv_seconds_per_epoch,
        r.conv_curve[0],
        r.mlp_curve[epochs - 1]
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
