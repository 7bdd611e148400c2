//! The challenges chapter: free bits and cyclical KL annealing tried on the sentence VAE, beside
//! the text chapter's remedies; and the numbers other chapters measured for each challenge,
//! gathered from their generated files.

use super::beta_vae::BetaResults;
use super::blur::BlurResults;
use super::conv::ConvResults;
use super::likelihoods::LikelihoodsResults;
use super::text::{self, Corpus, TextConfig, TextResults, VaeResult};
use super::{ReportError, VaeResults, generated_dir, write_atomic, write_json};
use crate::data::sotu;
use crate::models::text_vae::{KlWeight, Remedies};
use crate::train::quick_requested;
use candle_core::Device;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The free-bits floor of the book's runs, nats per latent dimension (4 nats for 16 dimensions:
/// above the 2.45 nats that annealing and word dropout kept in the text chapter).
pub const FREE_BITS_PER_DIM: f64 = 0.25;
/// Cyclical annealing's cycle, in optimizer steps (two epochs of about 300 batches); the weight
/// climbs over its first half (Fu et al.'s proportion R = 0.5).
pub const CYCLE_STEPS: usize = 600;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChallengesConfig {
    /// Data, model sizes and schedule: the text chapter's.
    pub text: TextConfig,
    pub free_bits: f64,
    pub cycle: usize,
}

impl ChallengesConfig {
    pub fn book() -> Self {
        Self { text: TextConfig::book(), free_bits: FREE_BITS_PER_DIM, cycle: CYCLE_STEPS }
    }

    /// Seconds: the text chapter's quick configuration, with a cycle that fits its steps.
    pub fn quick() -> Self {
        Self { text: TextConfig::quick(), cycle: 8, ..Self::book() }
    }

    pub fn from_env() -> Self {
        if quick_requested() { Self::quick() } else { Self::book() }
    }

