//! Tools for a trained VAE's latent space: the encoder's means as codes, interpolation between
//! two codes (linear and spherical), traversals of one latent dimension, and nearest neighbours.

use crate::models::vae::Autoencoder;
use candle_core::{D, Result, Tensor};
use candle_nn::ops::sigmoid;

/// The encoder's mean `mu(x)` for every row of `x`, `(n, latent)`, computed in chunks.
pub fn encode_means(model: &impl Autoencoder, x: &Tensor) -> Result<Tensor> {
    let n = x.dim(0)?;
    let chunks: Vec<Tensor> = (0..n)
        .step_by(1000)
        .map(|s| model.encode(&x.narrow(0, s, 1000.min(n - s))?).map(|(mu, _)| mu))
        .collect::<Result<_>>()?;
    Tensor::cat(&chunks, 0)
}

/// The decoder's pixel probabilities for each row of `z`.
pub fn decode_probabilities(model: &impl Autoencoder, z: &Tensor) -> Result<Tensor> {
    sigmoid(&model.decode(z)?)
}

/// `(1 - t) a + t b`.
pub fn lerp(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| (1.0 - t) * x + t * y).collect()
}

// ANCHOR: slerp
/// Spherical interpolation: along the great circle from `a` to `b`, the norm interpolated linearly.
/// Under a standard normal prior, codes concentrate near a sphere of radius about `sqrt(d)`; the
/// midpoint of a straight line between two of them is shorter than typical codes, which this avoids.
pub fn slerp(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let (na, nb) = (norm(a), norm(b));
    if na == 0.0 || nb == 0.0 {
        return lerp(a, b, t);
    }
    let cos = (a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() / (na * nb)).clamp(-1.0, 1.0);
    let omega = cos.acos();
    if omega < 1e-4 {
        return lerp(a, b, t);
    }
    let (wa, wb) = (((1.0 - t) * omega).sin() / omega.sin(), (t * omega).sin() / omega.sin());
    let radius = (1.0 - t) * na + t * nb;
    // Interpolate directions on the unit sphere, then scale.
    a.iter().zip(b).map(|(x, y)| radius * (wa * x / na + wb * y / nb)).collect()
}
// ANCHOR_END: slerp

/// `steps` codes from `a` to `b` (both ends included), linear or spherical, as a `(steps, d)` tensor.
pub fn path(a: &[f32], b: &[f32], steps: usize, spherical: bool, dev: &candle_core::Device) -> Result<Tensor> {
    let d = a.len();
    let mut codes = Vec::with_capacity(steps * d);
    for i in 0..steps {
        let t = i as f32 / (steps.max(2) - 1) as f32;
        codes.extend(if spherical { slerp(a, b, t) } else { lerp(a, b, t) });
    }
    Tensor::from_vec(codes, (steps, d), dev)
}

/// `z0` with dimension `dim` replaced by each of `values`, as a `(values.len(), d)` tensor.
pub fn traversal(z0: &[f32], dim: usize, values: &[f32], dev: &candle_core::Device) -> Result<Tensor> {
    let mut codes = Vec::with_capacity(values.len() * z0.len());
    for &v in values {
        let mut z = z0.to_vec();
        z[dim] = v;
        codes.extend(z);
    }
    Tensor::from_vec(codes, (values.len(), z0.len()), dev)
}

/// The book's traversals: each unit takes this many values, evenly spaced from -span to span.
pub const TRAVERSAL_STEPS: usize = 9;
pub const TRAVERSAL_SPAN: f32 = 3.0;

/// [`TRAVERSAL_STEPS`] values evenly spaced from `-TRAVERSAL_SPAN` to `TRAVERSAL_SPAN`, ends included.
pub fn traversal_values() -> Vec<f32> {
    let (n, span) = (TRAVERSAL_STEPS, TRAVERSAL_SPAN);
    (0..n).map(|i| -span + 2.0 * span * i as f32 / (n - 1) as f32).collect()
}

