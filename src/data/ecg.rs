//! Heartbeats from five minutes of an electrocardiogram (MIT-BIH record 208, lead MLII, 360 Hz, as
//! SciPy 1.11.4 ships it; provenance and licence in `data/ecg/README.md`), cut into one window per
//! beat and labelled narrow or wide by the width of the R wave, then split by time: the narrow beats
//! of the first 144 s train, those of the next 36 s validate, every beat of the last two minutes is
//! scored.

use crate::classic::rpeaks::{self, DetectorConfig};
use candle_core::{Device, Result as CandleResult, Tensor};
use flate2::read::GzDecoder;
use serde::{Deserialize, Serialize};
use std::io::Read;

const EMBEDDED: &[u8] = include_bytes!("../../data/ecg/record208-excerpt.u16le.gz");

/// The name the embedded file's errors carry.
pub const EMBEDDED_PATH: &str = "data/ecg/record208-excerpt.u16le.gz";
/// Samples per second.
pub const RATE: f64 = 360.0;
/// The recorder's ADC value of 0 mV, and its steps per millivolt (SciPy's conversion).
pub const ADC_ZERO: f32 = 1024.0;
pub const ADC_PER_MILLIVOLT: f32 = 200.0;

#[derive(Debug, thiserror::Error)]
pub enum EcgError {
    #[error("{file}: not readable gzip data: {source}")]
    Gzip { file: String, source: std::io::Error },
    #[error("{file}: {bytes} bytes is not a whole number of 16-bit samples")]
    OddLength { file: String, bytes: usize },
    #[error("{file}: {samples} samples is too short for one beat window ({needed} samples)")]
    TooShort { file: String, samples: usize, needed: usize },
}

/// The embedded record in millivolts.
pub fn embedded() -> Result<Vec<f32>, EcgError> {
    parse_gz(EMBEDDED_PATH, EMBEDDED)
}

/// Millivolts from a gzip-compressed file of little-endian 16-bit ADC values; errors name `file`.
pub fn parse_gz(file: &str, bytes: &[u8]) -> Result<Vec<f32>, EcgError> {
    let mut raw = Vec::new();
    GzDecoder::new(bytes).read_to_end(&mut raw).map_err(|source| EcgError::Gzip { file: file.into(), source })?;
    if raw.len() % 2 != 0 {
        return Err(EcgError::OddLength { file: file.into(), bytes: raw.len() });
    }
    Ok(raw.chunks_exact(2).map(|b| (u16::from_le_bytes([b[0], b[1]]) as f32 - ADC_ZERO) / ADC_PER_MILLIVOLT).collect())
}

// ANCHOR: config
/// How beats are cut, labelled and split (times in seconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BeatConfig {
    /// The window around each R peak: this long before it and `after` after it.
    pub before: f64,
    pub after: f64,
    /// Each window is shifted so that the mean of its first `level` seconds (before the P wave) is 0.
    pub level: f64,
    /// A beat is wide when its R wave is at least this wide at half its height.
    pub wide_from: f64,
    /// Narrow beats before `validation_from` train, narrow beats from there to `split_at`
    /// validate, and every beat after `split_at` is a test beat (times in seconds).
    pub validation_from: f64,
    pub split_at: f64,
}

impl Default for BeatConfig {
    fn default() -> Self {
        Self { before: 0.25, after: 0.45, level: 0.05, wide_from: 0.04, validation_from: 144.0, split_at: 180.0 }
    }
}
// ANCHOR_END: config

impl BeatConfig {
    fn samples(&self, seconds: f64) -> usize {
        (seconds * RATE).round() as usize
    }

    /// Samples in one beat's window.
    pub fn window(&self) -> usize {
        self.samples(self.before) + self.samples(self.after)
    }
}

impl BeatConfig {
    /// Rows of `(beats, window)` as traces over seconds from the R peak, for the figures.
    pub fn traces(&self, beats: &Tensor) -> CandleResult<Vec<Vec<(f32, f32)>>> {
        let rows = beats.to_device(&Device::Cpu)?.to_vec2::<f32>()?;
        let time = |i: usize| (i as f64 / RATE - self.before) as f32;
        Ok(rows.into_iter().map(|row| row.into_iter().enumerate().map(|(i, v)| (time(i), v)).collect()).collect())
    }
}

/// Where a beat goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    Train,
    Validation,
    Test,
    /// A wide beat before the split: neither trained on nor scored.
    Unused,
}

/// One beat: where its R wave peaks, its width, its label, its window and where it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Beat {
    pub r: usize,
    pub width: f64,
    pub wide: bool,
    pub values: Vec<f32>,
    pub role: Role,
}

impl Beat {
    /// Seconds from the start of the record to the R peak.
    pub fn time(&self) -> f64 {
        self.r as f64 / RATE
    }
}

