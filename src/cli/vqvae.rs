//! The VQ-VAE on the command line: the Keras example's shape on the embedded digits or clothes.
//! `vae sample` decodes codes drawn from a prior counted on the training codes, one distribution
//! per grid position. `--model vq-prior --vqvae CHECKPOINT` then trains the chapter's GRU prior
//! over a trained VQ-VAE's codes; its `vae sample` draws from the GRU.

use super::images::{IMAGE_RUN, describe_grey, grey_images, load_mnist, square_digits};
use super::{CliModel, DataSpec, ModelInfo, TrainArgs, positive};
use crate::data::Images;
use crate::figures;
use crate::models::text_vae::{TextVaeConfig, lm_score};
use crate::models::vq_prior::{self, VqPrior, VqPriorData};
use crate::models::vqvae::{self, PositionPrior, VqVae, VqVaeConfig};
use crate::prob::SeededRng;
use crate::train::{Model, Run, RunConfig};
use anyhow::{Result, bail};
use candle_core::Device;
use std::path::{Path, PathBuf};

/// The Keras example trains 30 epochs.
const VQ_RUN: RunConfig = RunConfig { epochs: 30, ..IMAGE_RUN };
/// Images per figure row, and rows of drawn samples.
const FIGURE_COLUMNS: usize = 10;
const FIGURE_ROWS: usize = 4;
/// The chapter's schedule for the prior: at most 100 epochs, patience 3, batches of 64 images' codes.
const PRIOR_RUN: RunConfig = RunConfig { epochs: 100, batch_size: 64, lr: 1e-3, seed: 42, patience: Some(3) };
/// A ninth of the training images' codes (1,000 of the embedded 9,000), the same number from each
/// of the ten classes, is held out to stop the prior.
const VALID_SHARE: usize = 9;
const CLASSES: usize = 10;

/// Grids of codes decoded by `model`, `FIGURE_COLUMNS` images per row, into `out`.
fn decoded_grids(model: &VqVae, codes: &[Vec<u32>], title: &str, out: &Path) -> Result<()> {
    let p = figures::pixels(&model.decode_codes(codes)?)?;
    let rows: Vec<(&str, Vec<f32>)> = p.chunks(FIGURE_COLUMNS * 784).map(|c| ("", c.to_vec())).collect();
    Ok(figures::labelled_rows(&rows, FIGURE_COLUMNS, title, out)?)
}

/// The per-position prior counted on the training images' codes.
fn position_prior(model: &VqVae, data: &Images) -> Result<PositionPrior> {
    Ok(PositionPrior::fit(&model.codes_of(&data.train)?, model.cfg.codes))
}

impl CliModel for VqVae {
    fn info() -> &'static ModelInfo {
        &super::VQVAE
    }

    fn defaults(_data: &str) -> (VqVaeConfig, RunConfig) {
        (VqVaeConfig::book(), VQ_RUN)
    }

    fn apply(args: &TrainArgs, cfg: VqVaeConfig) -> Result<VqVaeConfig> {
        let (codes, code_dim) = (args.codes.unwrap_or(cfg.codes), args.code_dim.unwrap_or(cfg.code_dim));
        positive("--codes", codes)?;
        positive("--code-dim", code_dim)?;
        let beta = args.commitment.unwrap_or(cfg.beta);
        if !(beta.is_finite() && beta >= 0.0) {
            bail!("--commitment must be a number of at least 0, got {beta}");
        }
        Ok(VqVaeConfig { codes, code_dim, beta })
    }

    fn load_data(spec: &DataSpec, _run: &RunConfig, dev: &Device) -> Result<Images> {
        grey_images(spec, dev)
    }

    fn fit_to_data(cfg: VqVaeConfig, data: &Images) -> Result<VqVaeConfig> {
        square_digits(data.train.dim(1)?)?;
        Ok(cfg)
    }

    fn describe(data: &Images) -> String {
        describe_grey(data)
    }

    fn figures(run: &Run<Self>, data: &Images, dir: &Path) -> Result<Vec<PathBuf>> {
        let (recon, samples) = (dir.join("reconstructions.png"), dir.join("samples.png"));
        Self::reconstruct(run, data, FIGURE_COLUMNS, &recon)?;
        Self::sample(run, data, run.run.seed, &samples)?;
        Ok(vec![recon, samples])
    }

    fn eval(run: &Run<Self>, data: &Images, _k: usize) -> Result<Vec<(String, f64)>> {
        let score = run.model.evaluate(&run.cfg, data, run.run.seed)?;
        let mut out = vec![("test -ELBO under the uniform prior (exact: q is one-hot)".to_string(), score.loss)];
        out.extend(score.terms.into_iter().map(|(n, v)| (format!("  {n}"), v)));
        let prior = position_prior(&run.model, data)?;
        let test = run.model.codes_of(&data.test)?;
        let cost = test.iter().map(|c| prior.cost(c)).sum::<f64>() / test.len().max(1) as f64;
        let recon = out.iter().find(|(n, _)| n.trim() == "recon").map_or(f64::NAN, |(_, v)| *v);
        out.push(("test -ELBO, prior per position counted on the training codes (exact)".into(), recon + cost));
        let (used, perplexity) = vqvae::codebook_usage(&test, run.cfg.codes);
        out.push(("codebook entries used by the test images".into(), used as f64));
        out.push(("  perplexity of their use".into(), perplexity));
        Ok(out)
    }

    fn sample(run: &Run<Self>, data: &Images, seed: u64, out: &Path) -> Result<String> {
        let prior = position_prior(&run.model, data)?;
        let mut rng = SeededRng::derived(seed, "vq-samples", 0);
        let codes: Vec<Vec<u32>> = (0..FIGURE_ROWS * FIGURE_COLUMNS).map(|_| prior.sample(&mut rng)).collect();
        decoded_grids(&run.model, &codes, "Codes drawn position by position, decoded", out)?;
        Ok(format!("figure: {}", out.display()))
    }

    fn reconstruct(run: &Run<Self>, data: &Images, n: usize, out: &Path) -> Result<()> {
        let x = data.test.narrow(0, 0, n.min(data.test.dim(0)?))?;
        let recon = candle_nn::ops::sigmoid(&run.model.forward(&x)?.logits)?;
        let rows = [("test image", figures::pixels(&x)?), ("reconstruction", figures::pixels(&recon)?)];
        let title = format!("Test images and their reconstructions from {} codes", vqvae::POSITIONS);
        Ok(figures::labelled_rows(&rows, x.dim(0)?, &title, out)?)
    }
}

