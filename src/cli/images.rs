//! The image models on the command line: the convolutional VAE, the IWAE and the conditional VAE,
//! on the embedded digits or clothes (Fashion-MNIST) or a folder of MNIST-format files.

use super::{CliModel, DataSpec, ModelInfo, TrainArgs, positive};
use crate::data::{BinarizedImages, ImageSet, Images, Mnist};
use crate::models::conv_vae::{ConvVae, ConvVaeConfig};
use crate::models::cvae::{self, Cvae, CvaeConfig};
use crate::models::iwae::{self, Iwae, IwaeConfig};
use crate::models::vae::{Autoencoder, VaeConfig};
use crate::prob::SeededRng;
use crate::train::{Model, Run, RunConfig};
use crate::{estimators, figures};
use anyhow::{Result, bail};
use candle_core::{Device, Tensor};
use std::path::{Path, PathBuf};

/// The run settings of the VAE chapter: 10 epochs of 128 images, Adam at 1e-3, seed 42.
pub const IMAGE_RUN: RunConfig = RunConfig { epochs: 10, batch_size: 128, lr: 1e-3, seed: 42, patience: None };
/// The side of the images the models and figures take.
const SIDE: usize = 28;
/// Decoder rows per chunk of importance sampling (images per chunk times samples).
const IMPORTANCE_ROWS: usize = 50_000;

/// The embedded image set called `name`, or an error naming the choices.
pub(super) fn image_set(name: &str) -> Result<ImageSet> {
    ImageSet::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = ImageSet::ALL.iter().map(|s| s.name()).collect();
        anyhow::anyhow!(
            "image models train on --data {} (or a --data-dir of IDX files), not {name:?}",
            names.join(" or ")
        )
    })
}

/// The training and test images `spec` names.
pub(super) fn load_mnist(spec: &DataSpec) -> Result<Mnist> {
    let data = Mnist::open(image_set(&spec.name)?, spec.dir.as_deref())?;
    spec.train_size.map_or(Ok(()), |n| positive("--train-size", n))?;
    spec.test_size.map_or(Ok(()), |n| positive("--test-size", n))?;
    Ok(data.cut((spec.train_size, spec.test_size)))
}

/// `pixels` if the images are 28x28 (the convolutions and every figure assume it), else an error.
pub(super) fn square_digits(pixels: usize) -> Result<usize> {
    if pixels != SIDE * SIDE {
        bail!("the image models take {SIDE}x{SIDE} images (MNIST, Fashion-MNIST); these have {pixels} pixels");
    }
    Ok(pixels)
}

pub(super) fn describe_images(train: usize, test: usize, pixels: usize) -> String {
    format!("{train} training and {test} test images of {pixels} pixels")
}

/// The grey-level training and test images `spec` names, as the image models read them.
pub(super) fn grey_images(spec: &DataSpec, dev: &Device) -> Result<Images> {
    Ok(Images::from_mnist(&load_mnist(spec)?, dev)?)
}

/// [`describe_images`] of grey-level images.
pub(super) fn describe_grey(data: &Images) -> String {
    describe_images(data.train_labels.len(), data.test_labels.len(), data.train.dims().get(1).copied().unwrap_or(0))
}

/// Test negative ELBO terms, then `-log p(x)` by importance sampling with `k` codes per image.
pub(super) fn autoencoder_eval(
    model: &impl Autoencoder,
    score: crate::train::Score,
    x: &Tensor,
    k: usize,
    seed: u64,
) -> Result<Vec<(String, f64)>> {
    let mut out = vec![("test -ELBO (nats per image)".to_string(), score.loss)];
    out.extend(score.terms.into_iter().map(|(n, v)| (format!("  {n}"), v)));
    out.push((format!("test -log p(x), importance sampled, k = {k}"), importance_nll(model, x, k, seed)?));
    Ok(out)
}

/// `-log p(x)` per example of `x`, averaged, by importance sampling with `k` codes per example.
pub(super) fn importance_nll(model: &impl Autoencoder, x: &Tensor, k: usize, seed: u64) -> Result<f64> {
    let mut rng = SeededRng::derived(seed, "eval-importance", k as u64);
    let chunk = (IMPORTANCE_ROWS / k).max(1);
    let bounds = estimators::iw_bound(model, x, k, chunk, &mut rng)?;
    Ok(-bounds.iter().sum::<f64>() / bounds.len().max(1) as f64)
}

