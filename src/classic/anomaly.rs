//! Scoring images as anomalies and measuring how well a score separates them: the ROC curve and the
//! area under it.

/// The ROC curve of `scores` (higher = more anomalous) against the truth `anomalous`: points
/// `(false positive rate, true positive rate)` as the threshold falls, from (0, 0) to (1, 1).
pub fn roc(scores: &[f64], anomalous: &[bool]) -> Vec<(f64, f64)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let pos = anomalous.iter().filter(|a| **a).count().max(1) as f64;
    let neg = anomalous.iter().filter(|a| !**a).count().max(1) as f64;
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut points = vec![(0.0, 0.0)];
    for (i, &j) in order.iter().enumerate() {
        if anomalous[j] {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        // Tied scores share one threshold: emit a point only after the last of them.
        if i + 1 == order.len() || scores[order[i + 1]] != scores[j] {
            points.push((fp / neg, tp / pos));
        }
    }
    points
}

/// The area under the ROC curve: the probability that a random anomalous image scores higher than
/// a random normal one (ties count one half), computed from the ranks (Mann-Whitney U).
pub fn auc(scores: &[f64], anomalous: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut ranks = vec![0.0; scores.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0; // average rank of a tie group, 1-based
        for &k in &order[i..=j] {
            ranks[k] = mid;
        }
        i = j + 1;
    }
    let pos = anomalous.iter().filter(|a| **a).count() as f64;
    let neg = scores.len() as f64 - pos;
    let rank_sum: f64 = ranks.iter().zip(anomalous).filter(|(_, a)| **a).map(|(r, _)| r).sum();
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// The standard error of an AUC estimated from `positives` and `negatives` examples, by Hanley and
/// McNeil's (1982) formula (independent examples; correlated ones, such as neighbouring heartbeats,
/// make the true error larger).
pub fn auc_standard_error(auc: f64, positives: usize, negatives: usize) -> f64 {
    let (p, n) = (positives as f64, negatives as f64);
    let q1 = auc / (2.0 - auc);
    let q2 = 2.0 * auc * auc / (1.0 + auc);
    ((auc * (1.0 - auc) + (p - 1.0) * (q1 - auc * auc) + (n - 1.0) * (q2 - auc * auc)) / (p * n)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At an AUC of one half it is the Mann-Whitney statistic's spread under the null hypothesis,
    /// sqrt((p + n + 1) / (12 p n)); a perfect AUC has none; more examples give less.
    #[test]
    fn the_standard_error_has_its_known_values() {
        for (p, n) in [(50, 50), (54, 137), (3, 400)] {
            let null = (((p + n + 1) as f64) / (12.0 * (p * n) as f64)).sqrt();
            assert!((auc_standard_error(0.5, p, n) - null).abs() < 1e-12);
        }
        assert_eq!(auc_standard_error(1.0, 54, 137), 0.0);
        assert!(auc_standard_error(0.9, 500, 500) < auc_standard_error(0.9, 50, 50) / 3.0);
    }
}
