//! The classic VAE with a chosen decoder likelihood on the command line (`--model likelihood`).

use super::images::{IMAGE_RUN, grey_images};
use super::{CliModel, DataSpec, ModelInfo, TrainArgs};
use crate::data::Images;
use crate::models::likelihood::{self, Likelihood, LikelihoodConfig, LikelihoodVae};
use crate::plot::ImageGrid;
use crate::prob::SeededRng;
use crate::train::{Run, RunConfig};
use anyhow::{Result, bail};
use candle_core::Device;
use std::path::{Path, PathBuf};

const SIDE: usize = 28;
/// Images per side of the `vae sample` grid.
const SAMPLE_GRID: usize = 8;

fn parse(name: &str) -> Result<Likelihood> {
    Likelihood::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Likelihood::ALL.iter().map(|l| l.name()).collect();
        anyhow::anyhow!("unknown --likelihood {name:?}: choose one of {}", names.join(", "))
    })
}

impl CliModel for LikelihoodVae {
    fn info() -> &'static ModelInfo {
        &super::LIKELIHOOD
    }

    fn defaults(_data: &str) -> (LikelihoodConfig, RunConfig) {
        (LikelihoodConfig::new(Likelihood::Bernoulli), IMAGE_RUN)
    }

    fn apply(args: &TrainArgs, cfg: LikelihoodConfig) -> Result<LikelihoodConfig> {
        let (latent_dim, hidden) = super::sizes(args, (cfg.model.latent_dim, cfg.model.hidden))?;
        let likelihood = args.likelihood.as_deref().map(parse).transpose()?.unwrap_or(cfg.likelihood);
        let sigma = args.sigma.unwrap_or(cfg.sigma);
        if !(sigma.is_finite() && sigma > 0.0) {
            bail!("--sigma must be a positive number, got {sigma}");
        }
        if args.sigma.is_some() && likelihood != Likelihood::Gaussian {
            bail!("--sigma is the fixed Gaussian's standard deviation; --likelihood {} has none", likelihood.name());
        }
        let model = crate::models::vae::VaeConfig { latent_dim, hidden, ..cfg.model };
        Ok(LikelihoodConfig { model, likelihood, sigma, pixel_mean: args.pixel_mean || cfg.pixel_mean })
    }

    fn load_data(spec: &DataSpec, _run: &RunConfig, dev: &Device) -> Result<Images> {
        grey_images(spec, dev)
    }

    fn fit_to_data(cfg: LikelihoodConfig, data: &Images) -> Result<LikelihoodConfig> {
        let pixels = data.train.dim(1)?;
        if pixels != SIDE * SIDE {
            bail!("the image models take {SIDE}x{SIDE} images; these have {pixels} pixels");
        }
        Ok(cfg)
    }

    fn describe(data: &Images) -> String {
        format!("{} training and {} test images", data.train_labels.len(), data.test_labels.len())
    }

    fn figures(run: &Run<Self>, data: &Images, dir: &Path) -> Result<Vec<PathBuf>> {
        let (samples, recon) = (dir.join("samples.png"), dir.join("reconstructions.png"));
        Self::sample(run, data, run.run.seed, &samples)?;
        Self::reconstruct(run, data, 10, &recon)?;
        Ok(vec![samples, recon])
    }

    fn eval(run: &Run<Self>, data: &Images, k: usize) -> Result<Vec<(String, f64)>> {
        let (cfg, seed) = (&run.cfg, run.run.seed);
        // The scores of `Model::evaluate`, with sigma fitted once for both estimates.
        let x = likelihood::test_input(cfg.likelihood, &data.test, seed)?;
        let sigma = run.model.fitted_sigma(data, seed)?;
        let (recon, kl) = likelihood::evaluate_terms(&run.model, &x, sigma, seed)?;
        let nll = likelihood::importance_nll(&run.model, &x, sigma, k, seed)?;
        let mut out = vec![
            ("test -ELBO (nats per image)".to_string(), recon + kl),
            ("  recon".to_string(), recon),
            ("  kl".to_string(), kl),
        ];
        out.push((format!("test -log p(x), importance sampled, k = {k}"), nll));
        if cfg.likelihood.is_density() {
            let bits = likelihood::bits_per_dim(nll, x.dim(1)?);
            out.push(("bits per dimension of the 8-bit images (dequantized bound)".to_string(), bits));
        }
        if let Some(sigma) = sigma {
            out.push(("sigma of the Gaussian".to_string(), sigma));
        }
        Ok(out)
    }

    fn sample(run: &Run<Self>, data: &Images, seed: u64, out: &Path) -> Result<String> {
        let n = SAMPLE_GRID * SAMPLE_GRID;
        let z =
            SeededRng::derived(seed, "prior-samples", 0).normal(&[n, run.cfg.model.latent_dim], data.test.device())?;
        let images = run.model.mean_images(&z)?;
        let title = format!("Decoder means at {n} prior draws ({})", run.cfg.likelihood.name());
        let grid = ImageGrid {
            images: &images,
            side: SIDE,
            rows: SAMPLE_GRID,
            cols: SAMPLE_GRID,
            title: &title,
            row_labels: None,
            scale: 2,
        };
        grid.save(out)?;
        Ok(format!("figure: {}", out.display()))
    }

    fn reconstruct(run: &Run<Self>, data: &Images, n: usize, out: &Path) -> Result<()> {
        let n = n.min(data.test_labels.len());
        let x = likelihood::test_input(run.cfg.likelihood, &data.test.narrow(0, 0, n)?, run.run.seed)?;
        let (mu, _) = run.model.vae.encode(&x)?;
        let mut images = x.flatten_all()?.to_vec1::<f32>()?;
        images.extend(run.model.mean_images(&mu)?);
        let grid = ImageGrid {
            images: &images,
            side: SIDE,
            rows: 2,
            cols: n,
            title: "Test images (as the likelihood sees them) and their mean reconstructions",
            row_labels: Some(&["test image", "reconstruction"]),
            scale: 2,
        };
        Ok(grid.save(out)?)
    }
}
