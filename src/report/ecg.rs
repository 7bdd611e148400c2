//! The chapter "A medical signal: heartbeats that do not fit": a VAE trained on the narrow beats of
//! the first 144 s of an electrocardiogram (the next 36 s validate) scores the beats of the last two
//! minutes, and the scores are compared with the wide/narrow label and with the plain alternatives
//! (the distance to the average beat, PCA, a plain autoencoder), over several seeds.

use super::{ReportError, generated_dir, mean_sd, write_atomic, write_json};
use crate::classic::anomaly;
use crate::classic::pca::Pca;
use crate::data::ecg::{self, Beat, BeatConfig, EcgSet, Role};
use crate::models::ecg_vae::{self, EcgConfig, EcgVae};
use crate::models::vae::VaeConfig;
use crate::plot::{self, Lines};
use crate::train::{Run, RunConfig, quick_requested};
use candle_core::{D, Device, Tensor};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Pixels of the record's strip figure (without its legend).
const STRIP_SIZE: (u32, u32) = (1100, 380);
/// Power-iteration rounds for the PCA baseline.
const PCA_ITERATIONS: usize = 200;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EcgReportConfig {
    pub beats: BeatConfig,
    pub run: RunConfig,
    /// `(hidden units, code dimensions)` tried with the first seed; the best on the validation
    /// beats is the size of every later run.
    pub sizes: Vec<(usize, usize)>,
    /// One VAE and one autoencoder per seed.
    pub seeds: Vec<u64>,
    /// Codes per beat for `-log p(x)` by importance sampling, and for the negative ELBO's average.
    pub importance_samples: usize,
    pub elbo_samples: usize,
    /// The stretch of the record the strip figure shows, seconds.
    pub strip: (f64, f64),
    /// Test beats shown as the most and as the least typical.
    pub shown: usize,
}

impl EcgReportConfig {
    pub fn book() -> Self {
        let sizes = [32, 64, 128].iter().flat_map(|&h| [2, 4, 8].map(|l| (h, l))).collect();
        Self {
            beats: BeatConfig::default(),
            run: ecg_vae::BOOK_RUN,
            sizes,
            seeds: vec![1, 2, 3, 4, 5],
            importance_samples: 1000,
            elbo_samples: ecg_vae::ELBO_SAMPLES,
            strip: (150.0, 160.0),
            shown: 5,
        }
    }

    /// Two sizes, two seeds, 20 epochs (`VAE_BOOK_QUICK=1`).
    pub fn quick() -> Self {
        let book = Self::book();
        Self {
            run: RunConfig { epochs: 20, ..book.run },
            sizes: vec![(32, 2), (64, 8)],
            seeds: vec![1, 2],
            importance_samples: 20,
            elbo_samples: 2,
            ..book
        }
    }

    pub fn from_env() -> Self {
        if quick_requested() { Self::quick() } else { Self::book() }
    }
}

/// The beats found and where they went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BeatCounts {
    pub detected: usize,
    pub train: usize,
    pub validation: usize,
    /// Wide beats before the split, left out.
    pub unused_wide: usize,
    pub test: usize,
    pub test_wide: usize,
    /// Median width at half height of the narrow and of the wide beats, milliseconds.
    pub narrow_width_ms: f64,
    pub wide_width_ms: f64,
    /// Beats per minute over the whole record.
    pub per_minute: f64,
    /// Beats whose width is between 30 and 40 ms: close to the rule's line, on the narrow side.
    pub near_the_line: usize,
}

/// One size of the sweep: its best validation negative ELBO and the epoch it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeResult {
    pub hidden: usize,
    pub latent: usize,
    pub validation: f64,
    pub best_epoch: usize,
}

/// One way of scoring beats: per seed (one entry for the methods without randomness), the area
/// under the ROC curve of wide against narrow test beats, and with the threshold set at the highest
/// validation score (no labels needed), the share of wide test beats flagged and of narrow ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodResult {
    pub name: String,
    /// The threshold (the highest validation score) of each seed, and when the validation beat
    /// that sets it occurs (seconds into the record).
    pub thresholds: Vec<f64>,
    pub threshold_beats: Vec<f64>,
    pub aucs: Vec<f64>,
    pub sensitivity: Vec<f64>,
    pub false_alarms: Vec<f64>,
}

