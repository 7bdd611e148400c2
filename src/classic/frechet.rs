//! Two numbers for blur. The Fréchet distance between Gaussians fitted to a classifier's features
//! of two image sets (the recipe of the FID, Heusel et al. 2017, with a small classifier trained
//! on our own data instead of Inception: an analogue, not comparable with published FIDs), and
//! the gradient energy of images (a blurred edge climbs in several small steps instead of one
//! big one, and squares make many small steps cost less than one big step).

use nalgebra::{DMatrix, DVector, SymmetricEigen};

/// The mean and covariance of a set of feature vectors.
#[derive(Debug, Clone)]
pub struct FeatureStats {
    pub mean: DVector<f64>,
    pub cov: DMatrix<f64>,
    /// Rows they were computed from.
    pub n: usize,
}

impl FeatureStats {
    /// From `n` rows of `d` features, row after row; the covariance divides by `n - 1`.
    pub fn new(rows: &[f32], d: usize) -> candle_core::Result<Self> {
        let n = rows.len().checked_div(d).unwrap_or(0);
        if n < 2 || rows.len() != n * d {
            let msg = format!("feature statistics need at least two rows of {d} values, got {} values", rows.len());
            return Err(candle_core::Error::Msg(msg));
        }
        let x = DMatrix::from_row_slice(n, d, rows).map(f64::from);
        let mean = DVector::from_iterator(d, x.column_iter().map(|c| c.mean()));
        let centred = DMatrix::from_fn(n, d, |i, j| x[(i, j)] - mean[j]);
        let cov = centred.transpose() * &centred / (n as f64 - 1.0);
        Ok(Self { mean, cov, n })
    }
}

// ANCHOR: frechet
/// `|m1 - m2|^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2))`: the squared 2-Wasserstein (Fréchet) distance
/// between `N(m1, C1)` and `N(m2, C2)` (Dowson and Landau 1982).
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> f64 {
    let mean_term = (&a.mean - &b.mean).norm_squared();
    // tr (C1 C2)^(1/2) = tr (C1^(1/2) C2 C1^(1/2))^(1/2), a symmetric matrix's square root.
    let root_a = psd_sqrt(&a.cov);
    let middle = &root_a * &b.cov * &root_a;
    let cross: f64 =
        SymmetricEigen::new((&middle + middle.transpose()) / 2.0).eigenvalues.iter().map(|l| l.max(0.0).sqrt()).sum();
    mean_term + a.cov.trace() + b.cov.trace() - 2.0 * cross
}
// ANCHOR_END: frechet

/// The square root of a symmetric positive semi-definite matrix (eigenvalues below 0 from
/// rounding are taken as 0).
fn psd_sqrt(m: &DMatrix<f64>) -> DMatrix<f64> {
    let eig = SymmetricEigen::new(m.clone());
    let roots = DMatrix::from_diagonal(&eig.eigenvalues.map(|l| l.max(0.0).sqrt()));
    &eig.eigenvectors * roots * eig.eigenvectors.transpose()
}

// ANCHOR: sharpness
/// The gradient energy of square images (`side` x `side` pixels in [0, 1], row after row):
/// `dx^2 + dy^2` from differences with the right and lower neighbour, averaged over the pixels
/// that have both and over the images. Unlike the mean gradient magnitude, which is the same for
/// a step and for a ramp of the same height, it falls when an edge is spread out.
pub fn sharpness(pixels: &[f32], side: usize) -> f64 {
    let per_image = side * side;
    let images = pixels.len().checked_div(per_image).unwrap_or(0);
    if images == 0 || side < 2 {
        return 0.0;
    }
    let mut sum = 0.0f64;
    for img in pixels.chunks_exact(per_image) {
        for r in 0..side - 1 {
            for c in 0..side - 1 {
                let here = img[r * side + c];
                let dx = img[r * side + c + 1] - here;
                let dy = img[(r + 1) * side + c] - here;
                sum += (dx * dx + dy * dy) as f64;
            }
        }
    }
    sum / (images * (side - 1) * (side - 1)) as f64
}
// ANCHOR_END: sharpness

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(mean: &[f64], cov: &[f64]) -> FeatureStats {
        let d = mean.len();
        FeatureStats { mean: DVector::from_row_slice(mean), cov: DMatrix::from_row_slice(d, d, cov), n: 0 }
    }

    #[test]
    fn distance_of_gaussians_matches_closed_forms() {
        let a = stats(&[0.0, 0.0], &[1.0, 0.0, 0.0, 1.0]);
        assert!(frechet_distance(&a, &a).abs() < 1e-9);
        // Same covariance: only the means count.
        let b = stats(&[3.0, 4.0], &[1.0, 0.0, 0.0, 1.0]);
        assert!((frechet_distance(&a, &b) - 25.0).abs() < 1e-9);
        // Diagonal covariances: sum of (sqrt(s1) - sqrt(s2))^2.
        let c = stats(&[0.0, 0.0], &[4.0, 0.0, 0.0, 9.0]);
        assert!((frechet_distance(&a, &c) - (1.0 + 4.0)).abs() < 1e-9);
        assert!((frechet_distance(&c, &a) - 5.0).abs() < 1e-9);
    }

    #[test]
    fn statistics_of_rows() -> candle_core::Result<()> {
        let s = FeatureStats::new(&[1.0, 2.0, 3.0, 6.0], 2)?;
        assert_eq!(s.mean.as_slice(), &[2.0, 4.0]);
        assert_eq!(s.cov.as_slice(), &[2.0, 4.0, 4.0, 8.0]);
        assert!(FeatureStats::new(&[1.0, 2.0], 2).is_err_and(|e| e.to_string().contains("two rows")));
        Ok(())
    }

    #[test]
    fn spreading_an_edge_lowers_sharpness() {
        let side = 4;
        let edge: Vec<f32> = (0..16).map(|i| if i % 4 < 2 { 0.0 } else { 1.0 }).collect();
        let ramp: Vec<f32> = (0..16).map(|i| (i % 4) as f32 / 3.0).collect();
        // One step of height 1 in three of the nine pixels, against three steps of 1/3 in all.
        assert!((sharpness(&edge, side) - 1.0 / 3.0).abs() < 1e-9);
        assert!((sharpness(&ramp, side) - 1.0 / 9.0).abs() < 1e-9);
        let flat = vec![0.5f32; 16];
        assert_eq!(sharpness(&flat, side), 0.0);
        let half_edge: Vec<f32> = edge.iter().map(|v| 0.25 + v / 2.0).collect();
        assert!(sharpness(&half_edge, side) < sharpness(&edge, side));
    }
}
