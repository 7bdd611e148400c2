//! Completing digits from one, two or three quadrants: a deterministic network against the
//! conditional VAE, scored as in Pyro's CVAE tutorial.

use super::{ReportError, generated_dir, write_atomic, write_json};
use crate::data::Mnist;
use crate::models::quadrant::{self, QuadrantConfig, Scores, Task};
use crate::plot::ImageGrid;
use crate::prob::SeededRng;
use crate::train::quick_requested;
use crate::train::{Fit, Schedule};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The epoch cap of Pyro's CVAE example (`num_epochs`), with its early stopping after 3 epochs.
pub const PYRO_MAX_EPOCHS: usize = 101;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuadrantsConfig {
    pub model: QuadrantConfig,
    /// How many quadrants are shown, one experiment each.
    pub quadrants: Vec<usize>,
    /// Both networks use it (Pyro: at most 101 epochs, patience 3, batch 128, rate 1e-3).
    pub schedule: Schedule,
    /// Training digits used (`None`: all 9,000 embedded ones); the last `valid_size` of them are
    /// held out for early stopping.
    pub train_size: Option<usize>,
    pub valid_size: usize,
    /// `None`: all 1,000 embedded test digits.
    pub test_size: Option<usize>,
    /// Draws averaged in the negative ELBO (Pyro uses 10).
    pub particles: usize,
    /// Samples per image for the importance-sampled and prior Monte Carlo estimates.
    pub samples: usize,
}

impl QuadrantsConfig {
    pub fn book() -> Self {
        Self {
            model: QuadrantConfig::default(),
            quadrants: vec![1, 2, 3],
            schedule: Schedule { max_epochs: PYRO_MAX_EPOCHS, patience: 3, batch_size: 128, lr: 1e-3, seed: 42 },
            train_size: None,
            valid_size: 1000,
            test_size: None,
            particles: 10,
            samples: 100,
        }
    }

    /// A few seconds: small networks, 1,000 training digits, at most two epochs each.
    pub fn quick() -> Self {
        let book = Self::book();
        Self {
            model: QuadrantConfig { hidden: 64, latent_dim: 8, ..QuadrantConfig::default() },
            schedule: Schedule { max_epochs: 2, ..book.schedule },
            train_size: Some(1000),
            valid_size: 200,
            test_size: Some(100),
            particles: 2,
            samples: 10,
            ..book
        }
    }