/// A test beat named in the figures: its time, its score and its label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShownBeat {
    pub seconds: f64,
    pub score: f64,
    pub wide: bool,
    /// The R wave's width at half height, milliseconds.
    pub width_ms: f64,
    /// Seconds to the next beat's R peak, and whether that beat is wide (`None` for the last beat).
    pub next_beat: Option<f64>,
    pub next_wide: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EcgResults {
    pub config: EcgReportConfig,
    pub counts: BeatCounts,
    pub sizes: Vec<SizeResult>,
    pub chosen: (usize, usize),
    pub methods: Vec<MethodResult>,
    /// Seconds to train one VAE of the chosen size (the first seed's run).
    pub train_seconds: f64,
    /// The first VAE's decoder standard deviation, fitted on the training beats, millivolts.
    pub sigma_mv: f64,
    /// The first seed's VAE's most and least typical test beats by `-log p(x)`.
    pub most_typical: Vec<ShownBeat>,
    pub least_typical: Vec<ShownBeat>,
    /// The narrow test beats it finds least typical.
    pub least_typical_narrow: Vec<ShownBeat>,
    /// Every method's ROC curve on the test beats, from the first seed.
    pub roc: Vec<(String, Vec<(f64, f64)>)>,
}

impl EcgResults {
    pub fn method(&self, name: &str) -> Option<&MethodResult> {
        self.methods.iter().find(|m| m.name == name)
    }

    /// The standard error of an AUC of `auc` on this test set (Hanley and McNeil, independent beats).
    pub fn auc_standard_error(&self, auc: f64) -> f64 {
        let c = &self.counts;
        anomaly::auc_standard_error(auc, c.test_wide, c.test - c.test_wide)
    }
}

/// The names of the methods, in the table's order.
pub const MEAN_BEAT: &str = "distance to the average beat";
pub const PCA: &str = "PCA reconstruction error";
pub const AUTOENCODER: &str = "autoencoder reconstruction error";
pub const VAE_ELBO: &str = "VAE -ELBO";
pub const VAE_NLL: &str = "VAE -log p(x)";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { f64::NAN } else { v[v.len() / 2] }
}

fn counts(data: &EcgSet) -> BeatCounts {
    let widths = |wide: bool| median(data.beats.iter().filter(|b| b.wide == wide).map(|b| b.width * 1000.0).collect());
    let (test, test_wide) = data.count(Role::Test);
    BeatCounts {
        detected: data.beats.len(),
        train: data.count(Role::Train).0,
        validation: data.count(Role::Validation).0,
        unused_wide: data.count(Role::Unused).0,
        test,
        test_wide,
        narrow_width_ms: widths(false),
        wide_width_ms: widths(true),
        per_minute: data.beats.len() as f64 / (data.signal.len() as f64 / ecg::RATE / 60.0),
        near_the_line: data.beats.iter().filter(|b| (0.03..0.04).contains(&b.width)).count(),
    }
}

fn train(
    cfg: &EcgReportConfig,
    data: &EcgSet,
    model: EcgConfig,
    seed: u64,
    dev: &Device,
) -> Result<Run<EcgVae>, ReportError> {
    let mut run = Run::<EcgVae>::new(model, RunConfig { seed, ..cfg.run }, dev)?;
    run.fit(data, |_| {})?;
    Ok(run)
}

fn model_config(data: &EcgSet, (hidden, latent): (usize, usize), autoencoder: bool) -> EcgConfig {
    EcgConfig { model: VaeConfig { input_dim: data.cfg.window(), hidden, latent_dim: latent }, autoencoder }
}

/// Every size of the sweep trained with the first seed, and the best on the validation beats.
fn sweep(
    cfg: &EcgReportConfig,
    data: &EcgSet,
    dev: &Device,
    log: &mut dyn FnMut(String),
) -> Result<(Vec<SizeResult>, (usize, usize)), ReportError> {
    let mut out = Vec::new();
    for &(hidden, latent) in &cfg.sizes {
        let run = train(cfg, data, model_config(data, (hidden, latent), false), cfg.seeds[0], dev)?;
        log(format!(
            "  hidden {hidden}, code {latent}: validation -ELBO {:.2} (epoch {})",
            run.best.loss, run.best.epoch
        ));
        out.push(SizeResult { hidden, latent, validation: run.best.loss, best_epoch: run.best.epoch });
    }
    let best = out.iter().min_by(|a, b| a.validation.total_cmp(&b.validation)).map(|s| (s.hidden, s.latent));
    let best = best.ok_or_else(|| ReportError::File { path: "ecg".into(), msg: "no sizes to try".into() })?;
    Ok((out, best))
}