/// Pixel probabilities decoded from `z0` with each of `units` in turn swept over `values` (the
/// others held): `units.len() * values.len()` images, unit by unit.
pub fn traversal_images(model: &impl Autoencoder, z0: &[f32], units: &[usize], values: &[f32]) -> Result<Vec<f32>> {
    let mut images = Vec::with_capacity(units.len() * values.len());
    for &unit in units {
        let z = traversal(z0, unit, values, model.device())?;
        images.extend(decode_probabilities(model, &z)?.flatten_all()?.to_vec1::<f32>()?);
    }
    Ok(images)
}

/// The variance over the data of each coordinate of the encoder mean: a dimension whose mean
/// hardly varies carries no information about `x` (an "inactive unit", Burda et al. 2015).
pub fn mean_variances(mu: &Tensor) -> Result<Vec<f32>> {
    let centred = mu.broadcast_sub(&mu.mean_keepdim(0)?)?;
    centred.sqr()?.mean(0)?.to_vec1::<f32>()
}

/// For each row of `queries`, the indices of its `k` nearest rows of `pool` (Euclidean), nearest first.
pub fn nearest(queries: &Tensor, pool: &Tensor, k: usize) -> Result<Vec<Vec<usize>>> {
    // ||q - p||^2 = ||q||^2 - 2 q.p + ||p||^2; the ||q||^2 term does not change the order.
    let pool_sq = pool.sqr()?.sum(D::Minus1)?; // (m,)
    let mut out = Vec::with_capacity(queries.dim(0)?);
    let n = queries.dim(0)?;
    for s in (0..n).step_by(500) {
        let q = queries.narrow(0, s, 500.min(n - s))?;
        let dist = (q.matmul(&pool.t()?)? * -2.0)?.broadcast_add(&pool_sq.unsqueeze(0)?)?; // (rows, m)
        for row in dist.to_vec2::<f32>()? {
            let mut idx: Vec<usize> = (0..row.len()).collect();
            let k = k.min(row.len());
            idx.select_nth_unstable_by(k.saturating_sub(1), |&a, &b| row[a].total_cmp(&row[b]));
            idx.truncate(k);
            idx.sort_by(|&a, &b| row[a].total_cmp(&row[b]));
            out.push(idx);
        }
    }
    Ok(out)
}

/// The majority label among each query's `k` nearest neighbours in `pool` (ties: the nearer wins).
pub fn knn_classify(queries: &Tensor, pool: &Tensor, pool_labels: &[u8], k: usize) -> Result<Vec<u8>> {
    Ok(nearest(queries, pool, k)?
        .into_iter()
        .map(|idx| {
            let mut votes = [0usize; 256];
            for &i in &idx {
                votes[pool_labels[i] as usize] += 1;
            }
            let top = votes.iter().copied().max().unwrap_or(0);
            // The nearest neighbour among the most-voted labels.
            idx.iter().map(|&i| pool_labels[i]).find(|&l| votes[l as usize] == top).unwrap_or(0)
        })
        .collect())
}

/// Test accuracy of [`knn_classify`] whose pool is the training `rows` of `pool`, labelled by
/// `train_labels` (indexed by row), against the `test_labels` of `queries`.
pub fn knn_accuracy(
    (pool, queries): (&Tensor, &Tensor),
    rows: &[u32],
    (train_labels, test_labels): (&[u8], &[u8]),
    k: usize,
) -> Result<f64> {
    let pool = pool.index_select(&Tensor::from_slice(rows, rows.len(), pool.device())?, 0)?;
    let labels: Vec<u8> = rows.iter().map(|&r| train_labels[r as usize]).collect();
    let predicted = knn_classify(queries, &pool, &labels, k)?;
    let right = predicted.iter().zip(test_labels).filter(|(p, l)| p == l).count();
    Ok(right as f64 / predicted.len().max(1) as f64)
}