    /// The three VAEs trained here: free bits, cyclical annealing, free bits with word dropout.
    pub fn variants(&self) -> [(&'static str, Remedies); 3] {
        let cyclical = KlWeight::Cyclical { period: self.cycle, ramp: self.cycle / 2 };
        let dropout = self.text.word_dropout;
        [
            ("VAE + free bits", Remedies { free_bits: self.free_bits, ..Remedies::NONE }),
            ("VAE + cyclical annealing", Remedies { kl_weight: cyclical, ..Remedies::NONE }),
            (
                "VAE + free bits + word dropout",
                Remedies { free_bits: self.free_bits, word_dropout: dropout, ..Remedies::NONE },
            ),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChallengesResults {
    pub config: ChallengesConfig,
    pub vaes: Vec<VaeResult>,
}

/// Trains the chapter's three VAEs on the text chapter's sentences and draws their KL during
/// training (with the plain VAE's from `text`, if given).
pub fn run(
    cfg: &ChallengesConfig,
    text: Option<&TextResults>,
    dev: &Device,
    fig_dir: &Path,
    log: &mut dyn FnMut(String),
) -> Result<(ChallengesResults, Vec<PathBuf>), ReportError> {
    let all = sotu::embedded().map_err(|e| ReportError::File { path: "embedded data".into(), msg: e.to_string() })?;
    let corpus = Corpus::new(&all, &cfg.text, dev, log)?;
    let mut vaes = Vec::new();
    for (name, remedies) in cfg.variants() {
        vaes.push(text::train_and_score(name, remedies, &corpus, &cfg.text, log)?.0);
    }
    let results = ChallengesResults { config: cfg.clone(), vaes };
    let path = fig_dir.join("challenges-kl.png");
    kl_figure(&results, text, &path)?;
    Ok((results, vec![path]))
}

/// The true KL per sentence during training of each VAE trained here (and the plain VAE), on a
/// log scale, with free bits' floor summed over the dimensions.
pub fn kl_figure(r: &ChallengesResults, text: Option<&TextResults>, path: &Path) -> Result<(), ReportError> {
    let vaes: Vec<&VaeResult> = text.and_then(|t| t.vaes.first()).into_iter().chain(&r.vaes).collect();
    let last = vaes.iter().flat_map(|v| v.trace.step.last()).max().map_or(1.0, |&s| s as f32);
    let floor = (r.config.free_bits * r.config.text.model.latent_dim as f64) as f32;
    let floor_line = [(0.0, floor), (last, floor)];
    text::kl_lines(vaes, ("free bits' floor, summed over the dimensions", &floor_line), path)
}

/// The six sentence VAEs side by side: the text chapter's three, then the three trained here.
pub fn remedies_table(text: &TextResults, r: &ChallengesResults) -> String {
    let mut out = String::from(
        "| remedy | epoch kept | −ELBO | KL | −𝓛₂₀ | active units | distinct reconstructions |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    out.push_str(&format!(
        "| GRU language model (no code; its exact −log p(x)) | {} | {:.2} | — | — | — | — |\n",
        text.lm_fit.best_epoch,
        text.lm.nll()
    ));
    let rows = text.vaes.iter().map(|v| (v, text.config.model.latent_dim));
    for (v, latent) in rows.chain(r.vaes.iter().map(|v| (v, r.config.text.model.latent_dim))) {
        out.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {} of {latent} | {} of {} |\n",
            v.name,
            v.fit.best_epoch,
            v.test.nll(),
            v.test.kl,
            v.importance_nll,
            v.active_units,
            v.distinct_reconstructions,
            v.reconstructed
        ));
    }
    out.push_str(&format!(
        "\nTest set: {} State of the Union sentences; nats per sentence. The first four rows are the [text \
         chapter](text-vae.md)'s runs, the last three this chapter's, with the same data, sizes, seed and \
         schedule (early stopping with patience {}, at most {} epochs). KL: the true KL term on the test \
         sentences, whatever the training objective was. −𝓛₂₀: importance sampled with {} codes per \
         sentence, an upper bound on −log p(x). Free bits: {} nats per latent dimension; cyclical annealing: \
         cycles of {} optimizer steps, the weight climbing over the first half of each.\n",
        text.lm.sentences,
        text.config.vae_schedule.patience,
        text.config.vae_schedule.max_epochs,
        text.config.importance_samples,
        r.config.free_bits,
        r.config.cycle
    ));
    out
}

/// The other chapters' results that the challenges table quotes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sources {
    pub mlp: VaeResults,
    pub conv: ConvResults,
    pub likelihoods: LikelihoodsResults,
    pub beta: BetaResults,
    pub text: TextResults,
    pub blur: BlurResults,
}

fn read<T: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> Result<T, ReportError> {
    let path = dir.join(name);
    let bad = |msg: String| ReportError::File { path: path.clone(), msg };
    let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| bad(e.to_string()))
}

impl Sources {
    /// Reads the other chapters' generated JSON from the book's `generated/` folder.
    pub fn load(book_src: &Path) -> Result<Self, ReportError> {
        let dir = generated_dir(book_src);
        Ok(Self {
            mlp: read(&dir, "vae-results.json")?,
            conv: read(&dir, "conv-vae.json")?,
            likelihoods: read(&dir, "likelihoods-trained.json")?,
            beta: read(&dir, "beta-vae.json")?,
            text: read(&dir, "text.json")?,
            blur: read(&dir, "blur.json")?,
        })
    }

    /// The MLP VAE's median training seconds per epoch.
    pub fn mlp_seconds_per_epoch(&self) -> f64 {
        let mut s: Vec<f64> = self.mlp.epochs.iter().map(|e| e.train_seconds).collect();
        s.sort_by(f64::total_cmp);
        s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
    }
}

/// Where the book measured each of the primer's three challenges, one line each.
pub fn glance_table(s: &Sources) -> Result<String, ReportError> {
    let mut out = String::from("| challenge | chapter | measured | value |\n|---|---|---|---:|\n");
    for (challenge, chapter, what, value) in glance_rows(s)? {
        out.push_str(&format!("| {challenge} | {chapter} | {what} | {value} |\n"));
    }
    out.push_str(
        "\nEvery value is read from the chapter's generated results; seconds on this book's two-core machine, \
         Fréchet distances in the features of the blur chapter's digit classifier (lower is closer to the \
         training digits).\n",
    );
    Ok(out)
}

