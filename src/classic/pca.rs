//! Principal component analysis: power iteration for the 2-D projections of latent means that the
//! figures draw, and a `k`-dimensional principal subspace of pixels ([`Pca`]) to set beside the VAE
//! as a dimensionality reduction.

/// The first `k` principal directions of `data` (`n` rows of `d` values), with the share of the
/// total variance each explains. Directions are unit vectors, signed so that their largest
/// component is positive (the result does not depend on the start vector).
pub fn principal_components(data: &[f32], d: usize, k: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
    let n = data.len().checked_div(d).unwrap_or(0);
    if n == 0 || k == 0 {
        return (Vec::new(), Vec::new());
    }
    let mut mean = vec![0.0f64; d];
    for row in data.chunks_exact(d) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64 / n as f64;
        }
    }
    let mut cov = vec![0.0f64; d * d];
    for row in data.chunks_exact(d) {
        for i in 0..d {
            let a = row[i] as f64 - mean[i];
            for j in 0..d {
                cov[i * d + j] += a * (row[j] as f64 - mean[j]) / n as f64;
            }
        }
    }
    let total: f64 = (0..d).map(|i| cov[i * d + i]).sum();
    let mut dirs = Vec::new();
    let mut shares = Vec::new();
    for _ in 0..k.min(d) {
        let mut v: Vec<f64> = (0..d).map(|i| 1.0 + i as f64 / d as f64).collect();
        let mut lambda = 0.0;
        for _ in 0..1000 {
            let w: Vec<f64> = (0..d).map(|i| (0..d).map(|j| cov[i * d + j] * v[j]).sum()).collect();
            let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm == 0.0 {
                break;
            }
            lambda = norm;
            v = w.into_iter().map(|x| x / norm).collect();
        }
        let largest = v.iter().copied().fold(0.0f64, |a, x| if x.abs() > a.abs() { x } else { a });
        if largest < 0.0 {
            v.iter_mut().for_each(|x| *x = -*x);
        }
        // Deflate: remove this direction's variance before finding the next one.
        for i in 0..d {
            for j in 0..d {
                cov[i * d + j] -= lambda * v[i] * v[j];
            }
        }
        shares.push(if total > 0.0 { lambda / total } else { 0.0 });
        dirs.push(v);
    }
    (dirs, shares)
}

/// Projects each row of `data` onto the first two principal directions (centred).
pub fn project_2d(data: &[f32], d: usize) -> (Vec<(f32, f32)>, Vec<f64>) {
    let (dirs, shares) = principal_components(data, d, 2);
    if dirs.len() < 2 {
        return (data.chunks_exact(d.max(1)).map(|r| (r[0], 0.0)).collect(), shares);
    }
    let n = data.len() / d;
    let mut mean = vec![0.0f64; d];
    for row in data.chunks_exact(d) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64 / n as f64;
        }
    }
    let proj =
        |row: &[f32], dir: &[f64]| row.iter().zip(dir).zip(&mean).map(|((&x, w), m)| (x as f64 - m) * w).sum::<f64>();
    let points = data.chunks_exact(d).map(|r| (proj(r, &dirs[0]) as f32, proj(r, &dirs[1]) as f32)).collect();
    (points, shares)
}

/// A `k`-dimensional principal subspace of pixel data, for reconstruction and projection.
#[derive(Debug, Clone)]
pub struct Pca {
    /// The data mean, `(1, d)`.
    pub mean: candle_core::Tensor,
    /// Orthonormal columns spanning the top-`k` principal subspace, `(d, k)`.
    pub basis: candle_core::Tensor,
}

impl Pca {
    /// Fits the subspace of `x` (`(n, d)`, f32) by orthogonal (subspace) iteration on the
    /// covariance matrix: `iterations` rounds of multiply-then-orthonormalize. The subspace, not the
    /// order of directions inside it, is what reconstruction needs.
    pub fn fit(x: &candle_core::Tensor, k: usize, iterations: usize) -> candle_core::Result<Self> {
        use candle_core::Tensor;
        let (n, d) = x.dims2()?;
        let mean = x.mean_keepdim(0)?;
        let centred = x.broadcast_sub(&mean)?;
        let cov = (centred.t()?.matmul(&centred)? / n as f64)?; // (d, d)
        // A deterministic start: the first k coordinate axes, slightly mixed.
        let start: Vec<f32> = (0..d * k).map(|i| if i / k == i % k { 1.0 } else { 1e-3 * ((i % 7) as f32) }).collect();
        let mut v = Tensor::from_vec(start, (d, k), x.device())?;
        for _ in 0..iterations {
            v = orthonormalize(&cov.matmul(&v)?)?;
        }
        Ok(Self { mean, basis: v })
    }

    /// The coordinates of `x` in the subspace, `(n, k)`.
    pub fn project(&self, x: &candle_core::Tensor) -> candle_core::Result<candle_core::Tensor> {
        x.broadcast_sub(&self.mean)?.matmul(&self.basis)
    }

    /// `x` projected onto the subspace and mapped back to pixels, `(n, d)`.
    pub fn reconstruct(&self, x: &candle_core::Tensor) -> candle_core::Result<candle_core::Tensor> {
        self.project(x)?.matmul(&self.basis.t()?)?.broadcast_add(&self.mean)
    }
}

/// Gram-Schmidt on the columns of `m` (`(d, k)`), in f64 on the host.
fn orthonormalize(m: &candle_core::Tensor) -> candle_core::Result<candle_core::Tensor> {
    let (d, k) = m.dims2()?;
    let values = m.to_vec2::<f32>()?;
    let mut cols: Vec<Vec<f64>> = (0..k).map(|j| (0..d).map(|i| values[i][j] as f64).collect()).collect();
    for j in 0..k {
        for p in 0..j {
            let dot: f64 = cols[j].iter().zip(&cols[p]).map(|(a, b)| a * b).sum();
            let prev = cols[p].clone();
            cols[j].iter_mut().zip(&prev).for_each(|(a, b)| *a -= dot * b);
        }
        let norm = cols[j].iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-30);
        cols[j].iter_mut().for_each(|a| *a /= norm);
    }
    let flat: Vec<f32> = (0..d).flat_map(|i| cols.iter().map(move |c| c[i] as f32)).collect();
    candle_core::Tensor::from_vec(flat, (d, k), m.device())
}