/// Scores of the validation and the test beats (higher = less typical).
struct Scores {
    validation: Vec<f64>,
    test: Vec<f64>,
}

impl Scores {
    /// The highest validation score (a threshold that flags none of the validation beats), and
    /// the index of the validation beat that has it.
    fn threshold(&self) -> (f64, usize) {
        let best = (0..self.validation.len()).max_by(|&a, &b| self.validation[a].total_cmp(&self.validation[b]));
        best.map_or((f64::MAX, 0), |i| (self.validation[i], i))
    }

    /// `(auc, sensitivity, false alarms)` against the test labels, flagging above the threshold.
    fn measure(&self, wide: &[bool]) -> (f64, f64, f64) {
        let threshold = self.threshold().0;
        let share = |label: bool| {
            let of: Vec<f64> = self.test.iter().zip(wide).filter(|(_, w)| **w == label).map(|(s, _)| *s).collect();
            of.iter().filter(|s| **s > threshold).count() as f64 / of.len().max(1) as f64
        };
        (anomaly::auc(&self.test, wide), share(true), share(false))
    }
}

fn squared_distance(x: &Tensor, y: &Tensor) -> candle_core::Result<Vec<f64>> {
    (x - y)?.sqr()?.sum(D::Minus1)?.to_dtype(candle_core::DType::F64)?.to_vec1()
}

/// The two methods without randomness: the distance to the training beats' mean, and PCA's error.
fn plain_scores(data: &EcgSet, components: usize) -> candle_core::Result<Vec<(&'static str, Scores)>> {
    let mean = data.train.mean_keepdim(0)?;
    let distance = |x: &Tensor| squared_distance(x, &mean.broadcast_as(x.shape())?);
    let pca = Pca::fit(&data.train, components, PCA_ITERATIONS)?;
    let pca_error = |x: &Tensor| squared_distance(x, &pca.reconstruct(x)?);
    Ok(vec![
        (MEAN_BEAT, Scores { validation: distance(&data.validation)?, test: distance(&data.test)? }),
        (PCA, Scores { validation: pca_error(&data.validation)?, test: pca_error(&data.test)? }),
    ])
}

/// The scores of one seed's trained VAE (both) or autoencoder (its reconstruction error).
fn model_scores(
    cfg: &EcgReportConfig,
    run: &Run<EcgVae>,
    data: &EcgSet,
) -> candle_core::Result<Vec<(&'static str, Scores)>> {
    let (model, seed) = (&run.model, run.run.seed);
    let log_sigma = model.fitted_log_sigma(data, seed)?;
    let elbo = |x: &Tensor| model.negative_elbo(x, log_sigma, cfg.elbo_samples, seed);
    if run.cfg.autoencoder {
        return Ok(vec![(AUTOENCODER, Scores { validation: elbo(&data.validation)?, test: elbo(&data.test)? })]);
    }
    let nll = |x: &Tensor| model.importance_nll(x, log_sigma, cfg.importance_samples, seed);
    Ok(vec![
        (VAE_ELBO, Scores { validation: elbo(&data.validation)?, test: elbo(&data.test)? }),
        (VAE_NLL, Scores { validation: nll(&data.validation)?, test: nll(&data.test)? }),
    ])
}

