//! The chapter "Using the latent space": dimensionality reduction against PCA, codes as features
//! for a classifier, anomaly detection, and the latent-space tools (interpolation, traversals,
//! nearest neighbours). Every number is computed here and written to `generated/latent-space.json`.

use super::{ReportError, generated_dir, write_generated, write_json};
use crate::classic::latent;
use crate::classic::pca::Pca;
use crate::classic::{anomaly, bayes};
use crate::data::Mnist;
use crate::estimators;
use crate::models::vae::Vae;
use crate::plot::{self, ImageGrid};
use crate::prob::SeededRng;
use crate::train::{TrainConfig, quick_requested};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What the chapter's experiments run: the book's setting, or a small one for CI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatentSpaceConfig {
    pub train: TrainConfig,
    /// Latent sizes for the dimensionality-reduction sweep (the training configuration's own
    /// latent size must be one of them: that model serves the other experiments).
    pub dims: Vec<usize>,
    /// Labelled training images available to the classifier.
    pub label_budgets: Vec<usize>,
    /// Neighbours that vote in the k-NN classifier.
    pub k: usize,
    /// Importance samples for the anomaly score.
    pub iw_samples: usize,
    /// Seeds of the repeated runs behind the k-NN and anomaly tables' spreads: each draws its own
    /// labelled digits and trains its own VAEs. The first is `train.seed`, whose model also serves
    /// the other experiments.
    pub seeds: Vec<u64>,
}

impl LatentSpaceConfig {
    pub fn book() -> Self {
        Self {
            train: TrainConfig::default(),
            dims: vec![2, 5, 10, 20, 50],
            label_budgets: vec![100, 1000, 9000],
            k: 5,
            iw_samples: 50,
            seeds: vec![42, 43, 44],
        }
    }

    /// Two epochs on 2,000 digits (`VAE_BOOK_QUICK=1`).
    pub fn quick() -> Self {
        Self {
            train: TrainConfig::default().quick(),
            dims: vec![2, 20],
            label_budgets: vec![100, 2000],
            seeds: vec![42, 43],
            ..Self::book()
        }
    }

