//! The sequential VAE's chapter: a VRNN against a deterministic GRU on Bach chorales and on MNIST
//! digits read row by row, in nats per time step.

use super::{ReportError, generated_dir, write_atomic, write_json};
use crate::data::Mnist;
use crate::data::chorales::{ChoraleSplit, Chorales};
use crate::data::sequences::{SeqBatch, SeqData};
use crate::models::iwae;
use crate::models::vrnn::{self, RnnBaseline, Vrnn, VrnnConfig};
use crate::plot::{self, ImageGrid, Lines, PianoRolls, Roll};
use crate::prob::SeededRng;
use crate::train::{Fit, Schedule, quick_requested};
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Test negative log-likelihood per time step of the deep Markov model on JSB chorales, as
/// reported by Pyro's DMM example and by Krishnan, Shalit & Sontag (2017).
pub const PYRO_DMM: f64 = 6.87;
pub const KRISHNAN_DMM: f64 = 6.93;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequencesConfig {
    pub chorale_model: VrnnConfig,
    pub chorale_schedule: Schedule,
    pub row_model: VrnnConfig,
    pub row_schedule: Schedule,
    /// MNIST digits used as 28-step sequences: training (`None`: all but `row_valid` of the 9,000),
    /// validation (held out of the training digits) and test (`None`: all 1,000).
    pub row_train: Option<usize>,
    pub row_valid: usize,
    pub row_test: Option<usize>,
    /// Trajectories per sequence for the importance-sampled likelihood.
    pub importance_samples: usize,
    /// Beats read before a continuation, and beats generated after them or from scratch.
    pub prefix_beats: usize,
    pub generated_beats: usize,
}

impl SequencesConfig {
    pub fn book() -> Self {
        let chorale_model = VrnnConfig { input_dim: 46, feature: 64, hidden: 128, latent_dim: 16 };
        let row_model = VrnnConfig { input_dim: 28, ..chorale_model };
        Self {
            chorale_model,
            chorale_schedule: Schedule { max_epochs: 300, patience: 5, batch_size: 8, lr: 2e-3, seed: 42 },
            row_model,
            row_schedule: Schedule { max_epochs: 100, patience: 5, batch_size: 250, lr: 3e-3, seed: 42 },
            row_train: None,
            row_valid: 1000,
            row_test: None,
            importance_samples: 100,
            prefix_beats: 16,
            generated_beats: 48,
        }
    }

    /// Seconds: small networks, two epochs, a few hundred digits.
    pub fn quick() -> Self {
        let b = Self::book();
        let small = |m: VrnnConfig| VrnnConfig { feature: 16, hidden: 32, latent_dim: 4, ..m };
        Self {
            chorale_model: small(b.chorale_model),
            chorale_schedule: Schedule { max_epochs: 2, ..b.chorale_schedule },
            row_model: small(b.row_model),
            row_schedule: Schedule { max_epochs: 2, ..b.row_schedule },
            row_train: Some(600),
            row_valid: 100,
            row_test: Some(100),
            importance_samples: 4,
            ..b
        }
    }

    pub fn from_env() -> Self {
        if quick_requested() { Self::quick() } else { Self::book() }
    }
}

/// One data set's numbers, per time step (a beat, or an image row), lower is better.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeqResult {
    pub train_sequences: usize,
    pub test_sequences: usize,
    pub test_steps: usize,
    /// The GRU's exact `-log p(x_{1:T})` per step.
    pub rnn_nll: f64,
    /// The VRNN's negative ELBO per step, split into reconstruction and KL.
    pub vrnn_recon: f64,
    pub vrnn_kl: f64,
    /// The VRNN's `-log p(x_{1:T})` per step by importance sampling.
    pub vrnn_importance: f64,
    /// Mean KL at each position `t` over the test sequences that reach it.
    pub kl_by_step: Vec<f64>,
    pub rnn_fit: Fit,
    pub vrnn_fit: Fit,
    pub rnn_seconds: f64,
    pub vrnn_seconds: f64,
    pub eval_seconds: f64,
}