/// Adds one seed's measurements of `scores` to `methods` (a new row for a new name).
fn record(methods: &mut Vec<MethodResult>, scores: &[(&'static str, Scores)], data: &EcgSet) {
    let validation: Vec<f64> = data.beats.iter().filter(|b| b.role == Role::Validation).map(Beat::time).collect();
    for (name, s) in scores {
        let (auc, sensitivity, false_alarms) = s.measure(&data.test_wide);
        if !methods.iter().any(|m| m.name == *name) {
            let empty = vec![];
            methods.push(MethodResult {
                name: name.to_string(),
                thresholds: empty.clone(),
                threshold_beats: empty.clone(),
                aucs: empty.clone(),
                sensitivity: empty.clone(),
                false_alarms: empty,
            });
        }
        let Some(row) = methods.iter_mut().find(|m| m.name == *name) else { continue };
        let (threshold, at) = s.threshold();
        row.thresholds.push(threshold);
        row.threshold_beats.push(validation.get(at).copied().unwrap_or(f64::NAN));
        row.aucs.push(auc);
        row.sensitivity.push(sensitivity);
        row.false_alarms.push(false_alarms);
    }
}

/// Trains the sweep and one VAE and one autoencoder per seed, and measures every method. Returns
/// the results, the data, the first seed's VAE and every method's test scores from the first seed.
pub fn run(
    cfg: &EcgReportConfig,
    dev: &Device,
    log: &mut dyn FnMut(String),
) -> Result<(EcgResults, EcgSet, Run<EcgVae>), ReportError> {
    let file = |msg: String| ReportError::File { path: ecg::EMBEDDED_PATH.into(), msg };
    let data = EcgSet::embedded(cfg.beats, dev).map_err(|e| file(e.to_string()))?;
    let counts = counts(&data);
    let (n, wide) = (counts.test, counts.test_wide);
    log(format!(
        "{} beats: {} training, {} validation, {n} test ({wide} wide)",
        counts.detected, counts.train, counts.validation
    ));
    let (sizes, chosen) = sweep(cfg, &data, dev, log)?;
    log(format!("  chosen: hidden {}, code {}", chosen.0, chosen.1));
    let mut methods = Vec::new();
    let plain = plain_scores(&data, chosen.1)?;
    record(&mut methods, &plain, &data);
    let mut roc: Vec<(String, Vec<f64>)> = plain.into_iter().map(|(n, s)| (n.to_string(), s.test)).collect();
    let (mut first, mut train_seconds) = (None, 0.0);
    for &seed in &cfg.seeds {
        let start = Instant::now();
        let vae = train(cfg, &data, model_config(&data, chosen, false), seed, dev)?;
        let seconds = start.elapsed().as_secs_f64();
        let ae = train(cfg, &data, model_config(&data, chosen, true), seed, dev)?;
        let scores: Vec<_> =
            model_scores(cfg, &ae, &data)?.into_iter().chain(model_scores(cfg, &vae, &data)?).collect();
        record(&mut methods, &scores, &data);
        log(format!("  seed {seed}: VAE kept epoch {}, autoencoder epoch {}", vae.best.epoch, ae.best.epoch));
        if first.is_none() {
            roc.extend(scores.into_iter().map(|(n, s)| (n.to_string(), s.test)));
            (first, train_seconds) = (Some(vae), seconds);
        }
    }
    let first = first.ok_or_else(|| file("no seeds to train".into()))?;
    let nll = roc.iter().find(|(n, _)| n == VAE_NLL).map(|(_, s)| s.as_slice()).unwrap_or(&[]);
    let [most_typical, least_typical, least_typical_narrow] = extremes(cfg.shown, nll, &data);
    let roc = roc.into_iter().map(|(n, s)| (n, anomaly::roc(&s, &data.test_wide))).collect();
    let sigma_mv = (first.model.fitted_log_sigma(&data, first.run.seed)? as f64).exp();
    let results = EcgResults {
        config: cfg.clone(),
        counts,
        sizes,
        chosen,
        methods,
        train_seconds,
        sigma_mv,
        most_typical,
        least_typical,
        least_typical_narrow,
        roc,
    };
    Ok((results, data, first))
}

/// The `n` test beats with the lowest `scores`, the `n` with the highest, and the `n` narrow ones
/// with the highest (what a false alarm looks like).
fn extremes(n: usize, scores: &[f64], data: &EcgSet) -> [Vec<ShownBeat>; 3] {
    let test: Vec<&Beat> = data.beats.iter().filter(|b| b.role == Role::Test).collect();
    let mut order: Vec<usize> = (0..scores.len().min(test.len())).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let next = |b: &Beat| data.beats.iter().find(|n| n.r > b.r);
    let shown = |i: &usize| {
        let (b, after) = (test[*i], next(test[*i]));
        ShownBeat {
            seconds: b.time(),
            score: scores[*i],
            wide: b.wide,
            width_ms: b.width * 1000.0,
            next_beat: after.map(|n| n.time() - b.time()),
            next_wide: after.map(|n| n.wide),
        }
    };
    let narrow: Vec<usize> = order.iter().copied().filter(|&i| !test[i].wide).collect();
    let (n, m) = (n.min(order.len()), n.min(narrow.len()));
    [
        order[..n].iter().map(shown).collect(),
        order[order.len() - n..].iter().rev().map(shown).collect(),
        narrow[narrow.len() - m..].iter().rev().map(shown).collect(),
    ]
}

/// Where the beats went.
pub fn beats_table(r: &EcgResults) -> String {
    let c = &r.counts;
    let (v, s) = (r.config.beats.validation_from, r.config.beats.split_at);
    [
        "| beats | count |".to_string(),
        "|---|---:|".to_string(),
        format!("| found, with a whole window in the record | {} |", c.detected),
        format!("| narrow, before {v} s: training | {} |", c.train),
        format!("| narrow, {v} to {s} s: validation | {} |", c.validation),
        format!("| wide, before {s} s: not used | {} |", c.unused_wide),
        format!("| after {s} s: test | {} |", c.test),
        format!("| of which wide | {} ({:.0}%) |", c.test_wide, 100.0 * c.test_wide as f64 / c.test.max(1) as f64),
    ]
    .join("\n")
}

/// The size sweep: each size's best validation negative ELBO, the chosen one in bold.
pub fn sizes_table(r: &EcgResults) -> String {
    let mut lines =
        vec!["| hidden units | code dimensions | validation -ELBO, nats per beat | best epoch |".to_string()];
    lines.push("|---:|---:|---:|---:|".into());
    for s in &r.sizes {
        let value = format!("{:.2}", s.validation);
        let value = if (s.hidden, s.latent) == r.chosen { format!("**{value}**") } else { value };
        lines.push(format!("| {} | {} | {value} | {} |", s.hidden, s.latent, s.best_epoch));
    }
    lines.join("\n")
}

fn spread(values: &[f64], digits: usize, scale: f64) -> String {
    let (m, sd) = mean_sd(values);
    if values.len() < 2 {
        format!("{:.digits$}", m * scale)
    } else {
        format!("{:.digits$} ± {:.digits$}", m * scale, sd * scale)
    }
}

/// The methods: AUC, and what a label-free threshold flags, mean ± sd over seeds.
pub fn scores_table(r: &EcgResults) -> String {
    let mut lines = vec![
        "| score (higher = less typical) | AUC, wide against narrow | wide beats flagged, % | narrow beats flagged, % |"
            .to_string(),
        "|---|---:|---:|---:|".into(),
    ];
    for m in &r.methods {
        let (auc, sens, fa) =
            (spread(&m.aucs, 4, 1.0), spread(&m.sensitivity, 1, 100.0), spread(&m.false_alarms, 1, 100.0));
        lines.push(format!("| {} | {auc} | {sens} | {fa} |", m.name));
    }
    lines.join("\n")
}

/// Writes the chapter's figures into `dir`: the record's strip, all beats, the ROC curves, the most and least
/// typical test beats, and the first VAE's reconstructions and samples. Returns their paths.
pub fn figures(r: &EcgResults, data: &EcgSet, run: &Run<EcgVae>, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    use crate::cli::CliModel;
    let path = |name: &str| dir.join(name);
    strip_figure(r, data, &path("ecg-record.png"))?;
    let traces = |wide: bool| -> candle_core::Result<Vec<Vec<(f32, f32)>>> {
        let rows: Vec<f32> = data.beats.iter().filter(|b| b.wide == wide).flat_map(|b| b.values.clone()).collect();
        data.cfg.traces(&Tensor::from_vec(
            rows.clone(),
            (rows.len() / data.cfg.window(), data.cfg.window()),
            &Device::Cpu,
        )?)
    };
    let (narrow, wide) = (traces(false)?, traces(true)?);
    let title = format!("All {} beats: {} narrow, {} wide", narrow.len() + wide.len(), narrow.len(), wide.len());
    plot::traces(
        &[("narrow", &narrow), ("wide", &wide)],
        true,
        &title,
        ("seconds from the R peak", "mV"),
        &path("ecg-beats.png"),
    )?;
    roc_figure(r, &path("ecg-roc.png"))?;
    typical_figure(r, data, &path("ecg-typical.png"))?;
    EcgVae::reconstruct(run, data, 3, &path("ecg-reconstructions.png"))
        .map_err(|e| ReportError::File { path: dir.into(), msg: e.to_string() })?;
    EcgVae::sample(run, data, run.run.seed, &path("ecg-samples.png"))
        .map_err(|e| ReportError::File { path: dir.into(), msg: e.to_string() })?;
    let names = [
        "ecg-record.png",
        "ecg-beats.png",
        "ecg-roc.png",
        "ecg-typical.png",
        "ecg-reconstructions.png",
        "ecg-samples.png",
    ];
    Ok(names.iter().map(|n| path(n)).collect())
}

/// The record from `strip.0` to `strip.1` seconds with each beat's R peak marked by its label.
fn strip_figure(r: &EcgResults, data: &EcgSet, path: &Path) -> Result<(), ReportError> {
    let signal = &data.signal;
    let (from, to) =
        ((r.config.strip.0 * ecg::RATE) as usize, ((r.config.strip.1 * ecg::RATE) as usize).min(signal.len()));
    let line: Vec<(f32, f32)> = (from..to).map(|i| ((i as f64 / ecg::RATE) as f32, signal[i])).collect();
    let peaks = |wide: bool| -> Vec<(f32, f32)> {
        data.beats
            .iter()
            .filter(|b| b.wide == wide && (from..to).contains(&b.r))
            .map(|b| (b.time() as f32, signal[b.r]))
            .collect()
    };
    let (narrow, wide) = (peaks(false), peaks(true));
    let title = format!("Lead MLII, {} to {} s, each R peak marked by its label", r.config.strip.0, r.config.strip.1);
    let marks = [("narrow beat's R peak", narrow.as_slice()), ("wide beat's R peak", wide.as_slice())];
    plot::signal_with_marks(&line, &marks, STRIP_SIZE, &title, ("seconds", "mV"), path)?;
    Ok(())
}

fn roc_figure(r: &EcgResults, path: &Path) -> Result<(), ReportError> {
    let curves: Vec<(String, Vec<(f32, f32)>)> =
        r.roc.iter().map(|(n, pts)| (n.clone(), pts.iter().map(|&(x, y)| (x as f32, y as f32)).collect())).collect();
    let chance = [(0.0f32, 0.0f32), (1.0, 1.0)];
    let mut series: Vec<(&str, &[(f32, f32)])> = curves.iter().map(|(n, p)| (n.as_str(), p.as_slice())).collect();
    series.push(("chance", &chance));
    let how = Lines { size: (560, 520), equal_axes: true, reference_last: true, ..Lines::default() };
    let title = "ROC on the test beats: wide against narrow (first seed)";
    plot::lines(&series, how, title, ("false positive rate", "true positive rate"), path)?;
    Ok(())
}

/// The first VAE's most and least typical test beats by `-log p(x)`.
fn typical_figure(r: &EcgResults, data: &EcgSet, path: &Path) -> Result<(), ReportError> {
    let test: Vec<&Beat> = data.beats.iter().filter(|b| b.role == Role::Test).collect();
    let pick = |shown: &[ShownBeat]| -> Vec<Vec<(f32, f32)>> {
        let at = |s: &ShownBeat| test.iter().find(|b| (b.time() - s.seconds).abs() < 1e-9);
        let time = |i: usize| (i as f64 / ecg::RATE - data.cfg.before) as f32;
        shown.iter().filter_map(at).map(|b| b.values.iter().enumerate().map(|(i, &v)| (time(i), v)).collect()).collect()
    };
    let (most, least, narrow) = (pick(&r.most_typical), pick(&r.least_typical), pick(&r.least_typical_narrow));
    let (a, b, c) = (
        format!("{} most typical", most.len()),
        format!("{} least typical", least.len()),
        format!("{} least typical narrow", narrow.len()),
    );
    let title = "Test beats the VAE finds most and least typical (-log p(x))";
    plot::traces(&[(&a, &most), (&b, &least), (&c, &narrow)], false, title, ("seconds from the R peak", "mV"), path)?;
    Ok(())
}

/// Runs the chapter's experiment and writes its numbers and figures under `book_src`.
pub fn book(book_src: &Path, dev: &Device, log: &mut dyn FnMut(String)) -> Result<Vec<PathBuf>, ReportError> {
    let cfg = EcgReportConfig::from_env();
    let (results, data, first) = run(&cfg, dev, log)?;
    let generated = generated_dir(book_src);
    let mut written = vec![generated.join("ecg.json")];
    write_json(&written[0], &results)?;
    for (name, table) in [
        ("ecg-beats.md", beats_table(&results)),
        ("ecg-sizes.md", sizes_table(&results)),
        ("ecg-scores.md", scores_table(&results)),
    ] {
        let path = generated.join(name);
        write_atomic(&path, format!("{table}\n").as_bytes())?;
        written.push(path);
    }
    written.extend(figures(&results, &data, &first, &book_src.join("figures"))?);
    Ok(written)
}
