//! What a run leaves behind: `metrics.json`, the figures, and the book's generated numbers.

use crate::checkpoint::{CheckpointError, write_atomic};
use crate::classic::{bayes, vi};
use crate::figures::{self, FigureError};
use crate::plot::{self, PlotError};
use crate::prob::SeededRng;
use crate::train::{EpochMetrics, TrainConfig, TrainError, Trainer};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub mod beta_vae;
pub mod blur;
pub mod challenges;
pub mod conv;
pub mod cvae;
pub mod ecg;
pub mod iwae;
pub mod latent_space;
pub mod likelihoods;
pub mod logistic;
pub mod mixture;
pub mod quadrants;
pub mod semi_supervised;
pub mod sequences;
pub mod text;
pub mod vqvae;
pub mod world;

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
    #[error(transparent)]
    Plot(#[from] PlotError),
    #[error(transparent)]
    Table(#[from] crate::data::tabular::TableError),
    #[error("{path}: {msg}")]
    File { path: PathBuf, msg: String },
}

/// Writes `value` as pretty JSON, atomically.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), ReportError> {
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
    /// The amortization gap of the default model on the first test images.
    pub amortization: crate::classic::amortize::AmortizationGap,
}

/// The configurations of the book's two runs.
pub fn book_configs() -> (TrainConfig, TrainConfig) {
    let default = TrainConfig::default();
    let mut latent2 = default.clone();
    latent2.model.latent_dim = 2;
    (default, latent2)
}

/// An embedded image set, cut to its first `train` and `test` images where they are given.
pub fn embedded_images(
    set: crate::data::ImageSet,
    (train, test): (Option<usize>, Option<usize>),
) -> Result<crate::data::Mnist, ReportError> {
    Ok(crate::data::Mnist::embedded_set(set).map_err(TrainError::from)?.cut((train, test)))
}

/// Trains `cfg` to the end, reporting each epoch through `log`.
pub fn run_to_end(cfg: TrainConfig, dev: &Device, log: &mut dyn FnMut(String)) -> Result<Trainer, TrainError> {
    continue_to_end(Trainer::new(cfg, dev)?, log)
}