/// The trained VQ-VAE that `spec.vqvae` names, checked to have trained on the same images.
fn load_vqvae(spec: &DataSpec, dev: &Device) -> Result<VqVae> {
    let Some(path) = &spec.vqvae else {
        bail!(
            "--model vq-prior needs a trained VQ-VAE: run `vae train --model vqvae --out runs/vqvae`, then pass \
             --vqvae runs/vqvae/checkpoint.safetensors"
        );
    };
    let saved: DataSpec = crate::checkpoint::load(path, &Device::Cpu)?.meta_json("data")?;
    if saved.name != spec.name || saved.dir != spec.dir || saved.train_size != spec.train_size {
        bail!("the VQ-VAE {} was trained on other images: `{}`", path.display(), saved.as_flags());
    }
    Ok(Run::<VqVae>::load(path, dev)?.model)
}

impl CliModel for VqPrior {
    fn info() -> &'static ModelInfo {
        &super::VQ_PRIOR
    }

    fn defaults(_data: &str) -> (TextVaeConfig, RunConfig) {
        (vq_prior::config(VqVaeConfig::book().codes, vq_prior::HIDDEN), PRIOR_RUN)
    }

    fn apply(args: &TrainArgs, cfg: TextVaeConfig) -> Result<TextVaeConfig> {
        let hidden = args.hidden.unwrap_or(cfg.hidden);
        positive("--hidden", hidden)?;
        Ok(TextVaeConfig { hidden, ..cfg })
    }

    /// The codes the VQ-VAE gives the training images (a class-balanced ninth held out) and the test images.
    fn load_data(spec: &DataSpec, run: &RunConfig, dev: &Device) -> Result<VqPriorData> {
        let vqvae = load_vqvae(spec, dev)?;
        let data = load_mnist(spec)?;
        let valid = data.train.len() / VALID_SHARE / CLASSES * CLASSES;
        if valid == 0 {
            bail!(
                "{} training images leave none for validation: use at least {}",
                data.train.len(),
                VALID_SHARE * CLASSES
            );
        }
        let (keep, held) = data.train.balanced_holdout(valid).map_err(anyhow::Error::msg)?;
        let images = Images::from_mnist(&data, dev)?;
        let (train, test) = (vqvae.codes_of(&images.train)?, vqvae.codes_of(&images.test)?);
        let codes = vq_prior::splits(&train, (&keep, &held), &test, run.batch_size, dev)?;
        Ok(VqPriorData { codes, vqvae, test_images: images.test })
    }

    fn fit_to_data(cfg: TextVaeConfig, data: &VqPriorData) -> Result<TextVaeConfig> {
        Ok(vq_prior::config(data.vqvae.cfg.codes, cfg.hidden))
    }

    fn eval_set() -> &'static str {
        "validation"
    }

    fn describe(data: &VqPriorData) -> String {
        let c = &data.codes;
        let test = c.test.as_ref().map_or(0, |t| t.sentences());
        format!(
            "the codes of {} training, {} validation and {test} test images, {} per image, from {} codebook entries",
            c.train.sentences(),
            c.valid.sentences(),
            vqvae::POSITIONS,
            data.vqvae.cfg.codes
        )
    }

    fn figures(run: &Run<Self>, data: &VqPriorData, dir: &Path) -> Result<Vec<PathBuf>> {
        let path = dir.join("samples.png");
        Self::sample(run, data, run.run.seed, &path)?;
        Ok(vec![path])
    }

    fn eval(run: &Run<Self>, data: &VqPriorData, _k: usize) -> Result<Vec<(String, f64)>> {
        let test = data.codes.test.as_ref().ok_or_else(|| anyhow::anyhow!("no test codes loaded"))?;
        let cost = lm_score(&run.model.lm, test)?.nll();
        let recon = vqvae::score(&data.vqvae, &data.test_images)?.recon;
        Ok(vec![
            ("test -ELBO of the VQ-VAE with this prior (exact)".to_string(), recon + cost),
            ("  reconstruction -log p(x | z_q)".to_string(), recon),
            ("  code cost -log p(codes), with <eos>".to_string(), cost),
        ])
    }

    fn sample(run: &Run<Self>, data: &VqPriorData, seed: u64, out: &Path) -> Result<String> {
        let mut rng = SeededRng::derived(seed, "vq-prior-samples", 0);
        let n = FIGURE_ROWS * FIGURE_COLUMNS;
        let (codes, short) = vq_prior::sample(&run.model.lm, n, &mut rng, data.test_images.device())?;
        decoded_grids(&data.vqvae, &codes, "Codes drawn from the GRU prior, decoded by the VQ-VAE", out)?;
        Ok(format!("figure: {} ({short} of {} draws ended early)", out.display(), codes.len()))
    }
}
