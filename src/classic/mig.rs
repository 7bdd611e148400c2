//! The mutual information gap (MIG) of Chen, Li, Grosse and Duvenaud (2018): for each known
//! factor of the data, how much more the most informative latent unit tells about it than the
//! second most, as a fraction of the factor's entropy; the MIG is the mean over factors.
//!
//! A code in which every factor lives in one unit of its own scores near 1. A code that spreads a
//! factor over two units, or mixes two factors in every unit, scores near 0, however much it
//! knows: the gap rewards *where* the information is, not how much there is.
//!
//! The mutual information between a unit and a factor is counted from their joint histogram, each
//! unit's values (the encoder means) cut into [`BINS`] bins of equal width, as in
//! `disentanglement_lib` (Locatello et al. 2019). Chen et al. instead estimate it by sampling
//! `q(z | x)` over the whole data set; the two estimators give different numbers for one model, so
//! a MIG is quoted with the estimator that made it.

use std::fmt;

/// Bins per latent unit, as `disentanglement_lib`'s default.
pub const BINS: usize = 20;

/// Why a MIG cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigError(String);

impl fmt::Display for MigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MigError {}

/// A MIG and what it is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Mig {
    /// `I(z_j; v_k)` in nats, one row per factor `k`, one column per unit `j`.
    pub mutual_information: Vec<Vec<f64>>,
    /// Each factor's entropy `H(v_k)`, in nats.
    pub entropy: Vec<f64>,
    /// Each factor's gap: the largest mutual information minus the second, over its entropy.
    pub per_factor: Vec<f64>,
    /// The mean of the gaps.
    pub mean: f64,
}

/// Each unit of `codes` (`n` rows of `units` values) cut into `bins` bins of equal width between
/// its smallest and largest value: one vector of bin indices per unit.
pub fn discretize(codes: &[f32], units: usize, bins: usize) -> Vec<Vec<usize>> {
    (0..units)
        .map(|j| {
            let column: Vec<f32> = codes.iter().skip(j).step_by(units).copied().collect();
            let lo = column.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = column.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let width = (hi - lo) / bins as f32;
            let bin = |x: f32| if width > 0.0 { (((x - lo) / width) as usize).min(bins - 1) } else { 0 };
            column.into_iter().map(bin).collect()
        })
        .collect()
}

/// The entropy of the values `a`, in nats, from their frequencies.
pub fn entropy(a: &[usize]) -> f64 {
    let mut counts = std::collections::HashMap::new();
    a.iter().for_each(|&x| *counts.entry(x).or_insert(0usize) += 1);
    let n = a.len() as f64;
    counts.values().map(|&c| -(c as f64 / n) * (c as f64 / n).ln()).sum()
}

/// The mutual information of the paired values `a` and `b`, in nats, from their joint frequencies:
/// `H(a) + H(b) - H(a, b)`.
pub fn mutual_information(a: &[usize], b: &[usize]) -> f64 {
    let stride = b.iter().max().map_or(1, |m| m + 1);
    let joint: Vec<usize> = a.iter().zip(b).map(|(x, y)| x * stride + y).collect();
    (entropy(a) + entropy(b) - entropy(&joint)).max(0.0)
}

/// The MIG of `codes` (`n` rows of `units` values, row-major) against `factors` (one vector of
/// `n` value indices per factor), each unit cut into `bins` bins.
pub fn mig(codes: &[f32], units: usize, factors: &[Vec<usize>], bins: usize) -> Result<Mig, MigError> {
    let n = codes.len() / units.max(1);
    if units < 2 || bins < 2 || n == 0 || codes.len() != n * units {
        return Err(MigError(format!(
            "the MIG needs at least 2 units, 2 bins and whole rows; got {units} units, {bins} bins, {} values",
            codes.len()
        )));
    }
    if let Some(k) = factors.iter().position(|f| f.len() != n) {
        return Err(MigError(format!("factor {k} has {} values for {n} codes", factors[k].len())));
    }
    let binned = discretize(codes, units, bins);
    let entropy: Vec<f64> = factors.iter().map(|f| entropy(f)).collect();
    if let Some(k) = entropy.iter().position(|&h| h <= 0.0) {
        return Err(MigError(format!("factor {k} takes a single value: its gap is undefined")));
    }
    let mutual_information: Vec<Vec<f64>> =
        factors.iter().map(|f| binned.iter().map(|z| mutual_information(z, f)).collect()).collect();
    let per_factor: Vec<f64> = mutual_information
        .iter()
        .zip(&entropy)
        .map(|(mi, h)| {
            let mut sorted = mi.clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            (sorted[0] - sorted[1]) / h
        })
        .collect();
    let mean = per_factor.iter().sum::<f64>() / per_factor.len().max(1) as f64;
    Ok(Mig { mutual_information, entropy, per_factor, mean })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prob::SeededRng;

    /// Two independent factors of 10 values each, drawn uniformly.
    fn factors(n: usize) -> Vec<Vec<usize>> {
        let mut rng = SeededRng::new(3);
        (0..2).map(|_| (0..n).map(|_| (rng.uniform_f64() * 10.0) as usize).collect()).collect()
    }

    fn codes(n: usize, f: &[Vec<usize>], unit: impl Fn(f32, f32) -> [f32; 2]) -> Vec<f32> {
        (0..n).flat_map(|i| unit(f[0][i] as f32, f[1][i] as f32)).collect()
    }

    #[test]
    fn one_factor_per_unit_scores_near_one() {
        let f = factors(5000);
        let m = mig(&codes(5000, &f, |a, b| [a, b]), 2, &f, BINS).unwrap();
        assert!(m.mean > 0.97, "{m:?}");
        assert!((m.mutual_information[0][0] - m.entropy[0]).abs() < 1e-9);
    }

    #[test]
    fn mixed_or_duplicated_factors_score_near_zero() {
        let f = factors(5000);
        let mixed = mig(&codes(5000, &f, |a, b| [a + b, a - b]), 2, &f, BINS).unwrap();
        assert!(mixed.mean < 0.1, "{mixed:?}");
        // Both units know the first factor exactly, and the gap between them is zero.
        let twice = mig(&codes(5000, &f, |a, _| [a, a]), 2, &f, BINS).unwrap();
        assert!(twice.per_factor[0].abs() < 1e-9 && twice.mutual_information[0][0] > 2.0, "{twice:?}");
    }

    #[test]
    fn mutual_information_is_symmetric_and_bounded_by_the_entropies() {
        let f = factors(2000);
        let sum: Vec<usize> = f[0].iter().zip(&f[1]).map(|(a, b)| a + b).collect();
        let (ab, ba) = (mutual_information(&f[0], &sum), mutual_information(&sum, &f[0]));
        assert!((ab - ba).abs() < 1e-9);
        assert!(ab <= entropy(&f[0]).min(entropy(&sum)) + 1e-9 && ab > 0.5);
        assert!(mutual_information(&f[0], &f[1]) < 0.05);
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let f = factors(10);
        assert!(mig(&[0.0; 10], 1, &f, BINS).unwrap_err().to_string().contains("at least 2 units"));
        assert!(mig(&[0.0; 20], 2, &[vec![0; 9]], BINS).unwrap_err().to_string().contains("9 values for 10"));
        assert!(mig(&[0.0; 20], 2, &[vec![4; 10]], BINS).unwrap_err().to_string().contains("single value"));
    }
}