/// Reconstructions, prior samples, the latent scatter (and the manifold for a 2-D code).
fn autoencoder_figures(
    model: &impl Autoencoder,
    x_test: &Tensor,
    labels: &[u8],
    seed: u64,
    dir: &Path,
) -> Result<Vec<PathBuf>> {
    let paths: Vec<PathBuf> =
        ["reconstructions.png", "samples.png", "latent.png"].iter().map(|n| dir.join(n)).collect();
    figures::reconstructions(model, x_test, 10, &paths[0])?;
    figures::prior_samples(model, seed, &paths[1])?;
    figures::latent_scatter(model, x_test, labels, &paths[2])?;
    let mut out = paths;
    if model.latent_dim() == 2 {
        let path = dir.join("manifold.png");
        figures::manifold(model, 20, 3.0, &path)?;
        out.push(path);
    }
    Ok(out)
}

impl CliModel for ConvVae {
    fn info() -> &'static ModelInfo {
        &super::CONV
    }

    fn defaults(_data: &str) -> (ConvVaeConfig, RunConfig) {
        (ConvVaeConfig { latent_dim: 2 }, IMAGE_RUN)
    }

    fn apply(args: &TrainArgs, cfg: ConvVaeConfig) -> Result<ConvVaeConfig> {
        let latent_dim = args.latent_dim.unwrap_or(cfg.latent_dim);
        positive("--latent-dim", latent_dim)?;
        Ok(ConvVaeConfig { latent_dim })
    }

    fn load_data(spec: &DataSpec, _run: &RunConfig, dev: &Device) -> Result<Images> {
        grey_images(spec, dev)
    }

    fn fit_to_data(cfg: ConvVaeConfig, data: &Images) -> Result<ConvVaeConfig> {
        square_digits(data.train.dim(1)?)?;
        Ok(cfg)
    }

    fn describe(data: &Images) -> String {
        describe_grey(data)
    }

    fn figures(run: &Run<Self>, data: &Images, dir: &Path) -> Result<Vec<PathBuf>> {
        autoencoder_figures(&run.model, &data.test, &data.test_labels, run.run.seed, dir)
    }

    fn eval(run: &Run<Self>, data: &Images, k: usize) -> Result<Vec<(String, f64)>> {
        let score = run.model.evaluate(&run.cfg, data, run.run.seed)?;
        autoencoder_eval(&run.model, score, &data.test, k, run.run.seed)
    }

    fn sample(run: &Run<Self>, _data: &Images, seed: u64, out: &Path) -> Result<String> {
        figures::prior_samples(&run.model, seed, out)?;
        Ok(format!("figure: {}", out.display()))
    }

    fn reconstruct(run: &Run<Self>, data: &Images, n: usize, out: &Path) -> Result<()> {
        Ok(figures::reconstructions(&run.model, &data.test, n, out)?)
    }
}

impl CliModel for Iwae {
    fn info() -> &'static ModelInfo {
        &super::IWAE
    }

    fn defaults(_data: &str) -> (IwaeConfig, RunConfig) {
        (IwaeConfig::new(5), IMAGE_RUN)
    }

    fn apply(args: &TrainArgs, cfg: IwaeConfig) -> Result<IwaeConfig> {
        let (latent_dim, hidden) = super::sizes(args, (cfg.model.latent_dim, cfg.model.hidden))?;
        let model = VaeConfig { latent_dim, hidden, ..cfg.model };
        let k = args.k.unwrap_or(cfg.k);
        super::check_importance_samples(k)?;
        Ok(IwaeConfig { model, k })
    }

    fn load_data(spec: &DataSpec, run: &RunConfig, dev: &Device) -> Result<BinarizedImages> {
        let data = load_mnist(spec)?;
        Ok(BinarizedImages::new(&data.train, &data.test, run.seed, dev)?)
    }

    fn fit_to_data(cfg: IwaeConfig, data: &BinarizedImages) -> Result<IwaeConfig> {
        square_digits(data.dim)?;
        Ok(IwaeConfig { model: VaeConfig { input_dim: data.dim, ..cfg.model }, ..cfg })
    }

    fn describe(data: &BinarizedImages) -> String {
        format!("{}, binarized", describe_images(data.train_len(), data.test.dims()[0], data.dim))
    }

    fn figures(run: &Run<Self>, data: &BinarizedImages, dir: &Path) -> Result<Vec<PathBuf>> {
        autoencoder_figures(&run.model.vae, &data.test, &data.test_labels, run.run.seed, dir)
    }

    fn eval(run: &Run<Self>, data: &BinarizedImages, k: usize) -> Result<Vec<(String, f64)>> {
        let (model, x, seed) = (&run.model.vae, &data.test, run.run.seed);
        let elbo = -iwae::mean_bound(model, x, 1, seed)?;
        let trained = -iwae::mean_bound(model, x, run.cfg.k, seed)?;
        let mut out = vec![
            ("test -ELBO, binarized digits".to_string(), elbo),
            (format!("test -L_{} (the training bound)", run.cfg.k), trained),
        ];
        out.push((
            format!("test -log p(x), importance sampled (-L_k), k = {k}"),
            -iwae::mean_bound(model, x, k, seed)?,
        ));
        Ok(out)
    }

    fn sample(run: &Run<Self>, _data: &BinarizedImages, seed: u64, out: &Path) -> Result<String> {
        figures::prior_samples(&run.model.vae, seed, out)?;
        Ok(format!("figure: {}", out.display()))
    }

    fn reconstruct(run: &Run<Self>, data: &BinarizedImages, n: usize, out: &Path) -> Result<()> {
        Ok(figures::reconstructions(&run.model.vae, &data.test, n, out)?)
    }
}

