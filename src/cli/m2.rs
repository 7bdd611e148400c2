//! The semi-supervised VAE (M2) on the command line: `--labels` per class keep their labels, drawn
//! with the run's seed; every other training image is used without its label.

use super::images::{describe_images, grey_images, square_digits};
use super::{CliModel, DataSpec, ModelInfo, TrainArgs, positive};
use crate::data::labelled::FewLabels;
use crate::models::m2::{self, BOOK_RUN, LABELS_PER_CLASS, M2, M2Config};
use crate::plot::ImageGrid;
use crate::prob::SeededRng;
use crate::train::{Run, RunConfig};
use anyhow::{Result, bail};
use candle_core::Device;
use std::path::{Path, PathBuf};

/// Test digits shown in the analogies figure.
const SHOWN: usize = 8;
const SIDE: usize = 28;

impl CliModel for M2 {
    fn info() -> &'static ModelInfo {
        &super::M2
    }

    fn defaults(_data: &str) -> (M2Config, RunConfig) {
        (M2Config::default(), BOOK_RUN)
    }

    fn apply(args: &TrainArgs, cfg: M2Config) -> Result<M2Config> {
        let (latent_dim, hidden) = super::sizes(args, (cfg.latent_dim, cfg.hidden))?;
        let alpha = args.alpha.unwrap_or(cfg.alpha);
        if !(alpha.is_finite() && alpha >= 0.0) {
            bail!("--alpha must be a number of at least 0, got {alpha}");
        }
        Ok(M2Config { latent_dim, hidden, alpha, ..cfg })
    }

    fn complete_spec(spec: DataSpec) -> DataSpec {
        DataSpec { labels: Some(spec.labels.unwrap_or(LABELS_PER_CLASS)), ..spec }
    }

    fn load_data(spec: &DataSpec, run: &RunConfig, dev: &Device) -> Result<FewLabels> {
        let per_class = spec.labels.unwrap_or(LABELS_PER_CLASS);
        positive("--labels", per_class)?;
        let images = grey_images(spec, dev)?;
        FewLabels::draw(images, per_class, run.seed).map_err(|e| anyhow::anyhow!("--labels {per_class}: {e}"))
    }

    fn fit_to_data(cfg: M2Config, data: &FewLabels) -> Result<M2Config> {
        let images = &data.images;
        if let Some(&l) = images.train_labels.iter().chain(&images.test_labels).find(|&&l| l as usize >= cfg.classes) {
            bail!("--model m2 takes labels 0-{}; the data has label {l}", cfg.classes - 1);
        }
        Ok(M2Config { input_dim: square_digits(images.train.dim(1)?)?, ..cfg })
    }

    fn describe(data: &FewLabels) -> String {
        let images = &data.images;
        let pixels = images.train.dims().get(1).copied().unwrap_or(0);
        format!(
            "{}, {} of the training images labelled",
            describe_images(images.train_labels.len(), images.test_labels.len(), pixels),
            data.labelled.len()
        )
    }

    fn figures(run: &Run<Self>, data: &FewLabels, dir: &Path) -> Result<Vec<PathBuf>> {
        let (analogies, samples) = (dir.join("analogies.png"), dir.join("samples.png"));
        Self::reconstruct(run, data, SHOWN, &analogies)?;
        Self::sample(run, data, run.run.seed, &samples)?;
        Ok(vec![analogies, samples])
    }

    fn eval(run: &Run<Self>, data: &FewLabels, k: usize) -> Result<Vec<(String, f64)>> {
        let (x, labels, seed) = (&data.images.test, &data.images.test_labels, run.run.seed);
        let (bound, error) = m2::evaluate(&run.model, x, labels, seed)?;
        let per_label = k.div_ceil(run.cfg.classes);
        Ok(vec![
            ("test classification error of q(y | x)".to_string(), error),
            ("test -ELBO, label summed out (nats per image)".to_string(), bound),
            (
                format!("test -log p(x), importance sampled, {per_label} codes per label"),
                m2::importance_nll(&run.model, x, per_label, seed)?,
            ),
        ])
    }

    /// One row per label, one column per code drawn from the prior: the style held, the digit changed.
    fn sample(run: &Run<Self>, data: &FewLabels, seed: u64, out: &Path) -> Result<String> {
        let (k, cols) = (run.cfg.classes, SHOWN);
        let z =
            SeededRng::derived(seed, "m2-samples", 0).normal(&[cols, run.cfg.latent_dim], data.images.test.device())?;
        let labels: Vec<u8> = (0..k as u8).flat_map(|c| std::iter::repeat_n(c, cols)).collect();
        let z_every = z.repeat((k, 1))?;
        let y = crate::models::cvae::one_hot(&labels, k, z.device())?;
        let images = candle_nn::ops::sigmoid(&run.model.decode(&z_every, &y)?)?.flatten_all()?.to_vec1::<f32>()?;
        let names: Vec<String> = (0..k).map(|c| format!("y = {c}")).collect();
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let title = "M2 samples: one row per label, one column per code z from the prior";
        ImageGrid { images: &images, side: SIDE, rows: k, cols, title, row_labels: Some(&name_refs), scale: 2 }
            .save(out)?;
        Ok(format!("figure: {}", out.display()))
    }

    /// Test digits (first column) and their style, the mean of `q(z | x, y)` under the classifier's
    /// guess, decoded with every label.
    fn reconstruct(run: &Run<Self>, data: &FewLabels, n: usize, out: &Path) -> Result<()> {
        let x = data.images.test.narrow(0, 0, n.min(data.images.test_labels.len()))?;
        let rows = x.dim(0)?;
        let k = run.cfg.classes;
        let drawn = m2::analogies(&run.model, &x)?.reshape((rows, k, run.cfg.input_dim))?;
        let grid = candle_core::Tensor::cat(&[&x.unsqueeze(1)?, &drawn], 1)?;
        let images = grid.flatten_all()?.to_vec1::<f32>()?;
        let title = "Each test digit (left), its style decoded with every label 0-9";
        ImageGrid { images: &images, side: SIDE, rows, cols: k + 1, title, row_labels: None, scale: 2 }.save(out)?;
        Ok(())
    }
}