/// Runs the remaining epochs of `trainer` (for instance one built with [`Trainer::with_data`]).
pub fn continue_to_end(mut trainer: Trainer, log: &mut dyn FnMut(String)) -> Result<Trainer, TrainError> {
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

/// The amortization-gap table that the chapter on amortized inference includes.
pub fn amortization_table(results: &VaeResults) -> String {
    let g = &results.amortization;
    format!(
        "| q(z∣x) for {} test images | ELBO, nats per image |\n|---|---:|\n\
         | the encoder's output | {:.2} |\n\
         | optimized for each image ({} Adam steps, decoder fixed) | {:.2} |\n\
         | **amortization gap** | **{:.2} ± {:.2}** |\n\n\
         Both ELBOs are estimated with the same {} samples per image; ± is the standard error over images. \
         The model is the chapter's default run ({} epochs, latent dimension {}).\n",
        g.images,
        g.encoder_elbo,
        g.steps,
        g.optimized_elbo,
        g.gap(),
        g.gap_se,
        g.eval_samples,
        results.config.epochs,
        results.config.model.latent_dim
    )
}

/// Mean and sample standard deviation (0 for a single value).
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

/// `n` with a comma between groups of three digits, as the prose writes counts (9,000).
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Where the generated files live under the book's `src/`.
pub fn generated_dir(book_src: &Path) -> PathBuf {
    book_src.join("generated")
}

/// Whether this CPU does the book's arithmetic. The book's numbers were generated on an x86-64 CPU
/// with AVX-512; the `gemm` crate behind every matrix product picks its kernel by CPU feature, and
/// its AVX2 kernel adds the same products in another order. A seeded run on a CPU without AVX-512
/// therefore ends a few hundredths of a nat away after 10 epochs (and a run with early stopping
/// may stop at another epoch). Tests that retrain the book's runs compare exactly only here.
pub fn same_arithmetic_as_the_book() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The groups of figures `vae figures --chapter` can regenerate on their own: `vae` (the VAE and
/// amortized-inference chapters, which train models), `vi` and `bayes` (seconds each),
/// `likelihoods` (one VAE with five decoder likelihoods and the per-pixel-mean mistake, on the
/// digits and on Fashion-MNIST: 12 trainings), `latent`
/// (the latent-space chapter: 37 trainings, about two minutes), `beta` (the beta-VAE sweep: 5
/// trainings, under a minute), `iwae` (VAE and IWAEs with bounds up to k = 5000: about 7 minutes),
/// `conv` (the convolutional VAE against the MLP, 2-D codes), `cvae` (the conditional VAE),
/// `quadrants` (completing digits from 1-3 quadrants: baseline against CVAE), `vqvae` (a VQ-VAE
/// and three priors over its codes), `blur` (blur measured: a classifier's Fréchet distance and
/// sharpness of VAE and VAE-GAN images, digits and clothes), `sequences` (VRNN
/// against a GRU on Bach chorales and on digits read row by row), `text` (sentence VAEs against a
/// GRU language model on State of the Union sentences), `ecg` (a VAE of heartbeats against PCA and
/// an autoencoder as scores of wide beats), `challenges` (free bits and cyclical
/// annealing on the sentence VAE; reads the other chapters' generated results, so runs last).
pub const CHAPTERS: [&str; 17] = [
    "vae",
    "vi",
    "bayes",
    "likelihoods",
    "latent",
    "beta",
    "iwae",
    "conv",
    "cvae",
    "quadrants",
    "vqvae",
    "blur",
    "sequences",
    "text",
    "ecg",
    "world",
    "challenges",
];

/// Writes every figure and number of the chapters named in `chapters` (all of them if empty) under
/// `book_src` (`figures/*.png`, `generated/*`); the `vae` group trains the book's two models.
pub fn book_figures(
    book_src: &Path,
    dev: &Device,
    chapters: &[String],
    mut log: impl FnMut(String),
) -> Result<Vec<PathBuf>, ReportError> {
    if let Some(bad) = chapters.iter().find(|c| !CHAPTERS.contains(&c.as_str())) {
        let msg = format!("no chapter group {bad:?}; choose from {}", CHAPTERS.join(", "));
        return Err(ReportError::File { path: book_src.into(), msg });
    }
    let mut written = Vec::new();
    for chapter in CHAPTERS.iter().filter(|c| chapters.is_empty() || chapters.iter().any(|w| w == *c)) {
        if let Some(line) = announcement(chapter) {
            log(format!("  {line}"));
        }
        written.extend(chapter_figures(chapter, book_src, dev, &mut log)?);
    }
    Ok(written)
}

/// The line `vae figures` prints before running a group (`None`: the group logs its own steps).
fn announcement(chapter: &str) -> Option<&'static str> {
    Some(match chapter {
        "vi" => "variational inference: closed-form model, gradient VI, logistic regression with HMC",
        "bayes" => "Bayes' rule: conjugate models, evidence estimates, a Gaussian mixture by EM",
        "likelihoods" => "likelihoods: one VAE, five decoder likelihoods, on digits and clothes",
        "beta" => "beta-VAE: one model per beta",
        "iwae" => "IWAE: k = 1, 5, 50 on binarized digits, bounds up to k = 5000",
        "conv" => "convolutional VAE against the MLP VAE, 2-D codes",
        "cvae" => "conditional VAE: class-conditional generation",
        "quadrants" => "quadrant completion: baseline network against the CVAE, 1-3 quadrants shown",
        "vqvae" => "VQ-VAE: 49 discrete codes per digit, three priors over them",
        "blur" => "blur: Fréchet distance and sharpness of VAE and VAE-GAN images",
        "sequences" => "sequences: VRNN against a GRU on Bach chorales and on MNIST rows",
        "text" => "text: GRU language model and sentence VAEs on State of the Union sentences",
        "challenges" => "challenges: free bits and cyclical annealing against the sentence VAE's collapse",
        "ecg" => "a medical signal: a VAE of heartbeats scoring the wide ones, against PCA and an autoencoder",
        "world" => "a world model: V and M on a game's frames, controllers trained by an evolution strategy",
        _ => return None,
    })
}

/// Runs one group of [`CHAPTERS`] and writes its files under `book_src`.
fn chapter_figures(
    chapter: &str,
    book_src: &Path,
    dev: &Device,
    log: &mut dyn FnMut(String),
) -> Result<Vec<PathBuf>, ReportError> {
    match chapter {
        "vae" => vae_book(book_src, dev, log),
        "vi" => vi_book(book_src),
        "bayes" => bayes_book(book_src),
        "likelihoods" => likelihoods::book(book_src, dev, log),
        "latent" => latent_space::book(book_src, dev, log),
        "beta" => beta_vae::book(book_src, dev, log),
        "iwae" => iwae::book(book_src, dev, log),
        "conv" => conv::book(book_src, dev, log),
        "cvae" => cvae::book(book_src, dev, log),
        "quadrants" => quadrants::book(book_src, dev, log),
        "vqvae" => vqvae::book(book_src, dev, log),
        "blur" => blur::book(book_src, dev, log),
        "sequences" => sequences::book(book_src, dev, log),
        "text" => text::book(book_src, dev, log),
        "challenges" => challenges::book(book_src, dev, log),
        "ecg" => ecg::book(book_src, dev, log),
        "world" => world::book(book_src, dev, log),
        other => Err(ReportError::File { path: book_src.into(), msg: format!("no chapter group {other:?}") }),
    }
}

/// Trains the book's two models and writes the VAE and amortized-inference chapters' figures and
/// numbers (`generated/vae-results.{json,md}`, `vae-latent2.md`, `amortization.md`), and the
/// entropy floor of the grey levels that the likelihood chapter shows (`likelihoods.md`).
fn vae_book(book_src: &Path, dev: &Device, log: &mut dyn FnMut(String)) -> Result<Vec<PathBuf>, ReportError> {
    let (cfg, cfg2) = book_configs();
    let fig_dir = book_src.join("figures");
    let main = run_to_end(cfg.clone(), dev, log)?;
    let x_test = main.data.test.images(dev)?;
    let mut written = write_run_figures(&main, &x_test, &fig_dir)?;
    written.extend(model_pictures(&cfg.model, &fig_dir)?);
    let small = run_to_end(cfg2.clone(), dev, log)?;
    let manifold = fig_dir.join("manifold.png");
    figures::manifold(&small.model, 20, 3.0, &manifold)?;
    let scatter2 = fig_dir.join("latent-2d.png");
    figures::latent_scatter(&small.model, &x_test, &small.data.test.labels, &scatter2)?;
    written.extend([manifold, scatter2]);
    log("  amortization gap: optimizing q for each of 200 test images (about a minute)".into());
    let x_gap = x_test.narrow(0, 0, x_test.dim(0)?.min(200))?;
    let amortization = crate::classic::amortize::amortization_gap(&main.model, &x_gap, 300, 8, 200, 0.01, cfg.seed)?;
    let results = VaeResults {
        config: cfg,
        epochs: main.history.clone(),
        latent2_config: cfg2,
        latent2_epochs: small.history.clone(),
        amortization,
    };
    let gen_dir = generated_dir(book_src);
    let json = gen_dir.join("vae-results.json");
    write_json(&json, &results)?;
    let table = gen_dir.join("vae-results.md");
    write_atomic(&table, results_table(&results).as_bytes())?;
    let summary = gen_dir.join("vae-latent2.md");
    write_atomic(&summary, latent2_summary(&results).as_bytes())?;
    let gap = gen_dir.join("amortization.md");
    write_atomic(&gap, amortization_table(&results).as_bytes())?;
    written.extend([json, table, summary, gap]);
    written.extend(write_generated(book_src, vec![("likelihoods.md", likelihood_table()?)])?);
    Ok(written)
}

/// The VAE chapter's pictures of the model of `cfg`: graphical model, network, reparameterization.
pub fn model_pictures(cfg: &crate::models::vae::VaeConfig, fig_dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let paths = MODEL_PICTURES.map(|name| fig_dir.join(name));
    figures::pictures::graphical_model(&paths[0])?;
    figures::pictures::network(cfg, &paths[1])?;
    figures::pictures::reparameterization(&paths[2])?;
    Ok(paths.to_vec())
}

/// The files of [`model_pictures`], in the order it draws them.
pub const MODEL_PICTURES: [&str; 3] = ["vae-graphical-model.png", "vae-network.png", "vae-reparameterization.png"];

/// The numbers and curves of the chapter on variational inference (all closed-form or seeded,
/// a fraction of a second to compute).
pub struct ViResults {
    pub model: vi::GaussianModel,
    pub fit: vi::ViFit,
    pub gradients: Vec<vi::GradientVariance>,
    /// The `q` at which the gradient estimators are compared.
    pub gradient_q: vi::Normal1,
    pub mean_field: vi::MeanFieldFit,
}

/// Runs the chapter's experiments with their fixed seeds.
pub fn vi_results() -> candle_core::Result<ViResults> {
    let model = vi::GaussianModel::example(20, 7);
    let post = model.posterior();
    let fit = vi::fit_gaussian_vi(&model, 1500, 16, 0.05, 1)?;
    let gradient_q = vi::Normal1 { mean: post.mean + 2.0 * post.sd(), var: post.var };
    let gradients = vi::gradient_variance(&model, gradient_q, &[1, 3, 10, 30, 100], 2000, 5);
    let mean_field = vi::fit_mean_field([0.5, -0.5], 0.9, 3000)?;
    Ok(ViResults { model, fit, gradients, gradient_q, mean_field })
}

/// The chapter's tables, by file name under `generated/`.
pub fn vi_tables(r: &ViResults) -> Vec<(&'static str, String)> {
    vec![
        ("vi-data.md", vi_data(&r.model)),
        ("vi-identity.md", vi_identity_table(&r.model)),
        ("vi-fit.md", vi_fit_table(r)),
        ("vi-gradients.md", vi_gradients_table(r)),
        ("vi-meanfield.md", vi_meanfield_table(&r.mean_field)),
    ]
}

/// The observations, the prior and the exact posterior.
fn vi_data(m: &vi::GaussianModel) -> String {
    let post = m.posterior();
    let log_px = m.log_evidence();
    format!(
        "{} observations with mean {:.4}; prior N(0, 1), noise variance 1; exact posterior N({:.4}, {:.4}); \
         log p(x) = {log_px:.4}.\n",
        m.x.len(),
        m.x.iter().sum::<f64>() / m.x.len() as f64,
        post.mean,
        post.var
    )
}

/// ELBO + KL = log p(x) for four choices of q, and a Monte Carlo ELBO.
fn vi_identity_table(m: &vi::GaussianModel) -> String {
    let post = m.posterior();
    let log_px = m.log_evidence();
    let mut identity =
        String::from("| q(z) | ELBO(q) | KL(q ‖ p(z∣x)) | ELBO + KL | log p(x) |\n|---|---:|---:|---:|---:|\n");
    let qs = [
        ("the prior N(0, 1)", m.prior),
        ("N(3, 0.01): confident and wrong", vi::Normal1 { mean: 3.0, var: 0.01 }),
        ("right mean, variance 0.2", vi::Normal1 { mean: post.mean, var: 0.2 }),
        ("the exact posterior", post),
    ];
    for (name, q) in qs {
        let (elbo, kl) = (m.elbo(q), q.kl(&post));
        identity += &format!("| {name} | {elbo:.6} | {kl:.6} | {:.6} | {log_px:.6} |\n", elbo + kl);
    }
    let q = qs[2].1;
    let (mc, se) = m.elbo_mc(q, 10_000, &mut SeededRng::new(3));
    identity += &format!(
        "\nFor q = N({:.4}, 0.2), a Monte Carlo estimate of the ELBO with 10,000 samples gives {mc:.3} ± {se:.3} \
         (exact: {:.3}).\n",
        q.mean,
        m.elbo(q)
    );
    identity
}

/// Gradient VI's fitted q beside the exact posterior.
fn vi_fit_table(r: &ViResults) -> String {
    let (post, log_px) = (r.model.posterior(), r.model.log_evidence());
    let f = &r.fit;
    format!(
        "| | mean | variance |\n|---|---:|---:|\n| fitted q | {:.4} | {:.4} |\n| exact posterior | {:.4} | {:.4} |\n\n\
         After {} steps the ELBO is {:.4}, {:.4} nats below log p(x) = {log_px:.4}.\n",
        f.q.mean,
        f.q.var,
        post.mean,
        post.var,
        f.elbo.len(),
        f.elbo.last().copied().unwrap_or(f64::NAN),
        log_px - f.elbo.last().copied().unwrap_or(f64::NAN)
    )
}

/// The two gradient estimators' means and variances for each number of samples.
fn vi_gradients_table(r: &ViResults) -> String {
    let mut grads = format!(
        "At q = N({:.3}, {:.4}) the exact gradient of the ELBO with respect to the mean is {:.3}.\n\n\
         | samples K | reparameterization: mean | variance | score function: mean | variance | variance ratio |\n\
         |---:|---:|---:|---:|---:|---:|\n",
        r.gradient_q.mean,
        r.gradient_q.var,
        r.gradients.first().map(|g| g.exact).unwrap_or(f64::NAN)
    );
    for g in &r.gradients {
        grads += &format!(
            "| {} | {:.3} | {:.3} | {:.2} | {:.1} | {:.0} |\n",
            g.k,
            g.reparam_mean,
            g.reparam_var,
            g.score_mean,
            g.score_var,
            g.score_var / g.reparam_var
        );
    }
    grads
}

/// The mean-field fits to a correlated Gaussian in both directions of the KL.
fn vi_meanfield_table(mf: &vi::MeanFieldFit) -> String {
    let rho = mf.cov[0][1];
    format!(
        "| | mean | variances | theory |\n|---|---|---|---|\n\
         | p | ({:.2}, {:.2}) | (1, 1), correlation {rho} | |\n\
         | q minimizing KL(q ‖ p) | ({:.3}, {:.3}) | ({:.4}, {:.4}) | 1 − ρ² = {:.4} |\n\
         | q minimizing KL(p ‖ q) | ({:.3}, {:.3}) | ({:.4}, {:.4}) | 1 |\n",
        mf.mean[0],
        mf.mean[1],
        mf.reverse.0[0],
        mf.reverse.0[1],
        mf.reverse.1[0],
        mf.reverse.1[1],
        1.0 - rho * rho,
        mf.forward.0[0],
        mf.forward.0[1],
        mf.forward.1[0],
        mf.forward.1[1],
    )
}

/// The smallest gap drawn on the log axis of `vi-elbo.png`, in nats.
const GAP_FLOOR: f64 = 1e-9;

/// The chapter's figures into `dir`: the ELBO's gap to log p(x) closing, the gradient variances,
/// and the mean-field ellipses.
pub fn vi_figures(r: &ViResults, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let log_px = r.model.log_evidence();
    // The gap is KL(q || p(z|x)) >= 0; the floor only keeps a rounding error off the log axis.
    let gap: Vec<(f32, f32)> =
        r.fit.elbo.iter().enumerate().map(|(i, &e)| ((i + 1) as f32, (log_px - e).max(GAP_FLOOR) as f32)).collect();
    let elbo_path = dir.join("vi-elbo.png");
    plot::lines(
        &[("log p(x) - ELBO(q)", &gap[..])],
        plot::Lines { log_y: true, integer_x: true, ..plot::Lines::default() },
        "Gradient VI: the gap log p(x) - ELBO(q) = KL(q || p(z|x))",
        ("step", "nats (log scale)"),
        &elbo_path,
    )?;
    let rep = log_log(r.gradients.iter().map(|g| (g.k as f64, g.reparam_var)));
    let score = log_log(r.gradients.iter().map(|g| (g.k as f64, g.score_var)));
    let var_path = dir.join("vi-gradient-variance.png");
    plot::lines(
        &[("reparameterization", &rep[..]), ("score function", &score[..])],
        plot::Lines { dots: true, ..plot::Lines::default() },
        "Variance of the gradient estimators",
        ("log10 samples K", "log10 variance"),
        &var_path,
    )?;
    let mf = &r.mean_field;
    let diag = |v: [f64; 2]| [[v[0], 0.0], [0.0, v[1]]];
    let p = vi::ellipse(mf.mean, mf.cov, 2.0, 200);
    let rev = vi::ellipse(mf.reverse.0, diag(mf.reverse.1), 2.0, 200);
    let fwd = vi::ellipse(mf.forward.0, diag(mf.forward.1), 2.0, 200);
    let mf_path = dir.join("vi-meanfield.png");
    plot::lines(
        &[("p (correlated)", &p[..]), ("q: min KL(q||p)", &rev[..]), ("q: min KL(p||q)", &fwd[..])],
        plot::Lines { size: (640, 640), equal_axes: true, ..plot::Lines::default() },
        "Mean-field fits, 2-standard-deviation contours",
        ("z1", "z2"),
        &mf_path,
    )?;
    Ok(vec![elbo_path, var_path, mf_path])
}

/// Writes the VI chapter's tables and figures under `book_src`.
pub fn vi_book(book_src: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let r = vi_results()?;
    let mut written = vi_figures(&r, &book_src.join("figures"))?;
    written.extend(write_generated(book_src, vi_tables(&r))?);
    written.extend(logistic::book(book_src)?);
    Ok(written)
}

/// Writes named generated files under `book_src/generated/`.
fn write_generated(book_src: &Path, files: Vec<(&str, String)>) -> Result<Vec<PathBuf>, ReportError> {
    let mut written = Vec::new();
    for (name, text) in files {
        let path = generated_dir(book_src).join(name);
        write_atomic(&path, text.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

/// `(log10 x, log10 y)` points for a log-log plot.
fn log_log(points: impl Iterator<Item = (f64, f64)>) -> Vec<(f32, f32)> {
    points.map(|(x, y)| (x.log10() as f32, y.log10() as f32)).collect()
}

/// The coin, the prior and the sample sizes of the chapter on Bayes' rule.
const COIN_P: f64 = 0.7;
const COIN_SEED: u64 = 4;
const BAYES_PRIOR: bayes::Beta = bayes::Beta { a: 2.0, b: 2.0 };
const UPDATE_AT: [usize; 5] = [0, 1, 5, 20, 100];
const GAUSSIAN_AT: [usize; 5] = [0, 1, 2, 5, 20];
const EVIDENCE_KS: [usize; 9] = [1, 3, 10, 30, 100, 300, 1000, 3000, 10000];

/// The chapter's tables: posteriors as flips arrive, and the evidence estimators' errors.
pub fn bayes_tables() -> Vec<(&'static str, String)> {
    let flips = bayes::coin_flips(*UPDATE_AT.last().unwrap_or(&0), COIN_P, COIN_SEED);
    let mut updating = format!(
        "A coin with P(heads) = {COIN_P}, prior Beta({}, {}).\n\n\
         | flips | heads | posterior | posterior mean | posterior s.d. | log p(flips) |\n|---:|---:|---|---:|---:|---:|\n",
        BAYES_PRIOR.a, BAYES_PRIOR.b
    );
    for n in UPDATE_AT {
        let heads = flips[..n].iter().filter(|h| **h).count();
        let post = BAYES_PRIOR.update(heads, n - heads);
        let var = post.a * post.b / ((post.a + post.b).powi(2) * (post.a + post.b + 1.0));
        updating += &format!(
            "| {n} | {heads} | Beta({}, {}) | {:.3} | {:.3} | {:.3} |\n",
            post.a,
            post.b,
            post.mean(),
            var.sqrt(),
            BAYES_PRIOR.ln_evidence(heads, n - heads)
        );
    }
    let model = vi::GaussianModel::example(20, 7);
    let mut gaussian = format!(
        "Prior N({}, {}) on the mean z, observations x_i ~ N(z, {}).\n\n\
         | observations n | mean of x_1..x_n | posterior mean | posterior s.d. | 1 / √(1 + n) | log p(x_1..x_n) |\n|---:|---:|---:|---:|---:|---:|\n",
        model.prior.mean, model.prior.var, model.noise_var
    );
    for n in GAUSSIAN_AT {
        let m = model.first(n);
        let x_bar = if n == 0 { f64::NAN } else { m.x.iter().sum::<f64>() / n as f64 };
        let post = m.posterior();
        let x_bar = if n == 0 { "–".to_string() } else { format!("{x_bar:.3}") };
        gaussian += &format!(
            "| {n} | {x_bar} | {:.3} | {:.3} | {:.3} | {:.3} |\n",
            post.mean,
            post.sd(),
            1.0 / (1.0 + n as f64).sqrt(),
            m.log_evidence()
        );
    }
    let (model, proposal) = evidence_setup();
    let mut evidence = format!(
        "The Gaussian model above, with its 20 observations: exact log p(x) = {:.4}. Importance sampling draws from \
         N({:.4}, {:.4}), the posterior with twice its variance. Root-mean-square error of log p(x) over 200 repetitions:\n\n\
         | samples K | naive (prior samples) | importance sampling |\n|---:|---:|---:|\n",
        model.log_evidence(),
        proposal.mean,
        proposal.var
    );
    for e in bayes::evidence_errors(&model, proposal, &EVIDENCE_KS, 200, 9) {
        evidence += &format!("| {} | {:.4} | {:.4} |\n", e.k, e.naive_rmse, e.importance_rmse);
    }
    vec![("bayes-updating.md", updating), ("bayes-gaussian.md", gaussian), ("bayes-evidence.md", evidence)]
}

fn evidence_setup() -> (vi::GaussianModel, vi::Normal1) {
    let model = vi::GaussianModel::example(20, 7);
    let post = model.posterior();
    (model, vi::Normal1 { mean: post.mean, var: 2.0 * post.var })
}

/// The chapter's figures: Beta posteriors as flips arrive, and the estimators' errors.
pub fn bayes_figures(dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let flips = bayes::coin_flips(*UPDATE_AT.last().unwrap_or(&0), COIN_P, COIN_SEED);
    let grid: Vec<f64> = (1..400).map(|i| i as f64 / 400.0).collect();
    let curves: Vec<(String, Vec<(f32, f32)>)> = UPDATE_AT
        .iter()
        .map(|&n| {
            let heads = flips[..n].iter().filter(|h| **h).count();
            let post = BAYES_PRIOR.update(heads, n - heads);
            let name = match n {
                0 => "prior".to_string(),
                1 => "after 1 flip".to_string(),
                _ => format!("after {n} flips"),
            };
            (name, grid.iter().map(|&p| (p as f32, post.ln_pdf(p).exp() as f32)).collect())
        })
        .collect();
    let refs: Vec<(&str, &[(f32, f32)])> = curves.iter().map(|(n, c)| (n.as_str(), c.as_slice())).collect();
    let updating = dir.join("bayes-updating.png");
    plot::lines(
        &refs,
        plot::Lines::default(),
        "Beta posterior of P(heads) as flips arrive",
        ("P(heads)", "density"),
        &updating,
    )?;
    let gaussian = dir.join("bayes-gaussian.png");
    gaussian_updating_figure(&gaussian)?;
    let (model, proposal) = evidence_setup();
    let errs = bayes::evidence_errors(&model, proposal, &EVIDENCE_KS, 200, 9);
    let naive = log_log(errs.iter().map(|e| (e.k as f64, e.naive_rmse)));
    let imp = log_log(errs.iter().map(|e| (e.k as f64, e.importance_rmse)));
    let evidence = dir.join("bayes-evidence.png");
    plot::lines(
        &[("naive: samples from the prior", &naive[..]), ("importance sampling", &imp[..])],
        plot::Lines { dots: true, ..plot::Lines::default() },
        "Error of Monte Carlo estimates of log p(x)",
        ("log10 samples K", "log10 RMSE (nats)"),
        &evidence,
    )?;
    Ok(vec![updating, gaussian, evidence])
}

/// Prior, likelihood and posterior of the Gaussian model's mean on one figure, after 1, 5 and
/// 20 observations. The likelihood of all 20 is scaled to integrate to one over z, so that it can
/// share the axis with the densities.
fn gaussian_updating_figure(path: &Path) -> Result<(), ReportError> {
    let model = vi::GaussianModel::example(20, 7);
    let grid: Vec<f64> = (0..=400).map(|i| -3.0 + 6.0 * i as f64 / 400.0).collect();
    let curve = |d: &dyn Fn(f64) -> f64| -> Vec<(f32, f32)> { grid.iter().map(|&z| (z as f32, d(z) as f32)).collect() };
    let n = model.x.len();
    // As a function of z, prod_i N(x_i; z, s^2) is proportional to N(z; mean of x, s^2 / n).
    let lik = vi::Normal1 { mean: model.x.iter().sum::<f64>() / n as f64, var: model.noise_var / n as f64 };
    let mut series = vec![
        ("prior".to_string(), curve(&|z| model.prior.log_pdf(z).exp())),
        (format!("likelihood of the {n} points (scaled)"), curve(&|z| lik.log_pdf(z).exp())),
    ];
    for k in [1, 5, 20] {
        let post = model.first(k).posterior();
        let name = if k == 1 { "posterior after 1 point".to_string() } else { format!("posterior after {k} points") };
        series.push((name, curve(&|z| post.log_pdf(z).exp())));
    }
    let refs: Vec<(&str, &[(f32, f32)])> = series.iter().map(|(n, c)| (n.as_str(), c.as_slice())).collect();
    let how = plot::Lines::default();
    plot::lines(&refs, how, "Gaussian prior × Gaussian likelihood = Gaussian posterior", ("z", "density"), path)?;
    Ok(())
}

/// Writes the Bayes chapter's tables and figures under `book_src`.
pub fn bayes_book(book_src: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let mut written = bayes_figures(&book_src.join("figures"))?;
    written.extend(write_generated(book_src, bayes_tables())?);
    written.extend(mixture::book(book_src)?);
    Ok(written)
}

/// Facts about the pixels that decide which likelihood fits them (the embedded test digits).
pub fn likelihood_table() -> Result<String, ReportError> {
    let test = crate::data::Mnist::embedded().map_err(TrainError::from)?.test;
    let n = test.len() as f64;
    let d = test.image_size();
    let (mut grey, mut entropy) = (0usize, 0.0f64);
    for &p in &test.pixels {
        let x = p as f64 / 255.0;
        if p != 0 && p != 255 {
            grey += 1;
            // The Bernoulli "log-likelihood" of a grey level x is at most -H(x), reached at p = x.
            entropy -= x * x.ln() + (1.0 - x) * (1.0 - x).ln();
        }
    }
    Ok(format!(
        "| embedded test digits | value |\n|---|---:|\n\
         | pixels per image | {d} |\n\
         | pixels that are neither 0 nor 1 | {:.1}% |\n\
         | lowest possible Bernoulli \"−log-likelihood\" of the grey levels, per image | {:.2} nats |\n",
        100.0 * grey as f64 / test.pixels.len() as f64,
        entropy / n
    ))
}
