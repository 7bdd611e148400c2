//! The VQ-VAE chapter: a VQ-VAE of the Keras example's shape on the embedded digits, how much of
//! its codebook it uses, and three priors over its 49 codes (uniform, one distribution per
//! position, a GRU reading them in raster order), beside the VAE chapter's MLP VAE.

use super::{ReportError, generated_dir, run_to_end, write_atomic, write_json};
use crate::data::tokens::SentenceSplits;
use crate::data::{ImageSet, Images, Mnist};
use crate::figures;
use crate::models::text_vae::{self, RnnLm, TextVaeConfig};
use crate::models::vq_prior;
use crate::models::vqvae::{self, POSITIONS, PositionPrior, VqScore, VqVae, VqVaeConfig};
use crate::prob::SeededRng;
use crate::train::{Fit, Run, RunConfig, Schedule, TrainConfig, Trainer, quick_requested};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The Keras example's length of training (on MNIST's 60,000 training digits there).
pub const KERAS_EPOCHS: usize = 30;
/// The Keras example's reconstruction loss at its last epoch: the training images' mean squared
/// error divided by the variance of their pixels (its decoder is a Gaussian, ours a Bernoulli).
pub const KERAS_NORMALIZED_MSE: f64 = 0.0444;
/// Samples per prior in the figure.
const SAMPLES: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VqConfig {
    pub model: VqVaeConfig,
    pub run: RunConfig,
    /// Embedded digits used (`None`: all 9,000 training and 1,000 test digits).
    pub train_size: Option<usize>,
    pub test_size: Option<usize>,
    /// The GRU prior over the codes (its vocabulary: the K codes after four special tokens).
    pub prior: TextVaeConfig,
    pub prior_schedule: Schedule,
    /// Training digits whose codes are held out (the same number per class) to stop the prior.
    pub prior_valid: usize,
    /// The VAE chapter's MLP VAE (20-D code), trained as long as the VQ-VAE: the comparison.
    pub vae: TrainConfig,
}

impl VqConfig {
    /// The Keras example's sizes and length of training, a small GRU prior with early stopping.
    pub fn book() -> Self {
        let model = VqVaeConfig::book();
        Self {
            model,
            run: RunConfig { epochs: KERAS_EPOCHS, batch_size: 128, lr: 1e-3, seed: 42, patience: None },
            train_size: None,
            test_size: None,
            prior: vq_prior::config(model.codes, vq_prior::HIDDEN),
            prior_schedule: Schedule { max_epochs: 100, patience: 3, batch_size: 64, lr: 1e-3, seed: 42 },
            prior_valid: 1000,
            vae: TrainConfig { epochs: KERAS_EPOCHS, ..super::book_configs().0 },
        }
    }

    pub fn quick() -> Self {
        let mut c = Self::book();
        c.run.epochs = 2;
        c.train_size = Some(1000);
        c.test_size = Some(200);
        c.prior_schedule.max_epochs = 2;
        c.prior_valid = 200;
        c.vae = c.vae.quick();
        c
    }

