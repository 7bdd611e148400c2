//! The book's figures, each one function from a trained model (or its history) to a PNG file.
//! The command line, the notebooks and `vae figures` all call these, so every copy matches.

use crate::classic::pca;
use crate::models::vae::Autoencoder;
use crate::plot::{self, ImageGrid, PlotError};
use crate::prob::SeededRng;
use crate::train::EpochMetrics;
use candle_core::{D, Tensor};
use std::path::Path;

pub mod pictures;

#[derive(Debug, thiserror::Error)]
pub enum FigureError {
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Plot(#[from] PlotError),
    #[error("{0}")]
    Unsupported(String),
}

pub type FigureResult = Result<(), FigureError>;

/// The side of a square image of `pixels` values, or an error naming the figure.
fn square_side(pixels: usize, title: &str) -> Result<usize, FigureError> {
    let side = (pixels as f64).sqrt().round() as usize;
    if side == 0 || side * side != pixels {
        return Err(FigureError::Unsupported(format!("{title}: {pixels} values per image is not a square image")));
    }
    Ok(side)
}

fn probabilities(model: &impl Autoencoder, z: &Tensor) -> candle_core::Result<Vec<f32>> {
    candle_nn::ops::sigmoid(&model.decode(z)?)?.flatten_all()?.to_vec1()
}

/// The first `n` images of `x` (top row) above their reconstructions `sigmoid(decode(mu))`.
pub fn reconstructions(model: &impl Autoencoder, x: &Tensor, n: usize, path: &Path) -> FigureResult {
    let n = n.min(x.dim(0)?);
    let x = x.narrow(0, 0, n)?;
    let (mu, _) = model.encode(&x)?;
    let rows = [("test digit", pixels(&x)?), ("reconstruction", probabilities(model, &mu)?)];
    labelled_rows(&rows, n, "Test digits and their reconstructions", path)
}

/// An 8x8 grid of `sigmoid(decode(z))` for `z ~ N(0, I)` drawn with `seed`: the pixel
/// probabilities of new digits, not binary samples from them.
pub fn prior_samples(model: &impl Autoencoder, seed: u64, path: &Path) -> FigureResult {
    let mut rng = SeededRng::derived(seed, "prior-samples", 0);
    let z = rng.normal(&[64, model.latent_dim()], model.device())?;
    let images = probabilities(model, &z)?;
    let grid = ImageGrid {
        images: &images,
        side: square_side(images.len() / 64, "samples from the prior")?,
        rows: 8,
        cols: 8,
        title: "Samples from the prior",
        row_labels: None,
        scale: 2,
    };
    Ok(grid.save(path)?)
}

/// The encoder means of `x` coloured by label: directly for a 2-D latent space, otherwise
/// projected on their first two principal components.
pub fn latent_scatter(model: &impl Autoencoder, x: &Tensor, labels: &[u8], path: &Path) -> FigureResult {
    let (mu, _) = model.encode(x)?;
    let d = mu.dim(D::Minus1)?;
    let values = mu.flatten_all()?.to_vec1::<f32>()?;
    let (points, title, axes) = if d == 2 {
        let pts = values.chunks_exact(2).map(|p| (p[0], p[1])).collect();
        (pts, "Test-set means of q(z|x)".to_string(), ("z1".to_string(), "z2".to_string()))
    } else {
        let (pts, shares) = pca::project_2d(&values, d);
        let title = format!("Test-set means of q(z|x), {d}-D, first two principal components");
        let ax = |i: usize| format!("PC{} ({:.0}% of variance)", i + 1, 100.0 * shares.get(i).copied().unwrap_or(0.0));
        (pts, title, (ax(0), ax(1)))
    };
    plot::scatter_by_class(&points, labels, &title, (&axes.0, &axes.1), path)?;
    Ok(())
}

/// Vertical spread of each class's strip in [`latent_strips`], in class units.
const STRIP_SPREAD: f32 = 0.7;

/// The encoder means of `x` projected on their first principal component, one horizontal strip per
/// class (points spread vertically within it), so that no class hides another: for codes that lie
/// close to one line, where a scatter draws the classes over each other.
pub fn latent_strips(model: &impl Autoencoder, x: &Tensor, labels: &[u8], path: &Path) -> FigureResult {
    let (mu, _) = model.encode(x)?;
    let d = mu.dim(D::Minus1)?;
    let (projected, shares) = pca::project_2d(&mu.flatten_all()?.to_vec1::<f32>()?, d);
    // A low-discrepancy offset per point (golden-ratio steps), the same on every run.
    let spread = |i: usize| ((i as f32 * 0.618_034).fract() - 0.5) * STRIP_SPREAD;
    let points: Vec<(f32, f32)> =
        projected.iter().zip(labels).enumerate().map(|(i, (p, &l))| (p.0, l as f32 + spread(i))).collect();
    let share = 100.0 * shares.first().copied().unwrap_or(0.0);
    let x_axis = format!("first principal component ({share:.1}% of the variance)");
    let title = "Test-set means of q(z|x), one strip per class";
    plot::scatter_by_class(&points, labels, title, (&x_axis, "class"), path)?;
    Ok(())
}

/// Decodes an `n x n` grid of latent points evenly spaced over `[-span, span]^2` (2-D models only).
pub fn manifold(model: &impl Autoencoder, n: usize, span: f32, path: &Path) -> FigureResult {
    if model.latent_dim() != 2 {
        return Err(FigureError::Unsupported(format!(
            "the latent manifold needs a model with --latent-dim 2 (this one has {})",
            model.latent_dim()
        )));
    }
    let step = if n > 1 { 2.0 * span / (n - 1) as f32 } else { 0.0 };
    let mut z = Vec::with_capacity(2 * n * n);
    for row in 0..n {
        for col in 0..n {
            // z2 grows upwards, as on a plot's y axis.
            z.extend([-span + col as f32 * step, span - row as f32 * step]);
        }
    }
    let z = Tensor::from_vec(z, (n * n, 2), model.device())?;
    let images = probabilities(model, &z)?;
    let title = format!("Decoded latent grid, z1 and z2 from -{span} to {span}");
    let side = square_side(images.len() / (n * n), &title)?;
    let grid = ImageGrid { images: &images, side, rows: n, cols: n, title: &title, row_labels: None, scale: 1 };
    let axes = plot::GridAxes { x_name: "z1", y_name: "z2", x_ends: (-span, span), y_ends: (span, -span) };
    Ok(grid.save_with_axes(&axes, path)?)
}

/// Train and test negative ELBO per epoch.
pub fn loss_curves(history: &[EpochMetrics], path: &Path) -> FigureResult {
    let train: Vec<f64> = history.iter().map(|m| m.train_loss).collect();
    let test: Vec<f64> = history.iter().map(|m| m.test_loss).collect();
    let series = [("train", train.as_slice()), ("test", test.as_slice())];
    Ok(plot::curves(&series, "Negative ELBO per epoch", ("epoch", "nats per image"), path)?)
}

/// Digits from the conditional VAE: one row per label of `labels`, one column per code of `z`
/// (the same codes in every row, so a column shares its style).
pub fn label_grid(model: &crate::models::cvae::Cvae, labels: &[u8], z: &Tensor, path: &Path) -> FigureResult {
    let images = crate::models::cvae::generate(model, labels, z)?.flatten_all()?.to_vec1::<f32>()?;
    let names: Vec<String> = labels.iter().map(|d| format!("y = {d}")).collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let grid = ImageGrid {
        images: &images,
        side: square_side(images.len() / (labels.len() * z.dim(0)?).max(1), "CVAE samples")?,
        rows: labels.len(),
        cols: z.dim(0)?,
        title: "CVAE samples: one row per label, one column per code z",
        row_labels: Some(&name_refs),
        scale: 2,
    };
    Ok(grid.save(path)?)
}

/// The values of `t` as one flat vector (images one after the other, as [`labelled_rows`] takes them).
pub fn pixels(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

/// Labelled rows of square images: each `(label, pixels)` holds `cols` images' values in [0, 1],
/// every row the same number of values.
pub fn labelled_rows(rows: &[(&str, Vec<f32>)], cols: usize, title: &str, path: &Path) -> FigureResult {
    let per_row = rows.first().map_or(0, |(_, px)| px.len());
    if cols == 0 || !per_row.is_multiple_of(cols) || rows.iter().any(|(_, px)| px.len() != per_row) {
        return Err(FigureError::Unsupported(format!("{title}: every row needs {cols} images of the same size")));
    }
    let side = square_side(per_row / cols, title)?;
    let images: Vec<f32> = rows.iter().flat_map(|(_, px)| px.iter().copied()).collect();
    let labels: Vec<&str> = rows.iter().map(|(l, _)| *l).collect();
    let grid = ImageGrid { images: &images, side, rows: rows.len(), cols, title, row_labels: Some(&labels), scale: 2 };
    Ok(grid.save(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::vae::{Vae, VaeConfig};
    use candle_core::{DType, Device};
    use candle_nn::{VarBuilder, VarMap};

    #[test]
    fn image_figures_take_any_square_size() -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("vae-figures-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let varmap = VarMap::new();
        let cfg = VaeConfig { input_dim: 32 * 32, hidden: 8, latent_dim: 2 };
        let model = Vae::new(cfg, VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu))?;
        let x = Tensor::zeros((3, 32 * 32), DType::F32, &Device::Cpu)?;
        reconstructions(&model, &x, 3, &dir.join("r.png"))?;
        prior_samples(&model, 1, &dir.join("s.png"))?;
        manifold(&model, 4, 3.0, &dir.join("m.png"))?;
        let (w, h) = image::image_dimensions(dir.join("s.png"))?;
        assert!(w >= 8 * 32 * 2 && h >= 8 * 32 * 2, "an 8x8 grid of 32x32 images at scale 2, got {w}x{h}");
        let odd = labelled_rows(&[("row", vec![0.0; 2 * 30])], 2, "odd", &dir.join("o.png"));
        assert!(odd.unwrap_err().to_string().contains("not a square image"));
        let ragged = labelled_rows(&[("a", vec![0.0; 16]), ("b", vec![0.0; 9])], 1, "ragged", &dir.join("g.png"));
        assert!(ragged.unwrap_err().to_string().contains("same size"));
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
