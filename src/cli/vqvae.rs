//! The VQ-VAE on the command line: the Keras example's shape on the embedded digits or clothes.
//! `vae sample` decodes codes drawn from a prior counted on the training codes, one distribution
//! per grid position (the book's GRU prior comes from `vae figures --chapter vqvae`).

use super::images::{IMAGE_RUN, describe_images, load_mnist, square_digits};
use super::{CliModel, DataSpec, ModelInfo, TrainArgs, positive};
use crate::data::Images;
use crate::figures;
use crate::models::vqvae::{self, PositionPrior, VqVae, VqVaeConfig};
use crate::prob::SeededRng;
use crate::train::{Model, Run, RunConfig};
use anyhow::{Result, bail};
use candle_core::Device;
use std::path::{Path, PathBuf};

/// The Keras example trains 30 epochs.
const VQ_RUN: RunConfig = RunConfig { epochs: 30, ..IMAGE_RUN };
/// Images per figure row.
const FIGURE_COLUMNS: usize = 10;

/// The per-position prior counted on the training images' codes.
fn position_prior(model: &VqVae, data: &Images) -> Result<PositionPrior> {
    Ok(PositionPrior::fit(&model.codes_of(&data.train)?, model.cfg.codes))
}

fn pixels(t: &candle_core::Tensor) -> Result<Vec<f32>> {
    Ok(t.flatten_all()?.to_vec1::<f32>()?)
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
        Ok(Images::from_mnist(&load_mnist(spec)?, dev)?)
    }

    fn fit_to_data(cfg: VqVaeConfig, data: &Images) -> Result<VqVaeConfig> {
        square_digits(data.train.dim(1)?)?;
        Ok(cfg)
    }

    fn describe(data: &Images) -> String {
        describe_images(data.train_labels.len(), data.test_labels.len(), 784)
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
        let recon = out[1].1;
        out.push(("test -ELBO, prior per position counted on the training codes (exact)".into(), recon + cost));
        let (used, perplexity) = vqvae::codebook_usage(&test, run.cfg.codes);
        out.push(("codebook entries used by the test images".into(), used as f64));
        out.push(("  perplexity of their use".into(), perplexity));
        Ok(out)
    }

    fn sample(run: &Run<Self>, data: &Images, seed: u64, out: &Path) -> Result<String> {
        let prior = position_prior(&run.model, data)?;
        let mut rng = SeededRng::derived(seed, "vq-samples", 0);
        let codes: Vec<Vec<u32>> = (0..FIGURE_COLUMNS * 4).map(|_| prior.sample(&mut rng)).collect();
        let p = pixels(&run.model.decode_codes(&codes)?)?;
        let rows: Vec<(&str, Vec<f32>)> = p.chunks(FIGURE_COLUMNS * 784).map(|c| ("", c.to_vec())).collect();
        figures::labelled_rows(&rows, FIGURE_COLUMNS, "Codes drawn position by position, decoded", out)?;
        Ok(format!("figure: {}", out.display()))
    }

    fn reconstruct(run: &Run<Self>, data: &Images, n: usize, out: &Path) -> Result<()> {
        let x = data.test.narrow(0, 0, n.min(data.test.dim(0)?))?;
        let recon = candle_nn::ops::sigmoid(&run.model.forward(&x)?.logits)?;
        let rows = [("test image", pixels(&x)?), ("reconstruction", pixels(&recon)?)];
        let title = format!("Test images and their reconstructions from {} codes", vqvae::POSITIONS);
        Ok(figures::labelled_rows(&rows, x.dim(0)?, &title, out)?)
    }
}
