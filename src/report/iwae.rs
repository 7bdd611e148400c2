//! The IWAE chapter: a VAE (k = 1) and IWAEs (k = 5, 50) trained on dynamically binarized digits,
//! each scored by the k-sample bound for k = 1, 5, 50 and 5000 on binarized test digits.

use super::{ReportError, generated_dir, write_atomic, write_json};
use crate::data::BinarizedImages;
use crate::data::Mnist;
use crate::models::iwae::{self, Iwae, IwaeConfig};
use crate::plot;
use crate::train::quick_requested;
use crate::train::{Run, RunConfig};
use candle_core::Device;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoundsConfig {
    /// Samples in the training bound of each model (1 = the VAE).
    pub train_k: Vec<usize>,
    /// Samples in the evaluation bounds; the largest stands in for log p(x).
    pub eval_k: Vec<usize>,
    pub epochs: usize,
    /// Training digits used (all when `None`) and test digits scored.
    pub train_size: Option<usize>,
    pub test_size: usize,
    pub seed: u64,
}

impl BoundsConfig {
    pub fn book() -> Self {
        Self {
            train_k: vec![1, 5, 50],
            eval_k: vec![1, 5, 50, 5000],
            epochs: 10,
            train_size: None,
            test_size: 500,
            seed: 42,
        }
    }

    pub fn quick() -> Self {
        Self {
            train_k: vec![1, 5],
            eval_k: vec![1, 5, 50, 500],
            epochs: 2,
            train_size: Some(2000),
            test_size: 100,
            ..Self::book()
        }
    }