// ANCHOR: beats
/// Every beat of `signal` whose window lies inside it, labelled and assigned a role.
pub fn beats(signal: &[f32], cfg: &BeatConfig) -> Vec<Beat> {
    let (before, after, level) = (cfg.samples(cfg.before), cfg.samples(cfg.after), cfg.samples(cfg.level).max(1));
    let mut out = Vec::new();
    for r in rpeaks::detect(signal, &DetectorConfig::new(RATE)) {
        if r < before || r + after > signal.len() {
            continue;
        }
        let window = &signal[r - before..r + after];
        let start = window[..level].iter().sum::<f32>() / level as f32;
        let width = rpeaks::half_height_width(signal, r, RATE);
        let wide = width >= cfg.wide_from;
        let time = r as f64 / RATE;
        let role = if time >= cfg.split_at {
            Role::Test
        } else if wide {
            Role::Unused
        } else if time >= cfg.validation_from {
            Role::Validation
        } else {
            Role::Train
        };
        out.push(Beat { r, width, wide, values: window.iter().map(|v| v - start).collect(), role });
    }
    out
}
// ANCHOR_END: beats

/// The beats as the trainer reads them: training and validation windows (narrow beats only) and
/// every test beat with its label.
pub struct EcgSet {
    pub cfg: BeatConfig,
    /// The record the beats were cut from, millivolts at [`RATE`].
    pub signal: Vec<f32>,
    pub beats: Vec<Beat>,
    pub train: Tensor,
    pub validation: Tensor,
    pub test: Tensor,
    /// Whether each test beat is wide, in the order of `test`.
    pub test_wide: Vec<bool>,
}

impl EcgSet {
    /// The embedded record's beats.
    pub fn embedded(cfg: BeatConfig, dev: &Device) -> anyhow::Result<Self> {
        Self::new(&embedded()?, cfg, dev)
    }

    /// The beats of `signal` (millivolts at [`RATE`]).
    pub fn new(signal: &[f32], cfg: BeatConfig, dev: &Device) -> anyhow::Result<Self> {
        if signal.len() < cfg.window() {
            Err(EcgError::TooShort { file: EMBEDDED_PATH.into(), samples: signal.len(), needed: cfg.window() })?;
        }
        let beats = beats(signal, &cfg);
        let stack = |role: Role| -> CandleResult<Tensor> {
            let rows: Vec<f32> = beats.iter().filter(|b| b.role == role).flat_map(|b| b.values.clone()).collect();
            Tensor::from_vec(rows.clone(), (rows.len() / cfg.window(), cfg.window()), dev)
        };
        let (train, validation, test) = (stack(Role::Train)?, stack(Role::Validation)?, stack(Role::Test)?);
        for (name, set) in [("training", &train), ("validation", &validation), ("test", &test)] {
            if set.dim(0)? == 0 {
                anyhow::bail!("the ECG record gives no {name} beats: is it at least {} s long?", cfg.split_at);
            }
        }
        let test_wide = beats.iter().filter(|b| b.role == Role::Test).map(|b| b.wide).collect();
        Ok(Self { cfg, signal: signal.to_vec(), beats, train, validation, test, test_wide })
    }

    /// How many beats have `role`, and how many of those are wide.
    pub fn count(&self, role: Role) -> (usize, usize) {
        let of: Vec<&Beat> = self.beats.iter().filter(|b| b.role == role).collect();
        (of.len(), of.iter().filter(|b| b.wide).count())
    }

    /// The training windows of `rows`.
    pub fn batch(&self, rows: &[u32]) -> CandleResult<Tensor> {
        self.train.index_select(&Tensor::from_slice(rows, rows.len(), self.train.device())?, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_record_is_five_minutes_in_millivolts() {
        let x = embedded().unwrap();
        assert_eq!(x.len(), 108_000);
        // SciPy's documentation: mean -0.16510875 mV, first values -0.245, -0.215, -0.185.
        let mean = x.iter().map(|&v| v as f64).sum::<f64>() / x.len() as f64;
        assert!((mean + 0.16510875).abs() < 1e-6, "{mean}");
        assert_eq!(&x[..3], &[-0.245, -0.215, -0.185]);
    }

    #[test]
    fn bad_files_are_named_errors() {
        let err = parse_gz("beats.gz", b"not gzip").unwrap_err().to_string();
        assert!(err.starts_with("beats.gz: not readable gzip"), "{err}");
        let mut odd = Vec::new();
        let mut gz = flate2::write::GzEncoder::new(&mut odd, flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &[1, 2, 3]).unwrap();
        gz.finish().unwrap();
        let err = parse_gz("odd.gz", &odd).unwrap_err().to_string();
        assert_eq!(err, "odd.gz: 3 bytes is not a whole number of 16-bit samples");
        assert!(EcgSet::new(&[0.0; 10], BeatConfig::default(), &Device::Cpu).is_err());
    }

    #[test]
    fn beats_are_split_by_time_and_label() {
        let set = EcgSet::embedded(BeatConfig::default(), &Device::Cpu).unwrap();
        for b in &set.beats {
            assert_eq!(b.values.len(), set.cfg.window());
            match b.role {
                Role::Test => assert!(b.time() >= 180.0),
                Role::Unused => assert!(b.wide && b.time() < 180.0),
                Role::Train => assert!(!b.wide && b.time() < 144.0),
                Role::Validation => assert!(!b.wide && (144.0..180.0).contains(&b.time())),
            }
        }
        let (train, validation) = (set.count(Role::Train).0, set.count(Role::Validation).0);
        assert!(validation > 30 && train > 4 * validation, "{train} {validation}");
        assert_eq!(set.test.dim(0).unwrap(), set.test_wide.len());
    }
}