impl SeqResult {
    pub fn vrnn_elbo(&self) -> f64 {
        self.vrnn_recon + self.vrnn_kl
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequencesResults {
    pub config: SequencesConfig,
    pub chorales: SeqResult,
    pub rows: SeqResult,
}

/// Trains both models on one data set and scores them on its test split.
fn experiment(
    name: &str,
    (model, schedule): (VrnnConfig, Schedule),
    (train, valid, test): (&SeqData, &SeqData, &SeqData),
    samples: usize,
    log: &mut dyn FnMut(String),
) -> Result<(SeqResult, RnnBaseline, Vrnn), ReportError> {
    let start = Instant::now();
    let (rnn, _, rnn_fit) = vrnn::train_baseline(model, train, valid, schedule, |e, t, v| {
        log(format!("    {name}: GRU epoch {e}: nats per step train {t:.3}, validation {v:.3}"))
    })?;
    let rnn_seconds = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let (vrnn, _, vrnn_fit) = vrnn::train_vrnn(model, train, valid, schedule, |e, t, v| {
        log(format!("    {name}: VRNN epoch {e}: -ELBO per step train {t:.3}, validation {v:.3}"))
    })?;
    let vrnn_seconds = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let rnn_nll = vrnn::baseline_nll(&rnn, test)?;
    let (vrnn_recon, vrnn_kl) = vrnn::vrnn_elbo(&vrnn, test, schedule.seed)?;
    let vrnn_importance = vrnn::vrnn_importance_nll(&vrnn, test, samples, 25, schedule.seed)?;
    let kl_by_step = kl_by_step(&vrnn, test, schedule.seed)?;
    let eval_seconds = start.elapsed().as_secs_f64();
    log(format!(
        "    {name}: GRU {rnn_nll:.3}, VRNN -ELBO {:.3} (KL {vrnn_kl:.3}), importance {vrnn_importance:.3} nats per step",
        vrnn_recon + vrnn_kl
    ));
    let result = SeqResult {
        train_sequences: train.batches.iter().map(|b| b.lengths.len()).sum(),
        test_sequences: test.batches.iter().map(|b| b.lengths.len()).sum(),
        test_steps: test.steps(),
        rnn_nll,
        vrnn_recon,
        vrnn_kl,
        vrnn_importance,
        kl_by_step,
        rnn_fit,
        vrnn_fit,
        rnn_seconds,
        vrnn_seconds,
        eval_seconds,
    };
    Ok((result, rnn, vrnn))
}

/// The test KL at each position, averaged over the sequences long enough to have it.
fn kl_by_step(model: &Vrnn, data: &SeqData, seed: u64) -> Result<Vec<f64>, ReportError> {
    let mut rng = SeededRng::derived(seed, "kl-by-step", 0);
    let (mut sum, mut count) = (Vec::<f64>::new(), Vec::<f64>::new());
    for b in &data.batches {
        let (t, n, _) = b.x.dims3()?;
        let terms = model.run_fast(b, &rng.normal(&[t, n, model.cfg.latent_dim], b.x.device())?, false)?;
        let kl = terms.kl.sum(1)?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
        let alive = b.mask.sum(1)?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
        if sum.len() < t {
            sum.resize(t, 0.0);
            count.resize(t, 0.0);
        }
        for i in 0..t {
            sum[i] += kl[i];
            count[i] += alive[i];
        }
    }
    Ok(sum.iter().zip(&count).map(|(s, c)| if *c > 0.0 { s / c } else { 0.0 }).collect())
}

pub(crate) fn rolls_of(c: &Chorales, split: ChoraleSplit) -> Vec<Vec<f32>> {
    c.split(split).iter().map(|ch| c.roll(ch)).collect()
}

/// MNIST digits, binarized once with `seed`, as sequences of 28 rows of 28 pixels.
pub(crate) fn digit_rows(images: &[u8], seed: u64, stream: &str) -> Result<Vec<Vec<f32>>, ReportError> {
    let values = iwae::binarize(images, &mut SeededRng::derived(seed, stream, 0))?;
    Ok(values.chunks(784).map(<[f32]>::to_vec).collect())
}

pub fn run(
    cfg: &SequencesConfig,
    dev: &Device,
    fig_dir: &Path,
    log: &mut dyn FnMut(String),
) -> Result<(SequencesResults, Vec<PathBuf>), ReportError> {
    let file = |msg: String| ReportError::File { path: "embedded data".into(), msg };
    let chorales = Chorales::embedded().map_err(|e| file(e.to_string()))?;
    let keys = chorales.keys();
    let batch = cfg.chorale_schedule.batch_size;
    let rolls = [ChoraleSplit::Train, ChoraleSplit::Valid, ChoraleSplit::Test].map(|s| rolls_of(&chorales, s));
    let [c_train, c_valid, c_test] = [&rolls[0], &rolls[1], &rolls[2]].map(|r| SeqData::new(r, keys, batch, dev));
    let (c_train, c_valid, c_test) = (c_train?, c_valid?, c_test?);
    log(format!("  chorales: {} train, {} validation, {} test", rolls[0].len(), rolls[1].len(), rolls[2].len()));
    let (chorale_result, _, chorale_vrnn) = experiment(
        "chorales",
        (cfg.chorale_model, cfg.chorale_schedule),
        (&c_train, &c_valid, &c_test),
        cfg.importance_samples,
        log,
    )?;

    let mnist = Mnist::embedded().map_err(|e| file(e.to_string()))?;
    let Mnist { train: train_digits, test: test_digits, .. } = mnist.cut((cfg.row_train, cfg.row_test));
    let all = digit_rows(&train_digits.pixels, cfg.row_schedule.seed, "row-binarization")?;
    let n_train =
        all.len().checked_sub(cfg.row_valid).filter(|&n| n > 0).ok_or_else(|| {
            file(format!("row_valid {} leaves no training digits out of {}", cfg.row_valid, all.len()))
        })?;
    let test_rows = digit_rows(&test_digits.pixels, cfg.row_schedule.seed, "test-binarization")?;
    let rb = cfg.row_schedule.batch_size;
    let (r_train, r_valid, r_test) = (
        SeqData::new(&all[..n_train], 28, rb, dev)?,
        SeqData::new(&all[n_train..], 28, rb, dev)?,
        SeqData::new(&test_rows, 28, rb, dev)?,
    );
    let (row_result, _, row_vrnn) = experiment(
        "digit rows",
        (cfg.row_model, cfg.row_schedule),
        (&r_train, &r_valid, &r_test),
        cfg.importance_samples,
        log,
    )?;

    let mut written = chorale_figures(cfg, &chorales, &rolls[2], &chorale_vrnn, dev, fig_dir)?;
    written.push(row_figure(cfg, &test_rows, &row_vrnn, dev, fig_dir)?);
    let kl_path = fig_dir.join("sequence-kl.png");
    let curve = |v: &[f64]| v.iter().enumerate().map(|(t, k)| (t as f32 + 1.0, *k as f32)).collect::<Vec<_>>();
    let horizon = 64.min(chorale_result.kl_by_step.len());
    let (c_curve, r_curve) = (curve(&chorale_result.kl_by_step[..horizon]), curve(&row_result.kl_by_step));
    plot::lines(
        &[("chorales (per beat)", &c_curve), ("MNIST digits (per row)", &r_curve)],
        Lines { dots: true, integer_x: true, ..Lines::default() },
        "VRNN: KL(q || prior) at each step, test mean",
        ("step t", "nats"),
        &kl_path,
    )?;
    written.push(kl_path);
    Ok((SequencesResults { config: cfg.clone(), chorales: chorale_result, rows: row_result }, written))
}

/// The piano-roll figures: a test chorale and its reconstruction, continuations of its opening,
/// and chorales generated from nothing.
fn chorale_figures(
    cfg: &SequencesConfig,
    chorales: &Chorales,
    test: &[Vec<f32>],
    model: &Vrnn,
    dev: &Device,
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    let keys = chorales.keys();
    // The first test chorale long enough for an opening and its continuation.
    let needed = cfg.prefix_beats + cfg.generated_beats;
    let roll = test.iter().find(|r| r.len() / keys >= needed).or(test.first()).cloned().unwrap_or_default();
    let beats = (roll.len() / keys).min(needed);
    let roll = &roll[..beats * keys];
    let batch = SeqBatch::new(&[roll], keys, dev)?;
    let recon_path = chorale_reconstruction(model, (roll, &batch), (keys, chorales.pitch_min), dir)?;
    let mut rng = SeededRng::derived(cfg.chorale_schedule.seed, "chorale-samples", 0);
    let cont_path = chorale_continuations(cfg, model, (roll, &batch), (keys, chorales.pitch_min), &mut rng, dir)?;
    let steps = cfg.prefix_beats.min(beats) + cfg.generated_beats;
    let (fresh, _) = model.sample(ROLLS, None, steps, &mut rng)?;
    let fresh: Vec<Vec<f32>> = (0..ROLLS)
        .map(|i| fresh.narrow(1, i, 1)?.flatten_all()?.to_vec1::<f32>())
        .collect::<candle_core::Result<_>>()?;
    let labels: Vec<String> = (1..=ROLLS).map(|i| format!("sample {i}")).collect();
    let panels: Vec<Roll> =
        fresh.iter().zip(&labels).map(|(v, l)| Roll { label: l, values: v, steps, mark: None }).collect();
    let sample_path = dir.join("chorale-samples.png");
    let title = "Chorales sampled from the VRNN's prior";
    PianoRolls { rolls: &panels, keys, lowest_pitch: chorales.pitch_min, title, beat_px: BEAT_PX, key_px: KEY_PX }
        .save(&sample_path)?;
    Ok(vec![recon_path, cont_path, sample_path])
}

/// Sampled continuations, and samples from the prior, in the chorale figures.
const ROLLS: usize = 3;
/// Pixels per beat and per key of a piano roll.
const BEAT_PX: usize = 8;
const KEY_PX: usize = 3;

/// A test chorale above the VRNN's note probabilities with its code at the encoder's mean.
fn chorale_reconstruction(
    model: &Vrnn,
    (roll, batch): (&[f32], &SeqBatch),
    (keys, lowest_pitch): (usize, u8),
    dir: &Path,
) -> Result<PathBuf, ReportError> {
    let beats = roll.len() / keys;
    let zeros = Tensor::zeros((beats, 1, model.cfg.latent_dim), DType::F32, batch.x.device())?;
    let recon = candle_nn::ops::sigmoid(&model.run(batch, &zeros, false)?.logits)?.flatten_all()?.to_vec1::<f32>()?;
    let path = dir.join("chorale-reconstruction.png");
    PianoRolls {
        rolls: &[
            Roll { label: "a test chorale", values: roll, steps: beats, mark: None },
            Roll {
                label: "VRNN: p(note) at each beat, code at the encoder's mean",
                values: &recon,
                steps: beats,
                mark: None,
            },
        ],
        keys,
        lowest_pitch,
        title: &format!(
            "A test chorale (MIDI {lowest_pitch}-{} upwards, one column per beat)",
            lowest_pitch as usize + keys - 1
        ),
        beat_px: BEAT_PX,
        key_px: KEY_PX,
    }
    .save(&path)?;
    Ok(path)
}

/// The chorale's opening continued [`ROLLS`] times by the VRNN, beside the chorale itself.
fn chorale_continuations(
    cfg: &SequencesConfig,
    model: &Vrnn,
    (roll, batch): (&[f32], &SeqBatch),
    (keys, lowest_pitch): (usize, u8),
    rng: &mut SeededRng,
    dir: &Path,
) -> Result<PathBuf, ReportError> {
    let beats = roll.len() / keys;
    let prefix_beats = cfg.prefix_beats.min(beats);
    let prefix = batch.x.narrow(0, 0, prefix_beats)?.broadcast_as((prefix_beats, ROLLS, keys))?.contiguous()?;
    let (cont, _) = model.sample(ROLLS, Some(&prefix), cfg.generated_beats, rng)?;
    let opening = &roll[..prefix_beats * keys];
    let mut continued = Vec::new();
    for i in 0..ROLLS {
        let tail = cont.narrow(1, i, 1)?.flatten_all()?.to_vec1::<f32>()?;
        continued.push([opening, &tail].concat());
    }
    let steps = prefix_beats + cfg.generated_beats;
    let labels: Vec<String> = (1..=ROLLS).map(|i| format!("continuation {i}")).collect();
    let mut panels = vec![Roll { label: "the chorale", values: roll, steps: beats, mark: Some(prefix_beats) }];
    panels.extend(continued.iter().zip(&labels).map(|(v, l)| Roll {
        label: l,
        values: v,
        steps,
        mark: Some(prefix_beats),
    }));
    let path = dir.join("chorale-continuations.png");
    let title = format!("The first {prefix_beats} beats, then {} beats sampled by the VRNN", cfg.generated_beats);
    PianoRolls { rolls: &panels, keys, lowest_pitch, title: &title, beat_px: BEAT_PX, key_px: KEY_PX }.save(&path)?;
    Ok(path)
}

/// Digits read row by row: the top half of test digits continued by the VRNN, and fresh digits.
fn row_figure(
    cfg: &SequencesConfig,
    test: &[Vec<f32>],
    model: &Vrnn,
    dev: &Device,
    dir: &Path,
) -> Result<PathBuf, ReportError> {
    let cols = 8.min(test.len());
    let mut rng = SeededRng::derived(cfg.row_schedule.seed, "row-samples", 0);
    let mut images = Vec::new();
    let batch = SeqBatch::new(&test[..cols].iter().map(Vec::as_slice).collect::<Vec<_>>(), 28, dev)?;
    images.extend(batch.x.permute((1, 0, 2))?.flatten_all()?.to_vec1::<f32>()?);
    let top = batch.x.narrow(0, 0, 14)?;
    for _ in 0..2 {
        let (_, probs) = model.sample(cols, Some(&top), 14, &mut rng)?;
        images.extend(Tensor::cat(&[&top, &probs], 0)?.permute((1, 0, 2))?.flatten_all()?.to_vec1::<f32>()?);
    }
    let (_, probs) = model.sample(cols, None, 28, &mut rng)?;
    images.extend(probs.permute((1, 0, 2))?.flatten_all()?.to_vec1::<f32>()?);
    let path = dir.join("vrnn-rows.png");
    let labels = ["test digit", "rows 15-28 drawn", "drawn again", "from scratch"];
    ImageGrid {
        images: &images,
        side: 28,
        rows: 4,
        cols,
        title: "A VRNN reading digits row by row",
        row_labels: Some(&labels),
        scale: 2,
    }
    .save(&path)?;
    Ok(path)
}

pub fn table(r: &SequencesResults) -> String {
    let row = |name: &str, unit: &str, s: &SeqResult| {
        format!(
            "| {name} | {unit} | {} / {} | {} ({}), {} ({}) | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |\n",
            s.train_sequences,
            s.test_sequences,
            s.rnn_fit.valid.len(),
            s.rnn_fit.best_epoch,
            s.vrnn_fit.valid.len(),
            s.vrnn_fit.best_epoch,
            s.rnn_nll,
            s.vrnn_elbo(),
            s.vrnn_recon,
            s.vrnn_kl,
            s.vrnn_importance
        )
    };
    let mut out = String::from(
        "| data | step | sequences (train / test) | epochs run (kept): GRU, VRNN | GRU −log p | VRNN −ELBO | reconstruction | KL | VRNN −log p (importance sampled) |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    out.push_str(&row("Bach chorales", "beat", &r.chorales));
    out.push_str(&row("MNIST, binarized", "image row", &r.rows));
    let (c, d) = (&r.config.chorale_schedule, &r.config.row_schedule);
    let capped = [(&r.chorales, c), (&r.rows, d)]
        .iter()
        .flat_map(|(s, sched)| [&s.rnn_fit, &s.vrnn_fit].map(|f| f.valid.len() >= sched.max_epochs))
        .filter(|&hit| hit)
        .count();
    let stops = if capped == 0 {
        "all four runs stopped early".to_string()
    } else {
        format!("{capped} of 4 runs reached the cap")
    };
    out.push_str(&format!(
        "\nTest nats per time step (lower is better); {} trajectories per sequence for the importance-sampled \
         estimate. Training stops once the validation loss has not improved for {} epochs on the chorales and {} on \
         the digits, keeping the best epoch's weights, or at a cap of {} and {} epochs: {stops}. For comparison, the \
         deep Markov model on the JSB chorales: {PYRO_DMM} (Pyro's example), {KRISHNAN_DMM} (Krishnan et al. 2017), \
         both negative ELBOs.\n",
        r.config.importance_samples, c.patience, d.patience, c.max_epochs, d.max_epochs
    ));
    out
}

pub fn book(book_src: &Path, dev: &Device, log: &mut dyn FnMut(String)) -> Result<Vec<PathBuf>, ReportError> {
    let (results, mut written) = run(&SequencesConfig::book(), dev, &book_src.join("figures"), log)?;
    let json = generated_dir(book_src).join("sequences.json");
    write_json(&json, &results)?;
    let md = generated_dir(book_src).join("sequences.md");
    write_atomic(&md, table(&results).as_bytes())?;
    written.extend([json, md]);
    Ok(written)
}