    pub fn from_env() -> Self {
        if quick_requested() { Self::quick() } else { Self::book() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DimResult {
    pub latent_dim: usize,
    /// Test negative ELBO (nats per image).
    pub neg_elbo: f64,
    /// Mean squared reconstruction error per image (summed over pixels) of the decoder's mean at
    /// the encoder's mean, and of PCA with as many components.
    pub vae_sq_error: f64,
    pub pca_sq_error: f64,
    /// Latent dimensions whose encoder mean varies over the test set by more than 0.01.
    pub active_units: usize,
}

/// k-NN test accuracy with `labels` labelled training digits, one value per seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureResult {
    pub labels: usize,
    pub pixels: Vec<f64>,
    pub pca: Vec<f64>,
    pub vae: Vec<f64>,
}

/// One held-out digit: the scores' AUCs and mean negative ELBOs, one value per seed (PCA has no
/// seed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnomalyResult {
    /// The digit left out of training.
    pub digit: u8,
    pub auc_elbo: Vec<f64>,
    pub auc_iw: Vec<f64>,
    pub auc_pca: f64,
    /// Mean negative ELBO of the held-out digit's test images and of the others.
    pub neg_elbo_anomalous: Vec<f64>,
    pub neg_elbo_normal: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterpolationResult {
    /// Mean norm of the encoder means of the test digits.
    pub code_norm: f64,
    /// Mean norm of the midpoint of 200 random pairs, straight and spherical.
    pub lerp_mid_norm: f64,
    pub slerp_mid_norm: f64,
    /// The same, for draws from the prior (where sqrt(d) is the typical norm).
    pub prior_norm: f64,
    pub prior_lerp_mid_norm: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NeighbourCounts {
    /// Neighbours shown in each of the two spaces (test digits times neighbours).
    pub shown: usize,
    pub latent_same: usize,
    pub pixels_same: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatentSpaceResults {
    pub config: LatentSpaceConfig,
    pub dims: Vec<DimResult>,
    pub features: Vec<FeatureResult>,
    pub anomaly: Vec<AnomalyResult>,
    pub interpolation: InterpolationResult,
    /// The neighbours figure, counted: how many neighbours share their test digit's label.
    pub neighbours: NeighbourCounts,
    /// ROC curves (false positive rate, true positive rate) of the negative-ELBO score, per digit.
    pub roc: Vec<Vec<(f64, f64)>>,
}

/// An ROC curve: (false positive rate, true positive rate) points.
type Roc = Vec<(f64, f64)>;

/// The test digits whose neighbours the figure shows (the first of each of these labels).
const SHOWN_DIGITS: [u8; 4] = [2, 4, 7, 9];
/// Nearest training digits shown per test digit.
const NEIGHBOURS: usize = 6;

/// Mean over rows of the summed squared difference.
fn mean_sq_error(a: &Tensor, b: &Tensor) -> candle_core::Result<f64> {
    Ok((a - b)?.sqr()?.sum(1)?.mean_all()?.to_scalar::<f32>()? as f64)
}

/// Runs every experiment and writes the figures into `fig_dir`; returns the numbers.
pub fn run(
    cfg: &LatentSpaceConfig,
    dev: &Device,
    fig_dir: &Path,
    log: &mut dyn FnMut(String),
) -> Result<(LatentSpaceResults, Vec<PathBuf>), ReportError> {
    if cfg.seeds.first() != Some(&cfg.train.seed) {
        let msg = format!("the seeds {:?} must start with the training seed {}", cfg.seeds, cfg.train.seed);
        return Err(ReportError::File { path: "latent-space configuration".into(), msg });
    }
    let data = digits(cfg)?;
    let (x_train, x_test) = (data.train.images(dev)?, data.test.images(dev)?);
    log("  latent space: VAEs and PCA for each latent size".into());
    let images = (&x_train, &x_test);
    let (dims, model, pca) = dimension_sweep(cfg, &data, images, log)?;
    log("  latent space: k-NN classifiers".into());
    let features = feature_accuracies(cfg, &data, images, (&model, &pca), log)?;
    log("  latent space: anomaly detection, one VAE per held-out digit and seed".into());
    let (anomaly, roc) = anomaly_scores(cfg, &data, &x_test, log)?;
    let train_codes = latent::encode_means(&model, &x_train)?;
    let interpolation = interpolation_norms(&latent::encode_means(&model, &x_test)?, cfg.train.seed)?;
    let shown = shown_neighbours(&model, &data, (&x_test, &x_train), &train_codes)?;
    let neighbours = neighbour_counts(&data, &shown);
    let results = LatentSpaceResults { config: cfg.clone(), dims, features, anomaly, interpolation, neighbours, roc };
    let written = figures(&results, &model, &data, &x_test, &x_train, &shown, fig_dir)?;
    Ok((results, written))
}

/// The digits of the configuration, cut to its sizes.
fn digits(cfg: &LatentSpaceConfig) -> Result<Mnist, ReportError> {
    let data = Mnist::load(cfg.train.data_dir.as_deref()).map_err(crate::train::TrainError::from)?;
    Ok(data.cut((cfg.train.train_size, cfg.train.test_size)))
}

/// The training configuration for `data` (already cut to size) with `seed`.
fn config_for(cfg: &LatentSpaceConfig, latent_dim: usize, seed: u64) -> TrainConfig {
    let mut tc = cfg.train.clone();
    tc.model.latent_dim = latent_dim;
    tc.seed = seed;
    tc.train_size = None;
    tc.test_size = None;
    tc
}

/// Dimensionality reduction: one VAE per latent size, PCA with as many components. Returns the
/// model and PCA of the configuration's own latent size too, which the other experiments use.
fn dimension_sweep(
    cfg: &LatentSpaceConfig,
    data: &Mnist,
    (x_train, x_test): (&Tensor, &Tensor),
    log: &mut dyn FnMut(String),
) -> Result<(Vec<DimResult>, Vae, Pca), ReportError> {
    let dev = x_train.device();
    let mut dims = Vec::new();
    let mut main = None;
    for &d in &cfg.dims {
        let (model, neg_elbo) = run_to_end_with(config_for(cfg, d, cfg.train.seed), data.clone(), dev, log)?;
        let mu = latent::encode_means(&model, x_test)?;
        let recon = latent::decode_probabilities(&model, &mu)?;
        let pca = Pca::fit(x_train, d, 150)?;
        dims.push(DimResult {
            latent_dim: d,
            neg_elbo,
            vae_sq_error: mean_sq_error(&recon, x_test)?,
            pca_sq_error: mean_sq_error(&pca.reconstruct(x_test)?, x_test)?,
            active_units: estimators::active_units(&mu)?,
        });
        if d == cfg.train.model.latent_dim {
            main = Some((model, pca));
        }
    }
    let Some((model, pca)) = main else {
        let msg = format!("the latent sizes {:?} must include {}", cfg.dims, cfg.train.model.latent_dim);
        return Err(ReportError::File { path: "latent-space configuration".into(), msg });
    };
    Ok((dims, model, pca))
}

/// `n` training rows drawn at random with `seed` (all of them if `n` is the whole set).
fn labelled_rows(len: usize, n: usize, seed: u64) -> Vec<u32> {
    let mut rows = SeededRng::derived(seed, "labelled-rows", n as u64).permutation(len);
    rows.truncate(n.min(len));
    rows
}

/// k-NN accuracy on pixels, PCA coordinates and VAE means for each label budget, once per seed:
/// each seed draws its own labelled digits and trains its own VAE (the first seed's is `main`).
fn feature_accuracies(
    cfg: &LatentSpaceConfig,
    data: &Mnist,
    (x_train, x_test): (&Tensor, &Tensor),
    (main, pca): (&Vae, &Pca),
    log: &mut dyn FnMut(String),
) -> Result<Vec<FeatureResult>, ReportError> {
    let dev = x_train.device();
    let spaces = [(x_train.clone(), x_test.clone()), (pca.project(x_train)?, pca.project(x_test)?)];
    let mut features: Vec<FeatureResult> = cfg
        .label_budgets
        .iter()
        .map(|&n| FeatureResult { labels: n.min(data.train.len()), pixels: vec![], pca: vec![], vae: vec![] })
        .collect();
    for (i, &seed) in cfg.seeds.iter().enumerate() {
        let extra = if i == 0 {
            None
        } else {
            Some(run_to_end_with(config_for(cfg, main.cfg.latent_dim, seed), data.clone(), dev, log)?.0)
        };
        let model = extra.as_ref().unwrap_or(main);
        let codes = (latent::encode_means(model, x_train)?, latent::encode_means(model, x_test)?);
        for f in features.iter_mut() {
            let rows = labelled_rows(data.train.len(), f.labels, seed);
            let labels = (&data.train.labels[..], &data.test.labels[..]);
            let accuracy = |spaces: (&Tensor, &Tensor)| latent::knn_accuracy(spaces, &rows, labels, cfg.k);
            f.pixels.push(accuracy((&spaces[0].0, &spaces[0].1))?);
            f.pca.push(accuracy((&spaces[1].0, &spaces[1].1))?);
            f.vae.push(accuracy((&codes.0, &codes.1))?);
        }
    }
    Ok(features)
}

/// Anomaly detection: for each digit and seed, a VAE trained without that digit scores every
/// test digit; the ROC curves are the first seed's.
fn anomaly_scores(
    cfg: &LatentSpaceConfig,
    data: &Mnist,
    x_test: &Tensor,
    log: &mut dyn FnMut(String),
) -> Result<(Vec<AnomalyResult>, Vec<Roc>), ReportError> {
    let dev = x_test.device();
    let mut anomalies = Vec::new();
    let mut rocs = Vec::new();
    for digit in 0..10u8 {
        let mut normal = data.clone();
        normal.train = data.train.filter(|l| l != digit);
        let truth: Vec<bool> = data.test.labels.iter().map(|&l| l == digit).collect();
        let p = Pca::fit(&normal.train.images(dev)?, cfg.train.model.latent_dim, 150)?;
        let pca_err = (p.reconstruct(x_test)? - x_test)?.sqr()?.sum(1)?.to_vec1::<f32>()?;
        let pca_err: Vec<f64> = pca_err.into_iter().map(f64::from).collect();
        let mut a = AnomalyResult { digit, auc_pca: anomaly::auc(&pca_err, &truth), ..AnomalyResult::default() };
        for (i, &seed) in cfg.seeds.iter().enumerate() {
            let tc = config_for(cfg, cfg.train.model.latent_dim, seed);
            let (m, _) = run_to_end_with(tc, normal.clone(), dev, log)?;
            let mut rng = SeededRng::derived(seed, "anomaly", digit as u64);
            let log_w = estimators::log_weights_chunked(&m, x_test, cfg.iw_samples, 100, &mut rng)?;
            let neg_elbo: Vec<f64> = log_w.iter().map(|w| -w.iter().sum::<f64>() / w.len() as f64).collect();
            let neg_iw: Vec<f64> = log_w.iter().map(|w| -bayes::log_mean_exp(w)).collect();
            let mean_of = |flag: bool| {
                let v: Vec<f64> = neg_elbo.iter().zip(&truth).filter(|(_, t)| **t == flag).map(|(s, _)| *s).collect();
                v.iter().sum::<f64>() / v.len().max(1) as f64
            };
            a.auc_elbo.push(anomaly::auc(&neg_elbo, &truth));
            a.auc_iw.push(anomaly::auc(&neg_iw, &truth));
            a.neg_elbo_anomalous.push(mean_of(true));
            a.neg_elbo_normal.push(mean_of(false));
            if i == 0 {
                rocs.push(anomaly::roc(&neg_elbo, &truth));
            }
        }
        anomalies.push(a);
    }
    Ok((anomalies, rocs))
}

/// Trains to the end on `data`; returns the model and its final test negative ELBO.
fn run_to_end_with(
    cfg: TrainConfig,
    data: Mnist,
    dev: &Device,
    log: &mut dyn FnMut(String),
) -> Result<(Vae, f64), ReportError> {
    let trainer = super::continue_to_end(crate::train::Trainer::with_data(cfg.clone(), data, dev)?, &mut |_| {})?;
    let last = trainer.history.last().map(|m| m.test_loss).unwrap_or(f64::NAN);
    log(format!(
        "    latent {}, {} training digits: test -ELBO {last:.2}",
        cfg.model.latent_dim,
        trainer.data.train.len()
    ));
    Ok((trainer.model, last))
}

fn interpolation_norms(codes: &Tensor, seed: u64) -> Result<InterpolationResult, ReportError> {
    let rows = codes.to_vec2::<f32>()?;
    let d = rows.first().map(Vec::len).unwrap_or(0);
    let norm = |v: &[f32]| v.iter().map(|x| (x * x) as f64).sum::<f64>().sqrt();
    let mut rng = SeededRng::derived(seed, "interpolation", 0);
    let pairs = 200;
    let (mut lerp_mid, mut slerp_mid, mut prior, mut prior_mid) = (0.0, 0.0, 0.0, 0.0);
    let order = rng.permutation(rows.len());
    for p in 0..pairs {
        let (a, b) = (&rows[order[(2 * p) % rows.len()] as usize], &rows[order[(2 * p + 1) % rows.len()] as usize]);
        lerp_mid += norm(&latent::lerp(a, b, 0.5)) / pairs as f64;
        slerp_mid += norm(&latent::slerp(a, b, 0.5)) / pairs as f64;
        let (za, zb) = (rng.normal_vec(d), rng.normal_vec(d));
        prior += (norm(&za) + norm(&zb)) / (2 * pairs) as f64;
        prior_mid += norm(&latent::lerp(&za, &zb, 0.5)) / pairs as f64;
    }
    Ok(InterpolationResult {
        code_norm: rows.iter().map(|r| norm(r)).sum::<f64>() / rows.len().max(1) as f64,
        lerp_mid_norm: lerp_mid,
        slerp_mid_norm: slerp_mid,
        prior_norm: prior,
        prior_lerp_mid_norm: prior_mid,
    })
}

/// The first test image of each of the given digits.
fn first_of(data: &Mnist, digits: &[u8]) -> Vec<usize> {
    digits.iter().filter_map(|d| data.test.labels.iter().position(|l| l == d)).collect()
}

/// Interpolated pairs of test digits, and the steps along each path.
const INTERPOLATED: [(u8, u8); 3] = [(1, 7), (3, 8), (4, 9)];
const PATH_STEPS: usize = 10;
/// Traversals: the dimensions shown.
const TRAVERSED_DIMS: usize = 5;

fn figures(
    r: &LatentSpaceResults,
    model: &Vae,
    data: &Mnist,
    x_test: &Tensor,
    x_train: &Tensor,
    shown: &Neighbours,
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    let codes = latent::encode_means(model, x_test)?;
    Ok(vec![
        dims_figure(r, &dir.join("latent-dims.png"))?,
        roc_figure(r, &dir.join("anomaly-roc.png"))?,
        interpolation_figure(model, data, &codes, &dir.join("latent-interpolation.png"))?,
        traversal_figure(model, data, &codes, &dir.join("latent-traversal.png"))?,
        neighbours_figure((x_test, x_train), data.test.rows, shown, &dir.join("latent-neighbours.png"))?,
    ])
}

/// Reconstruction error against the number of dimensions.
fn dims_figure(r: &LatentSpaceResults, path: &Path) -> Result<PathBuf, ReportError> {
    let vae: Vec<(f32, f32)> = r.dims.iter().map(|d| (d.latent_dim as f32, d.vae_sq_error as f32)).collect();
    let pca: Vec<(f32, f32)> = r.dims.iter().map(|d| (d.latent_dim as f32, d.pca_sq_error as f32)).collect();
    plot::lines(
        &[("VAE (decoder mean at the encoder mean)", &vae[..]), ("PCA", &pca[..])],
        plot::Lines { dots: true, integer_x: true, ..plot::Lines::default() },
        "Reconstruction error against code size (test digits)",
        ("dimensions of the code", "squared error per image"),
        path,
    )?;
    Ok(path.to_path_buf())
}

/// ROC curves of the negative-ELBO anomaly score.
fn roc_figure(r: &LatentSpaceResults, path: &Path) -> Result<PathBuf, ReportError> {
    let curves: Vec<(String, Vec<(f32, f32)>)> = r
        .roc
        .iter()
        .zip(&r.anomaly)
        .map(|(c, a)| {
            let auc = a.auc_elbo.first().copied().unwrap_or(f64::NAN);
            (format!("{} (AUC {auc:.2})", a.digit), c.iter().map(|&(x, y)| (x as f32, y as f32)).collect())
        })
        .collect();
    let mut refs: Vec<(&str, &[(f32, f32)])> = curves.iter().map(|(n, c)| (n.as_str(), c.as_slice())).collect();
    let chance = [(0.0, 0.0), (1.0, 1.0)];
    refs.push(("chance (AUC 0.50)", &chance));
    plot::lines(
        &refs,
        plot::Lines { size: (640, 640), equal_axes: true, reference_last: true, ..plot::Lines::default() },
        "ROC of the -ELBO score, one VAE per held-out digit",
        ("false positive rate", "true positive rate"),
        path,
    )?;
    Ok(path.to_path_buf())
}

/// Interpolations: straight and spherical, between pairs of test digits.
fn interpolation_figure(model: &Vae, data: &Mnist, codes: &Tensor, path: &Path) -> Result<PathBuf, ReportError> {
    let rows = codes.to_vec2::<f32>()?;
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for (a, b) in INTERPOLATED {
        let idx = first_of(data, &[a, b]);
        if idx.len() < 2 {
            continue;
        }
        for spherical in [false, true] {
            let z = latent::path(&rows[idx[0]], &rows[idx[1]], PATH_STEPS, spherical, codes.device())?;
            images.extend(latent::decode_probabilities(model, &z)?.flatten_all()?.to_vec1::<f32>()?);
            labels.push(format!("{} {a}→{b}", if spherical { "slerp" } else { "lerp" }));
        }
    }
    let title = "Decoded along straight lines (lerp) and great circles (slerp)";
    save_grid(&images, (data.test.rows, PATH_STEPS), &labels, title, path)
}

/// Traversals: the dimensions whose means vary most, from -3 to 3, around one test digit.
fn traversal_figure(model: &Vae, data: &Mnist, codes: &Tensor, path: &Path) -> Result<PathBuf, ReportError> {
    let variances = latent::mean_variances(codes)?;
    let mut by_var: Vec<usize> = (0..variances.len()).collect();
    by_var.sort_by(|&a, &b| variances[b].total_cmp(&variances[a]));
    let rows = codes.to_vec2::<f32>()?;
    let base = &rows[first_of(data, &[5]).first().copied().unwrap_or(0)];
    let units = &by_var[..by_var.len().min(TRAVERSED_DIMS)];
    let images = latent::traversal_images(model, base, units, &latent::traversal_values())?;
    let labels: Vec<String> = units.iter().map(|&dim| format!("z{dim} (var {:.2})", variances[dim])).collect();
    let title = "One coordinate from -3 to 3, the others fixed at a 5's code";
    save_grid(&images, (data.test.rows, latent::TRAVERSAL_STEPS), &labels, title, path)
}

/// Nearest neighbours in latent space and in pixel space: each row a test digit, then its neighbours.
fn neighbours_figure(
    (x_test, x_train): (&Tensor, &Tensor),
    side: usize,
    (queries, near_codes, near_pixels): &Neighbours,
    path: &Path,
) -> Result<PathBuf, ReportError> {
    let pixels_of = |t: &Tensor, i: usize| -> candle_core::Result<Vec<f32>> { t.get(i)?.to_vec1::<f32>() };
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for (qi, &q) in queries.iter().enumerate() {
        for (name, near) in [("latent", &near_codes[qi]), ("pixels", &near_pixels[qi])] {
            images.extend(pixels_of(x_test, q)?);
            for &j in near {
                images.extend(pixels_of(x_train, j)?);
            }
            labels.push(name.to_string());
        }
    }
    let title = format!("A test digit, then its {NEIGHBOURS} nearest training digits");
    save_grid(&images, (side, NEIGHBOURS + 1), &labels, &title, path)
}

/// One labelled row of images per entry of `labels`, `cols` images of `side` pixels square each.
fn save_grid(
    images: &[f32],
    (side, cols): (usize, usize),
    labels: &[String],
    title: &str,
    path: &Path,
) -> Result<PathBuf, ReportError> {
    let label_refs: Vec<&str> = labels.iter().map(String::as_str).collect();
    ImageGrid { images, side, rows: labels.len(), cols, title, row_labels: Some(&label_refs), scale: 2 }.save(path)?;
    Ok(path.to_path_buf())
}

/// The test digits the neighbours figure shows, and the indices of their nearest training digits
/// among the encoder means and among the pixels.
type Neighbours = (Vec<usize>, Vec<Vec<usize>>, Vec<Vec<usize>>);

fn shown_neighbours(
    model: &Vae,
    data: &Mnist,
    (x_test, x_train): (&Tensor, &Tensor),
    train_codes: &Tensor,
) -> Result<Neighbours, ReportError> {
    let queries = first_of(data, &SHOWN_DIGITS);
    let q_idx =
        Tensor::from_vec(queries.iter().map(|&i| i as u32).collect::<Vec<_>>(), queries.len(), x_test.device())?;
    let q_pixels = x_test.index_select(&q_idx, 0)?;
    let q_codes = latent::encode_means(model, &q_pixels)?;
    let near_codes = latent::nearest(&q_codes, train_codes, NEIGHBOURS)?;
    let near_pixels = latent::nearest(&q_pixels, x_train, NEIGHBOURS)?;
    Ok((queries, near_codes, near_pixels))
}

/// How many of the neighbours in the figure share their test digit's label.
fn neighbour_counts(data: &Mnist, (queries, codes, pixels): &Neighbours) -> NeighbourCounts {
    let same = |near: &[Vec<usize>]| {
        queries
            .iter()
            .zip(near)
            .map(|(&q, n)| n.iter().filter(|&&j| data.train.labels[j] == data.test.labels[q]).count())
            .sum()
    };
    NeighbourCounts { shown: queries.len() * NEIGHBOURS, latent_same: same(codes), pixels_same: same(pixels) }
}

/// The chapter's tables, rendered from the results.
pub fn tables(r: &LatentSpaceResults) -> Vec<(&'static str, String)> {
    vec![
        ("latent-dims.md", dims_table(r)),
        ("latent-neighbours.md", neighbours_note(r)),
        ("latent-features.md", features_table(r)),
        ("latent-anomaly.md", anomaly_table(r)),
        ("latent-interpolation.md", interpolation_table(r)),
    ]
}

/// `mean ± sd` of `v` times `scale`, with `digits` decimals.
fn mean_pm_sd(v: &[f64], scale: f64, digits: usize) -> String {
    let (mean, sd) = super::mean_sd(v);
    format!("{:.digits$} ± {:.digits$}", scale * mean, scale * sd)
}

/// Test -ELBO, squared errors and active units for each code size.
fn dims_table(r: &LatentSpaceResults) -> String {
    let mut dims = String::from(
        "| code size | VAE test −ELBO | VAE squared error | PCA squared error | active VAE units |\n|---:|---:|---:|---:|---:|\n",
    );
    for d in &r.dims {
        dims += &format!(
            "| {} | {:.2} | {:.2} | {:.2} | {} of {} |\n",
            d.latent_dim, d.neg_elbo, d.vae_sq_error, d.pca_sq_error, d.active_units, d.latent_dim
        );
    }
    dims
}

/// k-NN accuracy on pixels, PCA and VAE means for each number of labels.
fn features_table(r: &LatentSpaceResults) -> String {
    let seeds = r.config.seeds.len();
    let pm = mean_pm_sd;
    let mut features = format!(
        "| labelled training digits | {}-NN on pixels (784) | on PCA ({}) | on VAE means ({}) |\n|---:|---:|---:|---:|\n",
        r.config.k, r.config.train.model.latent_dim, r.config.train.model.latent_dim
    );
    for f in &r.features {
        let (px, pc, va) = (pm(&f.pixels, 100.0, 1), pm(&f.pca, 100.0, 1), pm(&f.vae, 100.0, 1));
        features += &format!("| {} | {px}% | {pc}% | {va}% |\n", super::thousands(f.labels));
    }
    features += &format!(
        "\nTest accuracy, mean ± standard deviation over {seeds} seeds; each seed draws its own labelled digits at \
         random and trains its own VAE (PCA has no seed: its spread is the labelled draw's alone). On {} test digits one standard error of an accuracy near \
         70% is about {:.1} points.\n",
        super::thousands(r.config.train.test_size.unwrap_or(1000)),
        100.0 * (0.7f64 * 0.3 / r.config.train.test_size.unwrap_or(1000) as f64).sqrt()
    );
    features
}

/// Anomaly AUCs per held-out digit, and their mean over digits.
fn anomaly_table(r: &LatentSpaceResults) -> String {
    let seeds = r.config.seeds.len();
    let pm = mean_pm_sd;
    let mut anomaly = format!(
        "| held-out digit | AUC: −ELBO | AUC: −IW bound (k = {}) | AUC: PCA error | −ELBO of the held-out digit | −ELBO of the others |\n|---:|---:|---:|---:|---:|---:|\n",
        r.config.iw_samples
    );
    for a in &r.anomaly {
        let mean = |v: &[f64]| super::mean_sd(v).0;
        anomaly += &format!(
            "| {} | {} | {} | {:.3} | {:.1} | {:.1} |\n",
            a.digit,
            pm(&a.auc_elbo, 1.0, 3),
            pm(&a.auc_iw, 1.0, 3),
            a.auc_pca,
            mean(&a.neg_elbo_anomalous),
            mean(&a.neg_elbo_normal)
        );
    }
    // The mean over digits, seed by seed; then its mean and spread over the seeds.
    let over_digits = |f: fn(&AnomalyResult) -> &Vec<f64>| -> Vec<f64> {
        let n = r.anomaly.len().max(1) as f64;
        (0..seeds)
            .map(|s| r.anomaly.iter().map(|a| f(a).get(s).copied().unwrap_or(f64::NAN)).sum::<f64>() / n)
            .collect()
    };
    let pca_mean = r.anomaly.iter().map(|a| a.auc_pca).sum::<f64>() / r.anomaly.len().max(1) as f64;
    anomaly += &format!(
        "| **mean** | **{}** | **{}** | **{pca_mean:.3}** | | |\n\nAUCs are the mean ± standard deviation over \
         {seeds} seeds (a VAE trained per held-out digit and seed; PCA has no seed); the −ELBO columns are means \
         over the seeds.\n",
        pm(&over_digits(|a| &a.auc_elbo), 1.0, 3),
        pm(&over_digits(|a| &a.auc_iw), 1.0, 3)
    );
    anomaly
}

/// Norms of codes, of their midpoints, and of prior draws.
fn interpolation_table(r: &LatentSpaceResults) -> String {
    let i = &r.interpolation;
    let d = r.config.train.model.latent_dim;
    format!(
        "| codes ({d} dimensions) | mean norm |\n|---|---:|\n\
         | encoder means of the test digits | {:.2} |\n\
         | midpoint of two of them, straight line | {:.2} |\n\
         | midpoint of two of them, great circle | {:.2} |\n\
         | draws from the prior N(0, I) (√{d} = {:.2}) | {:.2} |\n\
         | midpoint of two prior draws, straight line | {:.2} |\n",
        i.code_norm,
        i.lerp_mid_norm,
        i.slerp_mid_norm,
        (d as f64).sqrt(),
        i.prior_norm,
        i.prior_lerp_mid_norm
    )
}

/// How many latent and pixel neighbours share the test digit's label.
fn neighbours_note(r: &LatentSpaceResults) -> String {
    let n = &r.neighbours;
    format!(
        "{} of the {} latent neighbours have the test digit's label, against {} of the {} pixel neighbours.\n",
        n.latent_same, n.shown, n.pixels_same, n.shown
    )
}

/// Runs the book's configuration and writes its figures, JSON and tables under `book_src`.
pub fn book(book_src: &Path, dev: &Device, log: &mut dyn FnMut(String)) -> Result<Vec<PathBuf>, ReportError> {
    let (results, mut written) = run(&LatentSpaceConfig::book(), dev, &book_src.join("figures"), log)?;
    let json = generated_dir(book_src).join("latent-space.json");
    write_json(&json, &results)?;
    written.push(json);
    written.extend(write_generated(book_src, tables(&results))?);
    Ok(written)
}