    pub fn from_env() -> Self {
        if quick_requested() { Self::quick() } else { Self::book() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VqResults {
    pub config: VqConfig,
    pub test_digits: usize,
    /// Test reconstruction term after every epoch.
    pub curve: Vec<f64>,
    /// Test quantization error `|z_e - z_q|^2` (summed over the grid) after every epoch.
    pub quantization_curve: Vec<f64>,
    pub test: VqScore,
    /// Variance of the training pixels (the Keras example divides its squared error by it).
    pub pixel_variance: f64,
    pub codebook: CodebookUse,
    /// `-log p(codes)` per test digit under each prior, nats.
    pub uniform_cost: f64,
    pub position_cost: f64,
    pub gru_cost: f64,
    pub prior_fit: Fit,
    /// GRU samples that ended before 49 codes (padded with code 0 for the figure).
    pub short_samples: usize,
    /// The MLP VAE's test terms after its last epoch, and its reconstructions' squared error.
    pub vae_recon: f64,
    pub vae_kl: f64,
    pub vae_mse: f64,
    /// Parameters of the VQ-VAE (codebook included), of the MLP VAE and of the GRU prior.
    pub parameters: usize,
    pub vae_parameters: usize,
    pub prior_parameters: usize,
    pub seconds_per_epoch: f64,
}

/// How much of the codebook the trained VQ-VAE uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CodebookUse {
    /// Entries chosen by the test digits, and the perplexity of their use.
    pub test_used: usize,
    pub perplexity: f64,
    /// Entries chosen by the training digits (after training).
    pub train_used: usize,
    /// Entries still exactly at their initial values: never chosen in any training batch.
    pub never_moved: usize,
}

/// [`CodebookUse`] from the codes of both splits; the initial codebook is rebuilt from the seed.
fn codebook_use(
    cfg: &VqConfig,
    model: &VqVae,
    (train, test): (&[Vec<u32>], &[Vec<u32>]),
    dev: &Device,
) -> Result<CodebookUse, ReportError> {
    let k = cfg.model.codes;
    let ((test_used, perplexity), (train_used, _)) = (vqvae::codebook_usage(test, k), vqvae::codebook_usage(train, k));
    let start = Run::<VqVae>::new(cfg.model, cfg.run, dev)?;
    let moved = (model.codebook() - start.model.codebook())?.abs()?.max(1)?.to_vec1::<f32>()?;
    Ok(CodebookUse { test_used, perplexity, train_used, never_moved: moved.iter().filter(|&&d| d == 0.0).count() })
}

fn parameter_count(varmap: &candle_nn::VarMap) -> usize {
    varmap.all_vars().iter().map(|v| v.elem_count()).sum()
}

impl VqResults {
    /// The three bounds on `-log p(x)`: reconstruction plus each prior's code cost.
    pub fn bounds(&self) -> [f64; 3] {
        [self.uniform_cost, self.position_cost, self.gru_cost].map(|c| self.test.recon + c)
    }
}

/// The two fitted priors, the GRU's training record, and the code sentences it read.
struct Priors {
    position: PositionPrior,
    gru: RnnLm,
    gru_parameters: usize,
    fit: Fit,
    codes: SentenceSplits,
}

/// Fits both priors on the codes of the training digits: the counts on all of them, the GRU on
/// most of them, stopping on a class-balanced held-out part.
fn fit_priors(
    cfg: &VqConfig,
    (train_codes, test_codes): (&[Vec<u32>], &[Vec<u32>]),
    data: &Mnist,
    log: &mut dyn FnMut(String),
) -> Result<Priors, ReportError> {
    let holdout = data
        .train
        .balanced_holdout(cfg.prior_valid)
        .map_err(|msg| ReportError::File { path: "vq-vae prior config".into(), msg })?;
    let (keep, held) = (holdout.0.as_slice(), holdout.1.as_slice());
    let codes = vq_prior::splits(train_codes, (keep, held), test_codes, cfg.prior_schedule.batch_size, &Device::Cpu)?;
    let position = PositionPrior::fit(train_codes, cfg.model.codes);
    let (gru, varmap, fit) =
        text_vae::train_lm(cfg.prior, (&codes.train, &codes.valid), cfg.prior_schedule, |e, t, v| {
            log(format!("    GRU prior epoch {e}: nats per code train {t:.3}, validation -log p(codes) {v:.2}"))
        })?;
    Ok(Priors { position, gru, gru_parameters: parameter_count(&varmap), fit, codes })
}

/// Code grids, one `Vec` of 49 codes per image.
type CodeGrids = Vec<Vec<u32>>;

/// `SAMPLES` code grids from each prior: uniform, per position, the GRU (and how many of the
/// GRU's ended early).
fn sample_codes(cfg: &VqConfig, priors: &Priors) -> Result<([CodeGrids; 3], usize), ReportError> {
    let mut rng = SeededRng::derived(cfg.run.seed, "vq-samples", 0);
    let k = cfg.model.codes as f64;
    let uniform: Vec<Vec<u32>> =
        (0..SAMPLES).map(|_| (0..POSITIONS).map(|_| (rng.uniform_f64() * k).min(k - 1.0) as u32).collect()).collect();
    let position: Vec<Vec<u32>> = (0..SAMPLES).map(|_| priors.position.sample(&mut rng)).collect();
    let (gru, short) = vq_prior::sample(&priors.gru, SAMPLES, &mut rng, &Device::Cpu)?;
    Ok(([uniform, position, gru], short))
}

/// Test digits above their VQ-VAE and MLP VAE reconstructions.
fn reconstructions_figure(model: &VqVae, vae: &Trainer, x: &Tensor, path: &Path) -> Result<(), ReportError> {
    let x = x.narrow(0, 0, SAMPLES.min(x.dim(0)?))?;
    let vq = candle_nn::ops::sigmoid(&model.forward(&x)?.logits)?;
    let mlp = candle_nn::ops::sigmoid(&vae.model.decode(&vae.model.encode(&x)?.0)?)?;
    let rows = [
        ("test digit", figures::pixels(&x)?),
        ("VQ-VAE (49 codes)", figures::pixels(&vq)?),
        ("VAE (20-D code)", figures::pixels(&mlp)?),
    ];
    let title = "Test digits, reconstructed by the VQ-VAE and by the VAE";
    Ok(figures::labelled_rows(&rows, x.dim(0)?, title, path)?)
}

/// Decoded samples of each prior, one row each.
fn samples_figure(model: &VqVae, samples: &[CodeGrids; 3], path: &Path) -> Result<(), ReportError> {
    let labels = ["uniform prior", "per-position prior", "GRU prior"];
    let mut rows = Vec::new();
    for (label, codes) in labels.into_iter().zip(samples) {
        rows.push((label, figures::pixels(&model.decode_codes(codes)?)?));
    }
    Ok(figures::labelled_rows(&rows, SAMPLES, "Codes drawn from three priors, decoded by the VQ-VAE", path)?)
}

/// Mean squared error of the MLP VAE's reconstructions from its code means, per pixel.
fn vae_mse(vae: &Trainer, x: &Tensor) -> Result<f64, ReportError> {
    let p = candle_nn::ops::sigmoid(&vae.model.decode(&vae.model.encode(x)?.0)?)?;
    Ok((p - x)?.sqr()?.mean_all()?.to_scalar::<f32>()? as f64)
}

/// Variance of all training pixels.
fn pixel_variance(x: &Tensor) -> Result<f64, ReportError> {
    let mean = x.mean_all()?.to_scalar::<f32>()? as f64;
    Ok(x.sqr()?.mean_all()?.to_scalar::<f32>()? as f64 - mean * mean)
}

/// Trains the VQ-VAE, its priors and the MLP VAE; draws both figures into `fig_dir`.
pub fn run(
    cfg: &VqConfig,
    dev: &Device,
    fig_dir: &Path,
    log: &mut dyn FnMut(String),
) -> Result<(VqResults, Vec<PathBuf>), ReportError> {
    let data = super::embedded_images(ImageSet::Mnist, (cfg.train_size, cfg.test_size))?;
    let images = Images::from_mnist(&data, dev)?;
    let mut run = Run::<VqVae>::new(cfg.model, cfg.run, dev)?;
    run.fit(&images, |e| {
        log(format!(
            "    VQ-VAE epoch {}: training loss {:.2}, test recon {:.2}",
            e.epoch, e.train_loss, e.eval.terms[0].1
        ))
    })?;
    let model = &run.model;
    let (train_codes, test_codes) = (model.codes_of(&images.train)?, model.codes_of(&images.test)?);
    let priors = fit_priors(cfg, (&train_codes, &test_codes), &data, log)?;
    let test_tokens = priors
        .codes
        .test
        .as_ref()
        .ok_or_else(|| ReportError::File { path: "vq-vae prior".into(), msg: "no test codes".into() })?;
    let n_test = test_codes.len() as f64;
    let vae = run_to_end(cfg.vae.clone(), dev, log)?;
    let last =
        vae.history.last().ok_or_else(|| ReportError::File { path: "vae config".into(), msg: "no epochs".into() })?;
    let (samples, short) = sample_codes(cfg, &priors)?;
    let (recon_path, samples_path) = (fig_dir.join("vqvae-reconstructions.png"), fig_dir.join("vqvae-samples.png"));
    reconstructions_figure(model, &vae, &images.test, &recon_path)?;
    samples_figure(model, &samples, &samples_path)?;
    let results = VqResults {
        config: cfg.clone(),
        test_digits: test_codes.len(),
        curve: run.history.iter().map(|e| e.eval.terms[0].1).collect(),
        quantization_curve: run.history.iter().map(|e| e.eval.terms[2].1).collect(),
        test: vqvae::score(model, &images.test)?,
        pixel_variance: pixel_variance(&images.train)?,
        codebook: codebook_use(cfg, model, (&train_codes, &test_codes), dev)?,
        uniform_cost: vqvae::uniform_code_cost(&cfg.model),
        position_cost: test_codes.iter().map(|c| priors.position.cost(c)).sum::<f64>() / n_test,
        gru_cost: text_vae::lm_score(&priors.gru, test_tokens)?.nll(),
        prior_fit: priors.fit.clone(),
        short_samples: short,
        vae_recon: last.recon,
        vae_kl: last.kl,
        vae_mse: vae_mse(&vae, &images.test)?,
        parameters: parameter_count(&run.varmap),
        vae_parameters: parameter_count(&vae.varmap),
        prior_parameters: priors.gru_parameters,
        seconds_per_epoch: run.history.iter().map(|e| e.train_seconds).sum::<f64>() / run.history.len().max(1) as f64,
    };
    Ok((results, vec![recon_path, samples_path]))
}

/// The chapter's table: reconstruction, code cost and their sum for the VAE and each prior.
pub fn table(r: &VqResults) -> String {
    let mut md = String::from(
        "| model and prior | reconstruction −log p(x∣z) | code cost: KL, or −log p(codes) | −ELBO (bound on −log p(x)) |\n\
         |---|---:|---:|---:|\n",
    );
    md += &format!(
        "| VAE, 20-D Gaussian code (the VAE chapter's model, {} epochs) | {:.2} | {:.2} | {:.2} |\n",
        r.config.vae.epochs,
        r.vae_recon,
        r.vae_kl,
        r.vae_recon + r.vae_kl
    );
    let names =
        ["uniform (what it trains with)", "one distribution per position", "GRU over the codes in raster order"];
    let costs = [r.uniform_cost, r.position_cost, r.gru_cost];
    for ((name, cost), bound) in names.iter().zip(costs).zip(r.bounds()) {
        md += &format!(
            "| VQ-VAE, 49 codes of {}; prior: {name} | {:.2} | {cost:.2} | {bound:.2} |\n",
            r.config.model.codes, r.test.recon
        );
    }
    let c = &r.codebook;
    md + &format!(
        "\nCodebook: the {} test digits use {} of the {} entries (perplexity {:.1}), the training digits {}; {} entries \
         are exactly at their initial values, never chosen in any training batch. Squared error per pixel of the \
         reconstructions: VQ-VAE {:.4}, VAE {:.4} (from its code means); divided by the training pixels' variance \
         ({:.4}): {:.3} and {:.3}. Parameters: VQ-VAE {} (codebook included), GRU prior {}, VAE {}. Training: {} \
         epochs of {:.1} s; the GRU prior stopped after {} epochs (best epoch {}).\n",
        super::thousands(r.test_digits),
        c.test_used,
        r.config.model.codes,
        c.perplexity,
        c.train_used,
        c.never_moved,
        r.test.mse,
        r.vae_mse,
        r.pixel_variance,
        r.test.mse / r.pixel_variance,
        r.vae_mse / r.pixel_variance,
        super::thousands(r.parameters),
        super::thousands(r.prior_parameters),
        super::thousands(r.vae_parameters),
        r.curve.len(),
        r.seconds_per_epoch,
        r.prior_fit.valid.len(),
        r.prior_fit.best_epoch
    )
}

/// Runs the book's configuration and writes figures, JSON and table under `book_src`.
pub fn book(book_src: &Path, dev: &Device, log: &mut dyn FnMut(String)) -> Result<Vec<PathBuf>, ReportError> {
    let (results, mut written) = run(&VqConfig::book(), dev, &book_src.join("figures"), log)?;
    let json = generated_dir(book_src).join("vqvae.json");
    write_json(&json, &results)?;
    let md = generated_dir(book_src).join("vqvae.md");
    write_atomic(&md, table(&results).as_bytes())?;
    written.extend([json, md]);
    Ok(written)
}
