//! Finding heartbeats in an electrocardiogram: where each beat's R wave peaks, and how wide it is.
//!
//! The detector is a simplified Pan-Tompkins (Pan and Tompkins 1985): the QRS complex is where the
//! signal changes fastest, so it smooths the absolute slope over 80 ms and marks the stretches where
//! that rises above a threshold that follows the signal's level (a fraction of the slope's 98th
//! percentile within five seconds either side). In each stretch, the R peak is the sample farthest
//! from the local baseline (a 0.6 s moving average), up or down, so wide and inverted complexes are
//! found as well as narrow upright ones. Two peaks closer than a refractory 250 ms are one beat (the
//! larger is kept).

// ANCHOR: config
/// The detector's settings, in seconds where they are times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// Samples per second.
    pub rate: f64,
    /// Width of the moving average that gives the baseline.
    pub baseline_window: f64,
    /// Width of the moving average of the absolute slope.
    pub slope_window: f64,
    /// The threshold is this fraction of the slope's `percentile` within `level_window` either side.
    pub fraction: f64,
    pub percentile: f64,
    pub level_window: f64,
    /// How far beyond a stretch above the threshold the peak is looked for.
    pub margin: f64,
    /// No two beats closer than this.
    pub refractory: f64,
}

impl DetectorConfig {
    /// The settings used in the book, for a signal sampled `rate` times per second.
    pub fn new(rate: f64) -> Self {
        Self {
            rate,
            baseline_window: 0.6,
            slope_window: 0.08,
            fraction: 0.4,
            percentile: 98.0,
            level_window: 5.0,
            margin: 0.05,
            refractory: 0.25,
        }
    }

    fn samples(&self, seconds: f64) -> usize {
        ((seconds * self.rate).round() as usize).max(1)
    }
}
// ANCHOR_END: config

/// The centred moving average of `x` over `width` samples (fewer at the ends).
pub fn moving_average(x: &[f32], width: usize) -> Vec<f32> {
    let mut sums = vec![0.0f64; x.len() + 1];
    for (i, &v) in x.iter().enumerate() {
        sums[i + 1] = sums[i] + v as f64;
    }
    let half = width / 2;
    (0..x.len())
        .map(|i| {
            let (a, b) = (i.saturating_sub(half), (i + width - half).min(x.len()));
            ((sums[b] - sums[a]) / (b - a) as f64) as f32
        })
        .collect()
}

/// The `p`-th percentile (0-100) of `values`, by the nearest rank; 0 for no values.
fn percentile(values: &mut [f32], p: f64) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f32::total_cmp);
    let rank = ((p / 100.0) * (values.len() - 1) as f64).round() as usize;
    values[rank.min(values.len() - 1)]
}

/// The smoothed absolute slope and, for each second of the signal, the threshold it is compared with.
fn slope_and_thresholds(signal: &[f32], cfg: &DetectorConfig) -> (Vec<f32>, Vec<f32>) {
    let mut slope = vec![0.0f32; signal.len()];
    for i in 1..signal.len().saturating_sub(1) {
        slope[i] = (signal[i + 1] - signal[i - 1]).abs();
    }
    let slope = moving_average(&slope, cfg.samples(cfg.slope_window));
    let (second, level) = (cfg.samples(1.0), cfg.samples(cfg.level_window));
    let thresholds = (0..signal.len().div_ceil(second))
        .map(|k| {
            let centre = k * second;
            let mut around = slope[centre.saturating_sub(level)..(centre + level).min(slope.len())].to_vec();
            cfg.fraction as f32 * percentile(&mut around, cfg.percentile)
        })
        .collect();
    (slope, thresholds)
}