impl CliModel for Cvae {
    fn info() -> &'static ModelInfo {
        &super::CVAE
    }

    fn defaults(_data: &str) -> (CvaeConfig, RunConfig) {
        (CvaeConfig::default(), IMAGE_RUN)
    }

    fn apply(args: &TrainArgs, cfg: CvaeConfig) -> Result<CvaeConfig> {
        let (latent_dim, hidden) = super::sizes(args, (cfg.latent_dim, cfg.hidden))?;
        Ok(CvaeConfig { latent_dim, hidden, ..cfg })
    }

    fn load_data(spec: &DataSpec, _run: &RunConfig, dev: &Device) -> Result<Images> {
        grey_images(spec, dev)
    }

    fn fit_to_data(cfg: CvaeConfig, data: &Images) -> Result<CvaeConfig> {
        if let Some(&l) = data.train_labels.iter().chain(&data.test_labels).find(|&&l| l as usize >= cfg.classes) {
            bail!("--model cvae takes labels 0-{}; the data has label {l}", cfg.classes - 1);
        }
        Ok(CvaeConfig { input_dim: square_digits(data.train.dim(1)?)?, ..cfg })
    }

    fn describe(data: &Images) -> String {
        describe_grey(data)
    }

    fn figures(run: &Run<Self>, _data: &Images, dir: &Path) -> Result<Vec<PathBuf>> {
        let path = dir.join("samples.png");
        Self::sample(run, _data, run.run.seed, &path)?;
        Ok(vec![path])
    }

    fn eval(run: &Run<Self>, data: &Images, k: usize) -> Result<Vec<(String, f64)>> {
        let seed = run.run.seed;
        let elbo = cvae::evaluate(&run.model, &data.test, &data.test_labels, seed)?;
        let nll = cvae::importance_nll(&run.model, &data.test, &data.test_labels, k, seed)?;
        Ok(vec![
            ("test -ELBO of log p(x | y) (nats per image)".to_string(), elbo),
            (format!("test -log p(x | y), importance sampled, k = {k}"), nll),
        ])
    }

    fn sample(run: &Run<Self>, _data: &Images, seed: u64, out: &Path) -> Result<String> {
        let labels: Vec<u8> = (0..run.cfg.classes as u8).collect();
        let z = SeededRng::derived(seed, "cvae-samples", 0).normal(&[10, run.cfg.latent_dim], _data.test.device())?;
        figures::label_grid(&run.model, &labels, &z, out)?;
        Ok(format!("figure: {}", out.display()))
    }

    fn reconstruct(run: &Run<Self>, data: &Images, n: usize, out: &Path) -> Result<()> {
        let n = n.min(data.test_labels.len());
        let x = data.test.narrow(0, 0, n)?;
        let y = cvae::one_hot(&data.test_labels[..n], run.cfg.classes, x.device())?;
        let (mu, _) = run.model.encode(&x, &y)?;
        let recon = candle_nn::ops::sigmoid(&run.model.decode(&mu, &y)?)?;
        let mut images = x.flatten_all()?.to_vec1::<f32>()?;
        images.extend(recon.flatten_all()?.to_vec1::<f32>()?);
        let grid = crate::plot::ImageGrid {
            images: &images,
            side: SIDE,
            rows: 2,
            cols: n,
            title: "Test digits and their reconstructions given their labels",
            row_labels: Some(&["test digit", "reconstruction"]),
            scale: 2,
        };
        Ok(grid.save(out)?)
    }
}
