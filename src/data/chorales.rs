//! Bach's four-part chorales as piano rolls: at each quarter-note beat, the MIDI pitches sounding.
//! The crate embeds `data/chorales/chorales.json` (368 chorales from music21 10.5.1; provenance,
//! licence and the conversion script in `data/chorales/README.md`).

use serde::Deserialize;

const EMBEDDED: &str = include_str!("../../data/chorales/chorales.json");
/// The name the embedded file's errors carry.
pub const EMBEDDED_PATH: &str = "data/chorales/chorales.json";

#[derive(Debug, thiserror::Error)]
pub enum ChoraleError {
    #[error("{file}: not the expected chorale JSON: {msg}")]
    Json { file: String, msg: String },
    #[error("{file}: chorale {name}: {msg}")]
    Bad { file: String, name: String, msg: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChoraleSplit {
    Train,
    Valid,
    Test,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Chorale {
    pub name: String,
    pub split: ChoraleSplit,
    /// The pitches sounding at each beat (sorted MIDI numbers; empty where all voices rest).
    pub steps: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Chorales {
    pub source: String,
    pub pitch_min: u8,
    pub pitch_max: u8,
    pub chorales: Vec<Chorale>,
}

impl Chorales {
    /// The 368 chorales shipped with the crate.
    pub fn embedded() -> Result<Self, ChoraleError> {
        Self::parse(EMBEDDED_PATH, EMBEDDED)
    }

    /// Parses and checks `text`, a file in the format of `data/chorales/chorales.json`; errors
    /// name `file`.
    pub fn parse(file: &str, text: &str) -> Result<Self, ChoraleError> {
        let data: Chorales =
            serde_json::from_str(text).map_err(|e| ChoraleError::Json { file: file.into(), msg: e.to_string() })?;
        let bad = |name: &str, msg: String| ChoraleError::Bad { file: file.into(), name: name.into(), msg };
        if data.pitch_min > data.pitch_max {
            return Err(bad("(header)", format!("pitch_min {} above pitch_max {}", data.pitch_min, data.pitch_max)));
        }
        for c in &data.chorales {
            if c.steps.is_empty() {
                return Err(bad(&c.name, "has no beats".into()));
            }
            for (t, step) in c.steps.iter().enumerate() {
                if let Some(p) = step.iter().find(|&&p| p < data.pitch_min || p > data.pitch_max) {
                    let range = format!("{}-{}", data.pitch_min, data.pitch_max);
                    return Err(bad(&c.name, format!("beat {t}: pitch {p} outside the declared range {range}")));
                }
            }
        }
        Ok(data)
    }

    /// Piano keys from `pitch_min` to `pitch_max`: the width of one beat's vector.
    pub fn keys(&self) -> usize {
        (self.pitch_max - self.pitch_min) as usize + 1
    }

    pub fn split(&self, split: ChoraleSplit) -> Vec<&Chorale> {
        self.chorales.iter().filter(|c| c.split == split).collect()
    }

    /// One chorale as a `beats x keys` 0/1 matrix, row-major.
    pub fn roll(&self, chorale: &Chorale) -> Vec<f32> {
        let keys = self.keys();
        let mut out = vec![0f32; chorale.steps.len() * keys];
        for (t, step) in chorale.steps.iter().enumerate() {
            for &p in step {
                out[t * keys + (p - self.pitch_min) as usize] = 1.0;
            }
        }
        out
    }
}