/// The glance table's rows: challenge, chapter link, what was measured, and its value.
fn glance_rows(s: &Sources) -> Result<Vec<(&'static str, &'static str, String, String)>, ReportError> {
    let missing = |what: &str| ReportError::File { path: "generated".into(), msg: format!("no {what} in the results") };
    let digits = s.likelihoods.data.first().ok_or_else(|| missing("likelihood data set"))?;
    let pixel_mean = digits.variants.iter().find(|v| v.pixel_mean).ok_or_else(|| missing("pixel-mean variant"))?;
    let beta = s.beta.runs.last().ok_or_else(|| missing("beta run"))?;
    let plain = s.text.vaes.first().ok_or_else(|| missing("plain text VAE"))?;
    let blur = s.blur.data.first().ok_or_else(|| missing("blur data set"))?;
    let frechet = |i: usize| blur.scores.get(i).map_or(f64::NAN, |x| x.frechet);
    let latent = s.likelihoods.config.variants.first().map_or(0, |v| v.model.model.latent_dim);
    let rows = [
        (
            "compute cost",
            "[VAE](vae.md)",
            "seconds per epoch, MLP VAE, 9,000 digits".to_string(),
            format!("{:.2}", s.mlp_seconds_per_epoch()),
        ),
        (
            "compute cost",
            "[convolutional VAE](conv-vae.md)",
            "seconds per epoch, conv VAE".into(),
            format!("{:.2}", s.conv.conv_seconds_per_epoch),
        ),
        (
            "compute cost",
            "[blur](blur.md)",
            "seconds per epoch, VAE-GAN".into(),
            format!("{:.2}", blur.vaegan_seconds_per_epoch),
        ),
        (
            "posterior collapse",
            "[which likelihood?](likelihoods.md)",
            "KL (nats) and active units, reconstruction averaged over pixels".into(),
            format!("{:.5}; {} of {latent}", pixel_mean.kl, pixel_mean.active_units),
        ),
        (
            "posterior collapse",
            "[β-VAE](beta-vae.md)",
            format!("KL (nats) and active units at β = {}", beta.beta),
            format!("{:.2}; {} of {latent}", beta.rate, beta.active_units),
        ),
        (
            "posterior collapse",
            "[text](text-vae.md)",
            "KL (nats) and active units, plain sentence VAE".into(),
            format!("{:.2}; {} of {}", plain.test.kl, plain.active_units, s.text.config.model.latent_dim),
        ),
        ("blurry samples", "[blur](blur.md)", "Fréchet distance, held-out digits".into(), format!("{:.2}", frechet(0))),
        ("blurry samples", "[blur](blur.md)", "Fréchet distance, VAE samples".into(), format!("{:.2}", frechet(2))),
        ("blurry samples", "[blur](blur.md)", "Fréchet distance, VAE-GAN samples".into(), format!("{:.2}", frechet(6))),
    ];
    Ok(rows.into())
}

pub fn book(book_src: &Path, dev: &Device, log: &mut dyn FnMut(String)) -> Result<Vec<PathBuf>, ReportError> {
    let sources = Sources::load(book_src)?;
    let (results, mut written) =
        run(&ChallengesConfig::book(), Some(&sources.text), dev, &book_src.join("figures"), log)?;
    let dir = generated_dir(book_src);
    let json = dir.join("challenges.json");
    write_json(&json, &results)?;
    for (name, text) in [
        ("challenges-remedies.md", remedies_table(&sources.text, &results)),
        ("challenges-glance.md", glance_table(&sources)?),
    ] {
        let path = dir.join(name);
        write_atomic(&path, text.as_bytes())?;
        written.push(path);
    }
    written.push(json);
    Ok(written)
}
