//! An evolution strategy (Salimans et al. 2017's simple one): train a parameter vector without
//! gradients, from the returns of noisy copies of it. Each generation draws `pairs` Gaussian
//! directions `eps`, scores `theta + sigma eps` and `theta - sigma eps`, turns the scores into
//! ranks (so that only their order counts), and moves `theta` along the directions that ranked
//! well. The world model's controller trains this way, as in Ha and Schmidhuber (2018), who used
//! CMA-ES, a cousin that also adapts the noise's shape.

use crate::prob::SeededRng;
use candle_core::Result;
use serde::{Deserialize, Serialize};

/// How the strategy searches.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EsConfig {
    /// Directions per generation; each is scored twice (plus and minus).
    pub pairs: usize,
    /// The noise's standard deviation.
    pub sigma: f64,
    /// The step along the estimated direction of improvement.
    pub lr: f64,
    /// Generations to run.
    pub generations: usize,
    /// Seeds the directions.
    pub seed: u64,
}

/// One generation's scores: the mean over the noisy copies, the best copy, and `theta` itself
/// (scored with the same games, last in the batch handed to the fitness function).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    pub mean: f64,
    pub best: f64,
    pub centre: f64,
}

/// Runs the strategy from `theta` (all zeros is a fine start for a linear controller).
/// `fitness(candidates, generation)` scores every candidate, higher better; the candidates of one
/// generation should be scored on the same games, so that they differ only by their parameters.
// ANCHOR: evolve
pub fn evolve(
    mut theta: Vec<f32>,
    cfg: &EsConfig,
    mut fitness: impl FnMut(&[Vec<f32>], usize) -> Result<Vec<f64>>,
) -> Result<(Vec<f32>, Vec<Generation>)> {
    let dim = theta.len();
    let mut history = Vec::with_capacity(cfg.generations);
    for g in 0..cfg.generations {
        let mut rng = SeededRng::derived(cfg.seed, "es", g as u64);
        let eps: Vec<Vec<f32>> = (0..cfg.pairs).map(|_| rng.normal_vec(dim)).collect();
        let shifted = |e: &[f32], sign: f32| -> Vec<f32> {
            theta.iter().zip(e).map(|(t, e)| t + sign * cfg.sigma as f32 * e).collect()
        };
        let mut candidates: Vec<Vec<f32>> = eps.iter().flat_map(|e| [shifted(e, 1.0), shifted(e, -1.0)]).collect();
        candidates.push(theta.clone());
        let scores = fitness(&candidates, g)?;
        let noisy = &scores[..2 * cfg.pairs];
        let utility = centred_ranks(noisy);
        let scale = (cfg.lr / (2.0 * cfg.pairs as f64 * cfg.sigma)) as f32;
        for (i, e) in eps.iter().enumerate() {
            let w = (utility[2 * i] - utility[2 * i + 1]) as f32 * scale;
            theta.iter_mut().zip(e).for_each(|(t, e)| *t += w * e);
        }
        let best = noisy.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let mean = noisy.iter().sum::<f64>() / noisy.len() as f64;
        history.push(Generation { mean, best, centre: scores[2 * cfg.pairs] });
    }
    Ok((theta, history))
}
// ANCHOR_END: evolve

/// Scores replaced by their ranks, spread evenly over [-0.5, 0.5] (ties keep their order).
pub fn centred_ranks(scores: &[f64]) -> Vec<f64> {
    let n = scores.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut out = vec![0.0; n];
    for (rank, &i) in order.iter().enumerate() {
        out[i] = if n > 1 { rank as f64 / (n - 1) as f64 - 0.5 } else { 0.0 };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_are_centred_and_ordered() {
        assert_eq!(centred_ranks(&[3.0, -1.0, 10.0]), vec![0.0, -0.5, 0.5]);
    }

    #[test]
    fn the_strategy_climbs_a_quadratic() -> Result<()> {
        let target = [1.0f32, -2.0, 0.5];
        let cfg = EsConfig { pairs: 10, sigma: 0.1, lr: 0.1, generations: 300, seed: 3 };
        let score =
            |p: &Vec<f32>| -> f64 { -p.iter().zip(&target).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>() };
        let (theta, history) = evolve(vec![0.0; 3], &cfg, |c, _| Ok(c.iter().map(score).collect()))?;
        assert!(score(&theta) > -0.05, "ended at {theta:?}");
        assert!(history[0].centre < history[299].centre);
        Ok(())
    }
}