// ANCHOR: detect
/// The sample index of every R peak in `signal`, in order.
pub fn detect(signal: &[f32], cfg: &DetectorConfig) -> Vec<usize> {
    let baseline = moving_average(signal, cfg.samples(cfg.baseline_window));
    let centred: Vec<f32> = signal.iter().zip(&baseline).map(|(s, b)| s - b).collect();
    let (slope, thresholds) = slope_and_thresholds(signal, cfg);
    let (second, margin, refractory) = (cfg.samples(1.0), cfg.samples(cfg.margin), cfg.samples(cfg.refractory));
    let mut peaks: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < signal.len() {
        let threshold = thresholds[i / second];
        if slope[i] <= threshold {
            i += 1;
            continue;
        }
        let start = i;
        while i < signal.len() && slope[i] > threshold {
            i += 1;
        }
        // The R peak: the sample farthest from the baseline in the stretch and its margins.
        let (a, b) = (start.saturating_sub(margin), (i + margin).min(signal.len()));
        let r = (a..b).max_by(|&p, &q| centred[p].abs().total_cmp(&centred[q].abs())).unwrap_or(start);
        match peaks.last_mut() {
            Some(last) if r - (*last).min(r) < refractory => {
                if centred[r].abs() > centred[*last].abs() {
                    *last = r;
                }
            }
            _ => peaks.push(r),
        }
    }
    peaks
}
// ANCHOR_END: detect

// ANCHOR: width
/// The width in seconds of the wave peaking at `r`, at half its height above the level just before
/// the beat (the median of the signal from 200 to 80 ms before the peak); each side stops after
/// 200 ms.
pub fn half_height_width(signal: &[f32], r: usize, rate: f64) -> f64 {
    let at = |seconds: f64| (seconds * rate).round() as usize;
    let (from, to) = (r.saturating_sub(at(0.2)), r.saturating_sub(at(0.08)));
    let level = percentile(&mut signal[from..to.max(from + 1).min(signal.len())].to_vec(), 50.0);
    let height = signal[r] - level;
    let above = |k: usize| (signal[k] - level - height / 2.0) * height.signum() > 0.0;
    let (mut a, mut b) = (r, r);
    while a > 0 && above(a - 1) && r - a < at(0.2) {
        a -= 1;
    }
    while b + 1 < signal.len() && above(b + 1) && b - r < at(0.2) {
        b += 1;
    }
    (b - a + 1) as f64 / rate
}
// ANCHOR_END: width

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: f64 = 360.0;

    /// A synthetic ECG: a flat line with a triangular wave of `width` seconds at each of `at`.
    fn synthetic(seconds: f64, beats: &[(f64, f64, f32)]) -> Vec<f32> {
        let mut x = vec![0.0f32; (seconds * RATE) as usize];
        for &(at, width, height) in beats {
            let (centre, half) = (at * RATE, width * RATE / 2.0);
            for (i, v) in x.iter_mut().enumerate() {
                let d = (i as f64 - centre).abs();
                if d < half {
                    *v += height * (1.0 - d / half) as f32;
                }
            }
        }
        x
    }

    #[test]
    fn finds_narrow_wide_and_inverted_beats() {
        let mut beats: Vec<(f64, f64, f32)> = (0..12).map(|k| (0.5 + 0.8 * k as f64, 0.06, 1.5)).collect();
        beats[4].1 = 0.2; // a wide beat
        beats[7].2 = -1.2; // an inverted one
        let x = synthetic(10.0, &beats);
        let found = detect(&x, &DetectorConfig::new(RATE));
        assert_eq!(found.len(), beats.len(), "{found:?}");
        for (&r, &(at, _, _)) in found.iter().zip(&beats) {
            assert!((r as f64 / RATE - at).abs() < 0.01, "peak at {r}, beat at {at} s");
        }
    }

    #[test]
    fn two_peaks_within_the_refractory_time_are_one_beat() {
        let x = synthetic(4.0, &[(1.0, 0.06, 1.0), (1.1, 0.06, 1.5), (2.5, 0.06, 1.0)]);
        let found = detect(&x, &DetectorConfig::new(RATE));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!((found[0] as f64 / RATE - 1.1).abs() < 0.01, "the larger peak is kept: {found:?}");
    }

    #[test]
    fn the_width_at_half_height_of_a_triangle_is_half_its_base() {
        for base in [0.04, 0.1, 0.2] {
            let x = synthetic(2.0, &[(1.0, base, 1.0)]);
            let w = half_height_width(&x, (1.0 * RATE) as usize, RATE);
            assert!((w - base / 2.0).abs() <= 1.5 / RATE, "base {base}: width {w}");
        }
    }

    #[test]
    fn empty_and_flat_signals_have_no_beats() {
        assert!(detect(&[], &DetectorConfig::new(RATE)).is_empty());
        assert!(detect(&[0.5; 2000], &DetectorConfig::new(RATE)).is_empty());
    }
}