    pub fn from_env() -> Self {
        if quick_requested() { Self::quick() } else { Self::book() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoundsRun {
    pub train_k: usize,
    /// The training bound (negative, nats per image) after each epoch.
    pub train_loss: Vec<f64>,
    /// `(k, mean k-sample bound on the test digits)`, in the order of `eval_k`.
    pub test_bounds: Vec<(usize, f64)>,
    pub active_units: usize,
    pub train_seconds: f64,
    pub eval_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoundsResults {
    pub config: BoundsConfig,
    pub runs: Vec<BoundsRun>,
}

/// Images per step and Adam's rate, as in the VAE chapter.
const BATCH_SIZE: usize = 128;
const LEARNING_RATE: f64 = 1e-3;

/// One row of Burda et al.'s Table 1 (arXiv 1509.00519 v4) on MNIST: test negative
/// log-likelihood in nats (minus the mean of L_5000 over the 10,000 dynamically binarized test
/// digits) and active units ("a+b": a in the first stochastic layer, b in the second), for a VAE
/// whose ELBO gradient averages k samples and for an IWAE trained on L_k.
pub struct BurdaRow {
    pub stochastic_layers: usize,
    pub k: usize,
    pub vae_nll: f64,
    pub vae_active: &'static str,
    pub iwae_nll: f64,
    pub iwae_active: &'static str,
}

const fn burda(stochastic_layers: usize, k: usize, vae: (f64, &'static str), iwae: (f64, &'static str)) -> BurdaRow {
    BurdaRow { stochastic_layers, k, vae_nll: vae.0, vae_active: vae.1, iwae_nll: iwae.0, iwae_active: iwae.1 }
}

/// Burda et al. 2015, Table 1, every MNIST entry (the OMNIGLOT half is another data set). One
/// stochastic layer: 50 latent units, two deterministic layers of 200 tanh units each side; two
/// layers: 100 and 50 latent units. All trained on 60,000 digits for 3,280 passes.
pub const BURDA_TABLE_1: [BurdaRow; 6] = [
    burda(1, 1, (86.76, "19"), (86.76, "19")),
    burda(1, 5, (86.47, "20"), (85.54, "22")),
    burda(1, 50, (86.35, "20"), (84.78, "25")),
    burda(2, 1, (85.33, "16+5"), (85.33, "16+5")),
    burda(2, 5, (85.01, "17+5"), (83.89, "21+5")),
    burda(2, 50, (84.78, "17+5"), (82.90, "26+7")),
];

pub fn run(cfg: &BoundsConfig, dev: &Device, log: &mut dyn FnMut(String)) -> Result<BoundsResults, ReportError> {
    let data = Mnist::embedded().map_err(crate::train::TrainError::from)?.cut((cfg.train_size, Some(cfg.test_size)));
    let data = BinarizedImages::new(&data.train, &data.test, cfg.seed, dev)?;
    let x_test = &data.test;
    let mut runs = Vec::new();
    for &k in &cfg.train_k {
        let schedule =
            RunConfig { epochs: cfg.epochs, batch_size: BATCH_SIZE, lr: LEARNING_RATE, seed: cfg.seed, patience: None };
        let mut run = Run::<Iwae>::new(IwaeConfig::new(k), schedule, dev)?;
        run.fit(&data, |e| log(format!("    k = {k}, epoch {}: training bound {:.2}", e.epoch, -e.train_loss)))?;
        let train_loss: Vec<f64> = run.history.iter().map(|e| e.train_loss).collect();
        let model = &run.model.vae;
        let train_seconds: f64 = run.history.iter().map(|e| e.train_seconds).sum();
        let start = Instant::now();
        let mut test_bounds = Vec::new();
        for &ek in &cfg.eval_k {
            test_bounds.push((ek, iwae::mean_bound(model, x_test, ek, cfg.seed)?));
        }
        let eval_seconds = start.elapsed().as_secs_f64();
        let active_units = iwae::active_units(model, x_test)?;
        let bounds: Vec<String> = test_bounds.iter().map(|(ek, b)| format!("L{ek} {b:.2}")).collect();
        log(format!(
            "  trained with k = {k}: {train_seconds:.0} s; test bounds {} ({eval_seconds:.0} s)",
            bounds.join(", ")
        ));
        runs.push(BoundsRun { train_k: k, train_loss, test_bounds, active_units, train_seconds, eval_seconds });
    }
    Ok(BoundsResults { config: cfg.clone(), runs })
}

/// The chapter's tables: our bounds, and our estimate of log p(x) beside Burda et al.'s.
pub fn tables(r: &BoundsResults) -> Vec<(&'static str, String)> {
    let ks: Vec<String> = r.config.eval_k.iter().map(|k| format!("L<sub>{k}</sub>")).collect();
    let mut bounds = format!(
        "| trained with | {} | active units | training time | evaluation time |\n|---|{}---:|---:|---:|\n",
        ks.join(" | "),
        "---:|".repeat(ks.len())
    );
    for run in &r.runs {
        let name = if run.train_k == 1 { "k = 1 (the VAE)".to_string() } else { format!("k = {} (IWAE)", run.train_k) };
        let values: Vec<String> = run.test_bounds.iter().map(|(_, b)| format!("{b:.2}")).collect();
        bounds += &format!(
            "| {name} | {} | {} | {:.0} s | {:.0} s |\n",
            values.join(" | "),
            run.active_units,
            run.train_seconds,
            run.eval_seconds
        );
    }
    let paper = paper_table(r);
    vec![("iwae-bounds.md", bounds), ("iwae-paper.md", paper)]
}

/// Burda et al.'s MNIST rows in full, with our model trained with the same k beside the
/// one-stochastic-layer rows (ours has one stochastic layer).
fn paper_table(r: &BoundsResults) -> String {
    let top = r.config.eval_k.last().copied().unwrap_or(0);
    let mut out = format!(
        "| stochastic layers | k | Burda et al.: VAE NLL (active units) | Burda et al.: IWAE NLL (active units) \
         | ours, trained with this k: −L<sub>{top}</sub> (active units of {latent}) |\n|---:|---:|---:|---:|---:|\n",
        latent = IwaeConfig::new(1).model.latent_dim
    );
    for row in &BURDA_TABLE_1 {
        let ours = r.runs.iter().find(|run| row.stochastic_layers == 1 && run.train_k == row.k).map(|run| {
            let model = if run.train_k == 1 { "VAE" } else { "IWAE" };
            let nll = run.test_bounds.last().map(|(_, b)| -b).unwrap_or(f64::NAN);
            format!("{model}: {nll:.2} ({})", run.active_units)
        });
        out += &format!(
            "| {} | {} | {:.2} ({}) | {:.2} ({}) | {} |\n",
            row.stochastic_layers,
            row.k,
            row.vae_nll,
            row.vae_active,
            row.iwae_nll,
            row.iwae_active,
            ours.unwrap_or_else(|| "–".into())
        );
    }
    out
}

/// The bound against the number of evaluation samples, one curve per model.
pub fn figure(r: &BoundsResults, dir: &Path) -> Result<PathBuf, ReportError> {
    let curves: Vec<(String, Vec<(f32, f32)>)> = r
        .runs
        .iter()
        .map(|run| {
            let name = if run.train_k == 1 {
                "VAE (trained with k = 1)".into()
            } else {
                format!("IWAE, trained with k = {}", run.train_k)
            };
            (name, run.test_bounds.iter().map(|&(k, b)| ((k as f32).log10(), b as f32)).collect())
        })
        .collect();
    let refs: Vec<(&str, &[(f32, f32)])> = curves.iter().map(|(n, c)| (n.as_str(), c.as_slice())).collect();
    let path = dir.join("iwae-bounds.png");
    plot::lines(
        &refs,
        plot::Lines { dots: true, ..plot::Lines::default() },
        "Test bound L_k against the number of samples k",
        ("log10 k", "L_k, nats per binarized test digit"),
        &path,
    )?;
    Ok(path)
}

/// Runs the book's configuration (about six minutes on two cores) and writes figure, JSON and
/// tables under `book_src`.
pub fn book(book_src: &Path, dev: &Device, log: &mut dyn FnMut(String)) -> Result<Vec<PathBuf>, ReportError> {
    let results = run(&BoundsConfig::book(), dev, log)?;
    let mut written = vec![figure(&results, &book_src.join("figures"))?];
    let json = generated_dir(book_src).join("iwae.json");
    write_json(&json, &results)?;
    written.push(json);
    for (name, text) in tables(&results) {
        let path = generated_dir(book_src).join(name);
        write_atomic(&path, text.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}
