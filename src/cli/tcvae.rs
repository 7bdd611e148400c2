//! β-TCVAE on the command line, on the generated sprites: `--beta` weighs the total correlation of
//! the code, and `vae eval` scores the code's disentanglement (MIG) against the sprites' factors.

use super::images::autoencoder_eval;
use super::{CliModel, DataSpec, ModelInfo, TrainArgs, positive};
use crate::classic::latent;
use crate::data::sprites::{self, FACTORS, SIDE, SpriteSet};
use crate::models::tcvae::{self, BOOK_RUN, Tcvae, TcvaeConfig};
use crate::plot::ImageGrid;
use crate::train::{Model, Run, RunConfig};
use anyhow::{Result, bail};
use candle_core::Device;
use std::path::{Path, PathBuf};

/// Images drawn when `--train-size` and `--test-size` are left out.
const TRAIN_IMAGES: usize = 20_000;
const TEST_IMAGES: usize = 5_000;
/// Test sprites in the reconstructions figure.
const SHOWN: usize = 10;

impl CliModel for Tcvae {
    fn info() -> &'static ModelInfo {
        &super::TCVAE
    }

    fn defaults(_data: &str) -> (TcvaeConfig, RunConfig) {
        (TcvaeConfig::default(), BOOK_RUN)
    }

    fn apply(args: &TrainArgs, cfg: TcvaeConfig) -> Result<TcvaeConfig> {
        let (latent_dim, hidden) = super::sizes(args, (cfg.model.latent_dim, cfg.model.hidden))?;
        if latent_dim < 2 {
            bail!("--model tcvae needs --latent-dim of at least 2 (the MIG compares two units)");
        }
        let (beta, kl_weight) = (args.beta.unwrap_or(cfg.beta), args.kl_weight.unwrap_or(cfg.kl_weight));
        for (flag, value) in [("--beta", beta), ("--kl-weight", kl_weight)] {
            if !(value.is_finite() && value >= 0.0) {
                bail!("{flag} must be a number of at least 0, got {value}");
            }
        }
        Ok(TcvaeConfig { model: crate::models::vae::VaeConfig { latent_dim, hidden, ..cfg.model }, beta, kl_weight })
    }

    fn complete_spec(spec: DataSpec) -> DataSpec {
        DataSpec {
            train_size: Some(spec.train_size.unwrap_or(TRAIN_IMAGES)),
            test_size: Some(spec.test_size.unwrap_or(TEST_IMAGES)),
            ..spec
        }
    }

    fn load_data(spec: &DataSpec, _run: &RunConfig, dev: &Device) -> Result<SpriteSet> {
        let (train, test) = (spec.train_size.unwrap_or(TRAIN_IMAGES), spec.test_size.unwrap_or(TEST_IMAGES));
        positive("--train-size", train)?;
        positive("--test-size", test)?;
        Ok(SpriteSet::sample(train, test, dev)?)
    }

    fn fit_to_data(cfg: TcvaeConfig, _data: &SpriteSet) -> Result<TcvaeConfig> {
        Ok(TcvaeConfig { model: crate::models::vae::VaeConfig { input_dim: SIDE * SIDE, ..cfg.model }, ..cfg })
    }

    fn describe(data: &SpriteSet) -> String {
        let factors: Vec<String> = FACTORS.iter().map(|(name, n)| format!("{name} {n}")).collect();
        format!(
            "{} training and {} test images of {SIDE}x{SIDE} pixels (factors: {}; draws seeded {} and {})",
            data.images.train_labels.len(),
            data.images.test_labels.len(),
            factors.join(", "),
            sprites::TRAIN_SEED,
            sprites::TEST_SEED
        )
    }

    fn figures(run: &Run<Self>, data: &SpriteSet, dir: &Path) -> Result<Vec<PathBuf>> {
        let (recon, traversals) = (dir.join("reconstructions.png"), dir.join("traversals.png"));
        Self::reconstruct(run, data, SHOWN, &recon)?;
        Self::sample(run, data, run.run.seed, &traversals)?;
        Ok(vec![recon, traversals])
    }

    /// The test negative ELBO and its terms, `-log p(x)` by importance sampling, and the MIG
    /// against the sprites' factors.
    fn eval(run: &Run<Self>, data: &SpriteSet, k: usize) -> Result<Vec<(String, f64)>> {
        let score = run.model.evaluate(&run.cfg, data, run.run.seed)?;
        let mut out = autoencoder_eval(&run.model.vae, score, &data.images.test, k, run.run.seed)?;
        let mig = tcvae::test_mig(&run.model, data)?;
        out.push(("MIG of the test means (20 bins per unit)".into(), mig.mean));
        out.extend(FACTORS.iter().zip(&mig.per_factor).map(|((name, _), g)| (format!("  gap for {name}"), *g)));
        Ok(out)
    }

    /// Traversals: one row per latent unit, the unit from -3 to 3 and the others at the first
    /// test image's code.
    fn sample(run: &Run<Self>, data: &SpriteSet, _seed: u64, out: &Path) -> Result<String> {
        let vae = &run.model.vae;
        let base = latent::encode_means(vae, &data.images.test.narrow(0, 0, 1)?)?.flatten_all()?.to_vec1::<f32>()?;
        let units: Vec<usize> = (0..base.len()).collect();
        let images = latent::traversal_images(vae, &base, &units, &latent::traversal_values())?;
        let names: Vec<String> = (0..base.len()).map(|u| format!("z{u}")).collect();
        let rows: Vec<&str> = names.iter().map(String::as_str).collect();
        let title = "Each unit from -3 to 3, the others at a test sprite's code";
        let grid = ImageGrid {
            images: &images,
            side: SIDE,
            rows: rows.len(),
            cols: latent::TRAVERSAL_STEPS,
            title,
            row_labels: Some(&rows),
            scale: 3,
        };
        grid.save(out)?;
        Ok(format!("figure: {}", out.display()))
    }

    /// Test sprites (top row) above their reconstructions from the encoder's mean.
    fn reconstruct(run: &Run<Self>, data: &SpriteSet, n: usize, out: &Path) -> Result<()> {
        let x = data.images.test.narrow(0, 0, n.min(data.images.test_labels.len()))?;
        let z = latent::encode_means(&run.model.vae, &x)?;
        let recon = latent::decode_probabilities(&run.model.vae, &z)?;
        let images = candle_core::Tensor::cat(&[&x, &recon], 0)?.flatten_all()?.to_vec1::<f32>()?;
        let title = "Test sprites (top) and their reconstructions";
        ImageGrid { images: &images, side: SIDE, rows: 2, cols: x.dim(0)?, title, row_labels: None, scale: 3 }
            .save(out)?;
        Ok(())
    }
}
