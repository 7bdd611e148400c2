//! Principal component analysis by power iteration on the covariance matrix: enough for the
//! 2-D projections of latent means that the figures draw (the latent dimension is small).

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
