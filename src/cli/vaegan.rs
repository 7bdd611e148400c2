//! The blur chapter's two models on the command line: the VAE-GAN (`--gamma` weighs its feature
//! reconstruction against fooling the discriminator) and the classifier whose features the
//! chapter's Fréchet distance is measured in.

use super::images::{describe_grey, grey_images, square_digits};
use super::{CliModel, DataSpec, ModelInfo, TrainArgs, positive};
use crate::data::Images;
use crate::figures;
use crate::models::classifier::{self, Classifier, ClassifierConfig};
use crate::models::vae_gan::{self, VaeGan, VaeGanConfig};
use crate::train::{Model, Run, RunConfig};
use anyhow::{Result, bail};
use candle_core::Device;
use std::path::{Path, PathBuf};

/// Test images shown in the reconstructions figure.
const SHOWN: usize = 10;

impl CliModel for VaeGan {
    fn info() -> &'static ModelInfo {
        &super::VAEGAN
    }

    fn defaults(_data: &str) -> (VaeGanConfig, RunConfig) {
        (VaeGanConfig::default(), vae_gan::BOOK_RUN)
    }

    fn apply(args: &TrainArgs, cfg: VaeGanConfig) -> Result<VaeGanConfig> {
        let (latent_dim, hidden) = super::sizes(args, (cfg.latent_dim, cfg.hidden))?;
        let gamma = args.gamma.unwrap_or(cfg.gamma);
        if !(gamma.is_finite() && gamma >= 0.0) {
            bail!("--gamma must be a number of at least 0, got {gamma}");
        }
        Ok(VaeGanConfig { latent_dim, hidden, gamma, ..cfg })
    }

    fn load_data(spec: &DataSpec, _run: &RunConfig, dev: &Device) -> Result<Images> {
        grey_images(spec, dev)
    }

    fn fit_to_data(cfg: VaeGanConfig, data: &Images) -> Result<VaeGanConfig> {
        square_digits(data.train.dim(1)?)?;
        Ok(cfg)
    }

    fn describe(data: &Images) -> String {
        describe_grey(data)
    }

    fn figures(run: &Run<Self>, data: &Images, dir: &Path) -> Result<Vec<PathBuf>> {
        let (recon, samples) = (dir.join("reconstructions.png"), dir.join("samples.png"));
        Self::reconstruct(run, data, SHOWN, &recon)?;
        Self::sample(run, data, run.run.seed, &samples)?;
        Ok(vec![recon, samples])
    }

    /// The test terms (there is no likelihood of pixels, so no ELBO) and the reconstructions'
    /// squared error per pixel.
    fn eval(run: &Run<Self>, data: &Images, _k: usize) -> Result<Vec<(String, f64)>> {
        let score = run.model.evaluate(&run.cfg, data, run.run.seed)?;
        let mut out =
            vec![("test prior + feature reconstruction (the encoder's loss; no ELBO)".to_string(), score.loss)];
        out.extend(score.terms.into_iter().map(|(n, v)| (format!("  {n}"), v)));
        out.push((
            "test reconstructions' squared error per pixel".into(),
            vae_gan::pixel_error(&run.model, &data.test)?,
        ));
        Ok(out)
    }

    fn sample(run: &Run<Self>, _data: &Images, seed: u64, out: &Path) -> Result<String> {
        figures::prior_samples(&run.model, seed, out)?;
        Ok(format!("figure: {}", out.display()))
    }

    fn reconstruct(run: &Run<Self>, data: &Images, n: usize, out: &Path) -> Result<()> {
        Ok(figures::reconstructions(&run.model, &data.test, n, out)?)
    }
}

impl CliModel for Classifier {
    fn info() -> &'static ModelInfo {
        &super::CLASSIFIER
    }

    fn defaults(_data: &str) -> (ClassifierConfig, RunConfig) {
        (ClassifierConfig::default(), classifier::BOOK_RUN)
    }

    fn apply(args: &TrainArgs, cfg: ClassifierConfig) -> Result<ClassifierConfig> {
        let hidden = args.hidden.unwrap_or(cfg.hidden);
        positive("--hidden", hidden)?;
        Ok(ClassifierConfig { hidden, ..cfg })
    }

    fn load_data(spec: &DataSpec, _run: &RunConfig, dev: &Device) -> Result<Images> {
        grey_images(spec, dev)
    }

    fn fit_to_data(cfg: ClassifierConfig, data: &Images) -> Result<ClassifierConfig> {
        Ok(ClassifierConfig { input_dim: data.train.dim(1)?, ..cfg })
    }

    fn describe(data: &Images) -> String {
        describe_grey(data)
    }

    fn eval(run: &Run<Self>, data: &Images, _k: usize) -> Result<Vec<(String, f64)>> {
        let (nll, error) = run.model.score(&data.test, &data.test_labels)?;
        Ok(vec![("test cross-entropy (nats per image)".to_string(), nll), ("test error rate".to_string(), error)])
    }
}