    pub fn from_env() -> Self {
        if quick_requested() { Self::quick() } else { Self::book() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuadrantResult {
    pub quadrants: usize,
    pub scores: Scores,
    pub baseline_fit: Fit,
    pub cvae_fit: Fit,
    pub baseline_seconds: f64,
    pub cvae_seconds: f64,
    /// Scoring the test set (the 10-particle ELBO and the two sampled estimates).
    pub eval_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuadrantsResults {
    pub config: QuadrantsConfig,
    pub train_images: usize,
    pub valid_images: usize,
    pub test_images: usize,
    pub runs: Vec<QuadrantResult>,
}

/// Pyro's CVAE tutorial table (full MNIST, early stopping on the test set), nats per image, for
/// 1, 2 and 3 quadrants shown: `(baseline, CVAE)`.
pub const PYRO: [(f64, f64); 3] = [(100.4, 71.8), (61.9, 51.0), (25.4, 24.2)];

pub fn run(
    cfg: &QuadrantsConfig,
    dev: &Device,
    fig_dir: &Path,
    log: &mut dyn FnMut(String),
) -> Result<(QuadrantsResults, Vec<PathBuf>), ReportError> {
    let data =
        Mnist::embedded().map_err(|e| ReportError::File { path: "embedded MNIST".into(), msg: e.to_string() })?;
    let Mnist { train, test, .. } = data.cut((cfg.train_size, cfg.test_size));
    let all = train.images(dev)?;
    let n_train = all.dim(0)?.checked_sub(cfg.valid_size).filter(|&n| n > 0).ok_or_else(|| ReportError::File {
        path: "quadrants config".into(),
        msg: format!("valid_size {} leaves no training digits out of {}", cfg.valid_size, all.dim(0).unwrap_or(0)),
    })?;
    let (x_train, x_valid, x_test) =
        (all.narrow(0, 0, n_train)?, all.narrow(0, n_train, cfg.valid_size)?, test.images(dev)?);
    let mut runs = Vec::new();
    let mut written = Vec::new();
    for &q in &cfg.quadrants {
        let (task, valid, test_task) = (Task::new(&x_train, q)?, Task::new(&x_valid, q)?, Task::new(&x_test, q)?);
        let start = Instant::now();
        let (baseline, _, baseline_fit) =
            quadrant::train_baseline(cfg.model, &task, &valid, cfg.schedule, |e, t, v| {
                log(format!("    {q} quadrant(s), baseline epoch {e}: cross-entropy train {t:.2}, validation {v:.2}"))
            })?;
        let baseline_seconds = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let (cvae, _, cvae_fit) =
            quadrant::train_cvae(cfg.model, &baseline, &task, &valid, cfg.schedule, |e, t, v| {
                log(format!("    {q} quadrant(s), CVAE epoch {e}: -ELBO train {t:.2}, validation {v:.2}"))
            })?;
        let cvae_seconds = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let scores = quadrant::evaluate(&baseline, &cvae, &test_task, cfg.particles, cfg.samples, cfg.schedule.seed)?;
        let eval_seconds = start.elapsed().as_secs_f64();
        log(format!(
            "    {q} quadrant(s), nats per image: baseline {:.2}, CVAE -ELBO {:.2}, CVAE -log p(y|x) {:.2} \
             (importance sampled) and {:.2} (from the prior), floor {:.2} (training {baseline_seconds:.0} s + \
             {cvae_seconds:.0} s, scoring {eval_seconds:.0} s)",
            scores.baseline, scores.cvae_elbo, scores.cvae_importance, scores.cvae_prior_mc, scores.floor
        ));
        written.push(completion_figure(&baseline, &cvae, &test_task, q, cfg.schedule.seed, fig_dir)?);
        runs.push(QuadrantResult {
            quadrants: q,
            scores,
            baseline_fit,
            cvae_fit,
            baseline_seconds,
            cvae_seconds,
            eval_seconds,
        });
    }
    let results = QuadrantsResults {
        config: cfg.clone(),
        train_images: n_train,
        valid_images: cfg.valid_size,
        test_images: test.len(),
        runs,
    };
    Ok((results, written))
}

/// Rows: what the networks see, the truth, the baseline's completion, three CVAE completions.
fn completion_figure(
    baseline: &quadrant::Baseline,
    cvae: &quadrant::QuadrantCvae,
    task: &Task,
    q: usize,
    seed: u64,
    dir: &Path,
) -> Result<PathBuf, ReportError> {
    let cols = 10.min(task.images.dim(0)?);
    let shown = task.narrow(0, cols)?;
    // hidden pixels drawn mid-grey so that the reader sees what was withheld
    let seen = shown.completed_with(&Tensor::full(0.35f32, shown.images.shape(), shown.images.device())?)?;
    let guess = quadrant::baseline_guess(baseline, &shown)?;
    let samples = 3;
    let mut rng = SeededRng::derived(seed, "quadrant-figure", q as u64);
    let completions = quadrant::complete(cvae, &shown, &guess, samples, &mut rng)?;
    let all = Tensor::cat(&[&seen, &shown.images, &guess, &completions], 0)?;
    let images = all.flatten_all()?.to_vec1::<f32>()?;
    let labels = ["shown", "truth", "baseline", "CVAE draw 1", "CVAE draw 2", "CVAE draw 3"];
    let path = dir.join(format!("quadrants-{q}.png"));
    let title = format!("Completing digits from {q} quadrant{}", if q > 1 { "s" } else { "" });
    ImageGrid {
        images: &images,
        side: 28,
        rows: 3 + samples,
        cols,
        title: &title,
        row_labels: Some(&labels),
        scale: 2,
    }
    .save(&path)?;
    Ok(path)
}

pub fn table(r: &QuadrantsResults) -> String {
    let mut s = String::from(
        "| quadrants shown | baseline | CVAE −ELBO | CVAE, importance sampled | CVAE, prior Monte Carlo | entropy floor | epochs run (kept): baseline, CVAE | Pyro baseline | Pyro CVAE |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for run in &r.runs {
        let sc = &run.scores;
        let (pb, pc) = PYRO.get(run.quadrants - 1).copied().unwrap_or((f64::NAN, f64::NAN));
        s.push_str(&format!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} ({}), {} ({}) | {pb:.1} | {pc:.1} |\n",
            run.quadrants,
            sc.baseline,
            sc.cvae_elbo,
            sc.cvae_importance,
            sc.cvae_prior_mc,
            sc.floor,
            run.baseline_fit.valid.len(),
            run.baseline_fit.best_epoch,
            run.cvae_fit.valid.len(),
            run.cvae_fit.best_epoch
        ));
    }
    let c = &r.config;
    let fits = r.runs.iter().flat_map(|run| [&run.baseline_fit, &run.cvae_fit]);
    let capped = fits.filter(|f| f.valid.len() >= c.schedule.max_epochs).count();
    let stops = match capped {
        0 => "every run stopped early".to_string(),
        n => format!("{n} of {} runs reached the cap", 2 * r.runs.len()),
    };
    s.push_str(&format!(
        "\nNegative conditional log-likelihood of the missing pixels, nats per test image (lower is better), on \
         {} test digits; {} training digits, {} more held out to stop training (patience {}, at most {} epochs, \
         Pyro's cap: {stops}). The CVAE's −ELBO averages {} draws; the two estimates of its −log p(y ∣ x) use {} \
         samples per image.\n",
        r.test_images,
        r.train_images,
        r.valid_images,
        c.schedule.patience,
        c.schedule.max_epochs,
        c.particles,
        c.samples
    ));
    s
}

pub fn book(book_src: &Path, dev: &Device, log: &mut dyn FnMut(String)) -> Result<Vec<PathBuf>, ReportError> {
    let (results, mut written) = run(&QuadrantsConfig::book(), dev, &book_src.join("figures"), log)?;
    let json = generated_dir(book_src).join("quadrants.json");
    write_json(&json, &results)?;
    let md = generated_dir(book_src).join("quadrants.md");
    write_atomic(&md, table(&results).as_bytes())?;
    written.extend([json, md]);
    Ok(written)
}
