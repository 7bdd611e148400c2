//! The text VAE's chapter: a GRU language model against sentence VAEs trained plainly, with KL
//! annealing, and with annealing and word dropout, on State of the Union sentences; homotopies,
//! samples, and party/decade classification from the codes.

use super::{ReportError, generated_dir, write_atomic, write_json};
use crate::classic::text_probe::{self, Accuracy, Features, ProbeScore};

/// The baseline rows of the probe table.
const CHANCE: &str = "chance (a uniform guess, expected)";
const TRAIN_MAJORITY: &str = "always the training sentences' commonest label";
const TEST_MAJORITY: &str = "always the test sentences' commonest label";

use crate::data::sotu::{self, Sentence, SotuSplit, Vocabulary};
use crate::data::tokens::TokenData;
use crate::models::text_vae::{self, KlTrace, KlWeight, Remedies, TextScore, TextVae, TextVaeConfig};
use crate::plot::{self, Lines};
use crate::prob::SeededRng;
use crate::train::{Fit, Schedule, quick_requested};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Bowman et al. (2016), Table 2 (Penn Treebank, test): the RNN language model's NLL per sentence
/// and perplexity, and the VAE's NLL bound, its KL share and perplexity.
pub const BOWMAN_RNNLM: (f64, f64) = (100.0, 116.0);
pub const BOWMAN_VAE: (f64, f64, f64) = (101.0, 2.0, 119.0);
/// The Sentence-VAE reproduction (github.com/timbmg/Sentence-VAE, PTB test): its reconstruction
/// term and KL (their sum is its bound).
pub const SENTENCE_VAE: (f64, f64) = (103.97, 7.27);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextConfig {
    /// Sentences of at most this many words (the file has 5-30).
    pub max_words: usize,
    /// Training words seen fewer times become `<unk>`.
    pub min_count: usize,
    /// Model sizes (`vocab` is set from the data).
    pub model: TextVaeConfig,
    pub lm_schedule: Schedule,
    pub vae_schedule: Schedule,
    /// Optimizer steps over which the annealed KL weight climbs from 0 to 1.
    pub warmup_steps: usize,
    pub word_dropout: f64,
    /// Codes per sentence for the importance-sampled likelihood.
    pub importance_samples: usize,
    /// Optimizer steps per point of the KL-during-training figure.
    pub trace_every: usize,
    pub probe_schedule: Schedule,
    /// At most this many sentences of each split, spread evenly (`None`: all).
    pub limit: Option<(usize, usize, usize)>,
    pub homotopy_points: usize,
}

/// The cap on the text models' epochs; early stopping usually ends them first.
const TEXT_EPOCHS: usize = 10;

impl TextConfig {
    pub fn book() -> Self {
        Self {
            max_words: 20,
            min_count: 10,
            model: TextVaeConfig { vocab: 0, embedding: 64, hidden: 128, latent_dim: 16 },
            // Until the validation loss has not improved for 2 epochs, at most 10 (about 15 s
            // each on two cores with the GRU of `cpu::gru`).
            lm_schedule: Schedule { max_epochs: TEXT_EPOCHS, patience: 2, batch_size: 64, lr: 3e-3, seed: 42 },
            vae_schedule: Schedule { max_epochs: TEXT_EPOCHS, patience: 2, batch_size: 64, lr: 3e-3, seed: 42 },
            // The first two epochs (300 batches each); the plain ELBO after that.
            warmup_steps: 600,
            word_dropout: 0.5,
            importance_samples: 20,
            trace_every: 20,
            probe_schedule: Schedule { max_epochs: 20, patience: 4, batch_size: 256, lr: 1e-2, seed: 42 },
            limit: None,
            homotopy_points: 7,
        }
    }

    /// Seconds: a small model, one epoch, a thousand sentences.
    pub fn quick() -> Self {
        let b = Self::book();
        Self {
            min_count: 3,
            model: TextVaeConfig { vocab: 0, embedding: 16, hidden: 32, latent_dim: 4 },
            lm_schedule: Schedule { max_epochs: 1, ..b.lm_schedule },
            vae_schedule: Schedule { max_epochs: 1, ..b.vae_schedule },
            warmup_steps: 4,
            importance_samples: 4,
            trace_every: 2,
            probe_schedule: Schedule { max_epochs: 3, ..b.probe_schedule },
            limit: Some((1000, 200, 200)),
            ..b
        }
    }

    pub fn from_env() -> Self {
        if quick_requested() { Self::quick() } else { Self::book() }
    }

    /// The three VAEs of the chapter: plain, annealed, annealed with word dropout.
    pub fn variants(&self) -> [(&'static str, Remedies); 3] {
        let anneal = KlWeight::Linear { steps: self.warmup_steps };
        [
            ("VAE", Remedies::NONE),
            ("VAE + KL annealing", Remedies { kl_weight: anneal, ..Remedies::NONE }),
            (
                "VAE + annealing + word dropout",
                Remedies { kl_weight: anneal, word_dropout: self.word_dropout, ..Remedies::NONE },
            ),
        ]
    }
}

/// One VAE's numbers on the test split (per sentence, nats).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaeResult {
    pub name: String,
    pub remedies: Remedies,
    pub test: TextScore,
    /// `-log p(x)` per sentence, importance sampled, test mean.
    pub importance_nll: f64,
    /// Latent dimensions whose mean moves with the sentence (variance over test sentences > 0.01).
    pub active_units: usize,
    /// Different greedy decodings among `reconstructed` test sentences decoded from their means.
    pub distinct_reconstructions: usize,
    pub reconstructed: usize,
    pub fit: Fit,
    pub trace: KlTrace,
    pub seconds: f64,
}

impl VaeResult {
    pub fn importance_perplexity(&self) -> f64 {
        text_vae::perplexity(self.importance_nll, self.test.sentences, self.test.tokens)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRow {
    pub features: String,
    pub party: Accuracy,
    pub decade: Accuracy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextResults {
    pub config: TextConfig,
    pub vocabulary: usize,
    /// Share of training tokens that became `<unk>`.
    pub unk_rate: f64,
    pub sentences: (usize, usize, usize),
    pub lm: TextScore,
    pub lm_fit: Fit,
    pub lm_seconds: f64,
    pub vaes: Vec<VaeResult>,
    /// Test accuracy: chance, the training and the test majority, bag of words, then each VAE's
    /// latent means.
    pub probes: Vec<ProbeRow>,
    /// Test sentences (Democratic or Republican speakers) and decades seen in training.
    pub party_test_sentences: usize,
    pub decades: usize,
    /// Generated text (words joined by spaces).
    pub homotopy: Vec<String>,
    pub prior_greedy: Vec<String>,
    pub prior_sampled: Vec<String>,
    /// A test sentence, then its greedy decoding from the mean by each VAE.
    pub reconstructions: Vec<Vec<String>>,
    pub probe_seconds: f64,
}

/// `n` items spread evenly over `v` (all of them when `n >= v.len()`).
fn spread<T: Clone>(v: &[T], n: usize) -> Vec<T> {
    if n >= v.len() {
        return v.to_vec();
    }
    (0..n).map(|i| v[i * v.len() / n].clone()).collect()
}

fn party_label(s: &Sentence) -> Option<u32> {
    match s.party.as_str() {
        "Democratic" => Some(0),
        "Republican" => Some(1),
        _ => None,
    }
}

fn decade_label(s: &Sentence) -> u32 {
    (s.year.saturating_sub(1790) / 10) as u32
}

/// One split, in the batches' order: sentences, their ids, and the batched data.
struct Split<'a> {
    sentences: Vec<&'a Sentence>,
    data: TokenData,
}

impl<'a> Split<'a> {
    fn new(sentences: &[&'a Sentence], vocab: &Vocabulary, batch: usize, dev: &Device) -> Result<Self, ReportError> {
        let ids: Vec<Vec<u32>> = sentences.iter().map(|s| vocab.encode(&s.tokens)).collect();
        let data = TokenData::new(&ids, batch, dev)?;
        let sentences = data.order.iter().map(|&i| sentences[i]).collect();
        Ok(Self { sentences, data })
    }

    fn words(&self, vocab: &Vocabulary) -> Vec<Vec<u32>> {
        self.sentences.iter().map(|s| s.tokens.iter().map(|t| vocab.id(t)).collect()).collect()
    }
}

fn decode_all(
    model: &TextVae,
    z: &Tensor,
    vocab: &Vocabulary,
    rng: Option<&mut SeededRng>,
) -> Result<Vec<String>, ReportError> {
    Ok(model.decode(z, 40, rng)?.iter().map(|ids| vocab.decode(ids)).collect())
}

/// The chapter's sentences: the three splits batched, and the vocabulary of the training split.
pub(crate) struct Corpus<'a> {
    vocab: Vocabulary,
    tr: Split<'a>,
    va: Split<'a>,
    te: Split<'a>,
    unk_rate: f64,
    sentences: (usize, usize, usize),
}

impl<'a> Corpus<'a> {
    pub(crate) fn new(
        all: &'a [Sentence],
        cfg: &TextConfig,
        dev: &Device,
        log: &mut dyn FnMut(String),
    ) -> Result<Self, ReportError> {
        let pick = |split: SotuSplit, limit: Option<usize>| {
            let v: Vec<&Sentence> =
                all.iter().filter(|s| s.split == split && s.tokens.len() <= cfg.max_words).collect();
            spread(&v, limit.unwrap_or(usize::MAX))
        };
        let (train, valid, test) = (
            pick(SotuSplit::Train, cfg.limit.map(|l| l.0)),
            pick(SotuSplit::Valid, cfg.limit.map(|l| l.1)),
            pick(SotuSplit::Test, cfg.limit.map(|l| l.2)),
        );
        let vocab = Vocabulary::build(train.iter().copied(), cfg.min_count);
        let train_tokens: usize = train.iter().map(|s| s.tokens.len()).sum();
        let unk: usize = train.iter().flat_map(|s| &s.tokens).filter(|t| vocab.id(t) == Vocabulary::UNK).count();
        let unk_rate = unk as f64 / train_tokens.max(1) as f64;
        log(format!(
            "  {} / {} / {} sentences of at most {} words, vocabulary {} ({:.1}% of training words unknown)",
            train.len(),
            valid.len(),
            test.len(),
            cfg.max_words,
            vocab.len(),
            100.0 * unk_rate
        ));
        let batch = cfg.vae_schedule.batch_size;
        Ok(Self {
            tr: Split::new(&train, &vocab, batch, dev)?,
            va: Split::new(&valid, &vocab, batch, dev)?,
            te: Split::new(&test, &vocab, batch, dev)?,
            sentences: (train.len(), valid.len(), test.len()),
            vocab,
            unk_rate,
        })
    }

    /// The model sizes of `cfg` with this vocabulary.
    fn model_config(&self, cfg: &TextConfig) -> TextVaeConfig {
        TextVaeConfig { vocab: self.vocab.len(), ..cfg.model }
    }

    /// Which test sentences the distinct-reconstructions count decodes: 100 spread evenly.
    fn distinct_of(&self) -> Vec<usize> {
        spread(&(0..self.te.sentences.len()).collect::<Vec<_>>(), 100)
    }
}

/// Trains one VAE of the chapter and scores it on the test split; returns it with its test
/// sentences' latent means.
pub(crate) fn train_and_score(
    name: &str,
    remedies: Remedies,
    corpus: &Corpus,
    cfg: &TextConfig,
    log: &mut dyn FnMut(String),
) -> Result<(VaeResult, TextVae, Tensor), ReportError> {
    let start = Instant::now();
    let (te, seed) = (&corpus.te.data, cfg.vae_schedule.seed);
    let data = (&corpus.tr.data, &corpus.va.data);
    let (model, _, fit, trace) =
        text_vae::train_vae(corpus.model_config(cfg), remedies, data, cfg.vae_schedule, cfg.trace_every, |e, t, v| {
            log(format!("    {name} epoch {e}: loss per token train {t:.3}, validation -ELBO per sentence {v:.2}"))
        })?;
    let test_score = text_vae::vae_score(&model, te, seed)?;
    let nll = text_vae::importance_nll(&model, te, cfg.importance_samples, 10, seed)?;
    let importance_nll = nll.iter().sum::<f64>() / nll.len().max(1) as f64;
    let means = text_vae::latent_means(&model, te)?;
    let distinct_of = corpus.distinct_of();
    let idx =
        Tensor::from_vec(distinct_of.iter().map(|&i| i as u32).collect::<Vec<_>>(), distinct_of.len(), means.device())?;
    let decoded = decode_all(&model, &means.index_select(&idx, 0)?, &corpus.vocab, None)?;
    let distinct = decoded.iter().collect::<std::collections::HashSet<_>>().len();
    let result = VaeResult {
        name: name.to_string(),
        remedies,
        test: test_score,
        importance_nll,
        active_units: crate::estimators::active_units(&means)?,
        distinct_reconstructions: distinct,
        reconstructed: decoded.len(),
        fit,
        trace,
        seconds: start.elapsed().as_secs_f64(),
    };
    log(format!(
        "    {name}: test -ELBO {:.2} (KL {:.2}), importance sampled {:.2}, {} active units, {} distinct reconstructions of {}",
        test_score.nll(),
        test_score.kl,
        importance_nll,
        result.active_units,
        distinct,
        decoded.len()
    ));
    Ok((result, model, means))
}

/// Test sentences shown as examples (reconstructions, homotopy ends): 6 to 14 words long.
const SHOWN_WORDS: std::ops::RangeInclusive<usize> = 6..=14;
/// Test sentences whose reconstructions the chapter shows, and codes drawn from the prior.
const RECONSTRUCTED: usize = 4;
const PRIOR_DRAWS: usize = 5;

pub fn run(
    cfg: &TextConfig,
    dev: &Device,
    fig_dir: &Path,
    log: &mut dyn FnMut(String),
) -> Result<(TextResults, Vec<PathBuf>), ReportError> {
    let all = sotu::embedded().map_err(|e| embedded_error(e.to_string()))?;
    let corpus = Corpus::new(&all, cfg, dev, log)?;
    let (lm, lm_fit, lm_seconds) = language_model(&corpus, cfg, log)?;
    let mut examples = Examples::new(&corpus.te, cfg.vae_schedule.seed);
    let shown = examples.pick(RECONSTRUCTED);
    let (vaes, models, reconstructions) = train_vaes(&corpus, cfg, &shown, log)?;
    let start = Instant::now();
    let labels = Labels::new(&corpus);
    let mut probes = baseline_probes(&corpus, &labels, cfg.probe_schedule)?;
    for ((model, test_means), result) in models.iter().zip(&vaes) {
        probes.push(latent_probe(&result.name, (model, test_means), &corpus, &labels, cfg.probe_schedule)?);
    }
    let probe_seconds = start.elapsed().as_secs_f64();
    probes.iter().for_each(|p| log(probe_line(p)));
    let (best, means) = models.last().ok_or_else(|| embedded_error("no VAE trained".into()))?;
    let generated = generate(best, means, &corpus, &examples.pick(2), cfg)?;
    let kl_path = fig_dir.join("text-kl.png");
    kl_figure(&vaes, &kl_path)?;
    let results = TextResults {
        config: cfg.clone(),
        vocabulary: corpus.vocab.len(),
        unk_rate: corpus.unk_rate,
        sentences: corpus.sentences,
        lm,
        lm_fit,
        lm_seconds,
        vaes,
        probes,
        party_test_sentences: labels.party.2.1.len(),
        decades: labels.decades,
        homotopy: generated.homotopy,
        prior_greedy: generated.prior_greedy,
        prior_sampled: generated.prior_sampled,
        reconstructions,
        probe_seconds,
    };
    Ok((results, vec![kl_path]))
}

fn embedded_error(msg: String) -> ReportError {
    ReportError::File { path: "embedded data".into(), msg }
}

/// Trains the GRU language model and scores it on the test split, with its fit and seconds.
fn language_model(
    corpus: &Corpus,
    cfg: &TextConfig,
    log: &mut dyn FnMut(String),
) -> Result<(TextScore, Fit, f64), ReportError> {
    let start = Instant::now();
    let data = (&corpus.tr.data, &corpus.va.data);
    let (lm, _, fit) = text_vae::train_lm(corpus.model_config(cfg), data, cfg.lm_schedule, |e, t, v| {
        log(format!("    GRU language model epoch {e}: nats per token train {t:.3}, validation per sentence {v:.2}"))
    })?;
    let score = text_vae::lm_score(&lm, &corpus.te.data)?;
    log(format!("    language model: test NLL {:.2} per sentence, perplexity {:.1}", score.nll(), score.perplexity()));
    Ok((score, fit, start.elapsed().as_secs_f64()))
}

/// Test sentences of [`SHOWN_WORDS`] words, drawn (with replacement) by a seeded generator.
struct Examples {
    shown: Vec<usize>,
    rng: SeededRng,
}

impl Examples {
    fn new(te: &Split, seed: u64) -> Self {
        let shown = (0..te.sentences.len()).filter(|&i| SHOWN_WORDS.contains(&te.sentences[i].tokens.len())).collect();
        Self { shown, rng: SeededRng::derived(seed, "text-examples", 0) }
    }

    fn pick(&mut self, k: usize) -> Vec<usize> {
        let n = self.shown.len();
        (0..k).map(|_| self.shown[(self.rng.uniform_f64() * n as f64) as usize % n.max(1)]).collect()
    }
}

/// Trains each VAE of the chapter; returns their results, each model with its test sentences'
/// latent means (reused by the probes and the homotopy), and the `shown` test sentences each
/// followed by every model's greedy decoding from its mean.
#[allow(clippy::type_complexity)]
fn train_vaes(
    corpus: &Corpus,
    cfg: &TextConfig,
    shown: &[usize],
    log: &mut dyn FnMut(String),
) -> Result<(Vec<VaeResult>, Vec<(TextVae, Tensor)>, Vec<Vec<String>>), ReportError> {
    let te = &corpus.te;
    let mut reconstructions: Vec<Vec<String>> = shown.iter().map(|&i| vec![te.sentences[i].tokens.join(" ")]).collect();
    let (mut vaes, mut models) = (Vec::new(), Vec::new());
    for (name, remedies) in cfg.variants() {
        let (result, model, means) = train_and_score(name, remedies, corpus, cfg, log)?;
        for (row, &i) in reconstructions.iter_mut().zip(shown) {
            row.extend(decode_all(&model, &text_vae::row(&means, i)?, &corpus.vocab, None)?);
        }
        vaes.push(result);
        models.push((model, means));
    }
    Ok((vaes, models, reconstructions))
}

/// Per split (train, validation, test): the rows with a party label, and those labels.
type PartyRows = (Vec<u32>, Vec<u32>);

/// What the probes predict: the speaker's party (Democratic or Republican sentences only) and
/// the decade of the speech (every sentence).
struct Labels {
    party: (PartyRows, PartyRows, PartyRows),
    decade: (Vec<u32>, Vec<u32>, Vec<u32>),
    decades: usize,
}

impl Labels {
    fn new(corpus: &Corpus) -> Self {
        let party_rows = |s: &Split| -> PartyRows {
            s.sentences.iter().enumerate().filter_map(|(i, x)| party_label(x).map(|l| (i as u32, l))).unzip()
        };
        let decades = |s: &Split| s.sentences.iter().map(|x| decade_label(x)).collect::<Vec<_>>();
        let (tr, va, te) = (&corpus.tr, &corpus.va, &corpus.te);
        let decade = (decades(tr), decades(va), decades(te));
        let n = decade.0.iter().chain(&decade.1).chain(&decade.2).copied().max().unwrap_or(0) as usize + 1;
        Self { party: (party_rows(tr), party_rows(va), party_rows(te)), decade, decades: n }
    }
}

/// The rows of every probe table that need no VAE: chance, the training and the test majority,
/// and a probe on bags of words.
fn baseline_probes(corpus: &Corpus, labels: &Labels, ps: Schedule) -> Result<Vec<ProbeRow>, ReportError> {
    let (vocab, v) = (&corpus.vocab, corpus.vocab.len());
    let (w_tr, w_va, w_te) = (corpus.tr.words(vocab), corpus.va.words(vocab), corpus.te.words(vocab));
    let pick_words = |w: &[Vec<u32>], rows: &[u32]| rows.iter().map(|&r| w[r as usize].clone()).collect::<Vec<_>>();
    let (p_tr, p_va, p_te) = &labels.party;
    let (d_tr, d_va, d_te) = &labels.decade;
    let party_words = (pick_words(&w_tr, &p_tr.0), pick_words(&w_va, &p_va.0), pick_words(&w_te, &p_te.0));
    let bow_party = text_probe::probe(
        (Features::Words(&party_words.0, v), &p_tr.1),
        (Features::Words(&party_words.1, v), &p_va.1),
        (Features::Words(&party_words.2, v), &p_te.1),
        2,
        ps,
    )?;
    let bow_decade = text_probe::probe(
        (Features::Words(&w_tr, v), d_tr),
        (Features::Words(&w_va, v), d_va),
        (Features::Words(&w_te, v), d_te),
        labels.decades,
        ps,
    )?;
    let chance = |k: usize| Accuracy { plain: 1.0 / k as f64, balanced: 1.0 / k as f64 };
    let constant = |pick: &[u32], test: &[u32]| text_probe::constant_accuracy(text_probe::majority(pick), test);
    Ok(vec![
        ProbeRow { features: CHANCE.into(), party: chance(2), decade: chance(labels.decades) },
        ProbeRow { features: TRAIN_MAJORITY.into(), party: constant(&p_tr.1, &p_te.1), decade: constant(d_tr, d_te) },
        ProbeRow { features: TEST_MAJORITY.into(), party: constant(&p_te.1, &p_te.1), decade: constant(d_te, d_te) },
        ProbeRow { features: "bag of words".into(), party: bow_party.test, decade: bow_decade.test },
    ])
}

/// A probe on one VAE's latent means (`test_means` already computed).
fn latent_probe(
    name: &str,
    (model, test_means): (&TextVae, &Tensor),
    corpus: &Corpus,
    labels: &Labels,
    ps: Schedule,
) -> Result<ProbeRow, ReportError> {
    let (m_tr, m_va, m_te) = (
        text_vae::latent_means(model, &corpus.tr.data)?.to_device(&Device::Cpu)?,
        text_vae::latent_means(model, &corpus.va.data)?.to_device(&Device::Cpu)?,
        test_means.to_device(&Device::Cpu)?,
    );
    let rows = |m: &Tensor, r: &[u32]| -> candle_core::Result<Tensor> {
        m.index_select(&Tensor::from_slice(r, r.len(), &Device::Cpu)?, 0)
    };
    let (p_tr, p_va, p_te) = &labels.party;
    let (d_tr, d_va, d_te) = &labels.decade;
    let (q_tr, q_va, q_te) = (rows(&m_tr, &p_tr.0)?, rows(&m_va, &p_va.0)?, rows(&m_te, &p_te.0)?);
    let party: ProbeScore = text_probe::probe(
        (Features::Dense(&q_tr), &p_tr.1),
        (Features::Dense(&q_va), &p_va.1),
        (Features::Dense(&q_te), &p_te.1),
        2,
        ps,
    )?;
    let decade = text_probe::probe(
        (Features::Dense(&m_tr), d_tr),
        (Features::Dense(&m_va), d_va),
        (Features::Dense(&m_te), d_te),
        labels.decades,
        ps,
    )?;
    Ok(ProbeRow { features: format!("latent means: {name}"), party: party.test, decade: decade.test })
}

fn probe_line(p: &ProbeRow) -> String {
    format!(
        "    {}: party {:.1}% (balanced {:.1}%), decade {:.1}% (balanced {:.1}%)",
        p.features,
        100.0 * p.party.plain,
        100.0 * p.party.balanced,
        100.0 * p.decade.plain,
        100.0 * p.decade.balanced
    )
}

/// Text generated by one model: a homotopy between two test sentences, and sentences decoded
/// greedily and by sampling from codes drawn from the prior.
struct Generated {
    homotopy: Vec<String>,
    prior_greedy: Vec<String>,
    prior_sampled: Vec<String>,
}

fn generate(
    model: &TextVae,
    means: &Tensor,
    corpus: &Corpus,
    ends: &[usize],
    cfg: &TextConfig,
) -> Result<Generated, ReportError> {
    let (te, vocab) = (&corpus.te, &corpus.vocab);
    let (a, b) = match ends {
        [a, b, ..] => (*a, *b),
        _ => return Err(embedded_error("the homotopy needs two test sentences".into())),
    };
    let line = text_vae::homotopy(&text_vae::row(means, a)?, &text_vae::row(means, b)?, cfg.homotopy_points)?;
    let mut homotopy = vec![te.sentences[a].tokens.join(" ")];
    homotopy.extend(decode_all(model, &line, vocab, None)?);
    homotopy.push(te.sentences[b].tokens.join(" "));
    let mut rng = SeededRng::derived(cfg.vae_schedule.seed, "text-prior", 0);
    let z = rng.normal(&[PRIOR_DRAWS, corpus.model_config(cfg).latent_dim], means.device())?;
    let prior_greedy = decode_all(model, &z, vocab, None)?;
    let prior_sampled = decode_all(model, &z, vocab, Some(&mut rng))?;
    Ok(Generated { homotopy, prior_greedy, prior_sampled })
}

/// The KL term of each VAE during training, on a log scale (the collapsed models' KL is a few
/// hundredths of a nat, the working model's a few nats), with the annealed KL weight.
pub fn kl_figure(vaes: &[VaeResult], path: &Path) -> Result<(), ReportError> {
    let weight: Vec<(f32, f32)> = vaes
        .get(1)
        .map(|r| r.trace.step.iter().zip(&r.trace.weight).map(|(&s, &w)| (s as f32, 10.0 * w as f32)).collect())
        .unwrap_or_default();
    kl_lines(vaes, ("annealed KL weight x 10", &weight), path)
}

/// Each VAE's KL per sentence during training, and one more line (`extra`), on a log scale.
pub(crate) fn kl_lines<'a>(
    vaes: impl IntoIterator<Item = &'a VaeResult>,
    extra: (&str, &[(f32, f32)]),
    path: &Path,
) -> Result<(), ReportError> {
    let curves: Vec<(String, Vec<(f32, f32)>)> = vaes
        .into_iter()
        .map(|r| (r.name.clone(), r.trace.step.iter().zip(&r.trace.kl).map(|(&s, &k)| (s as f32, k as f32)).collect()))
        .collect();
    let mut series: Vec<(&str, &[(f32, f32)])> = curves.iter().map(|(n, p)| (n.as_str(), p.as_slice())).collect();
    series.push(extra);
    plot::lines(
        &series,
        Lines { log_y: true, ..Lines::default() },
        "KL(q(z|x) || p(z)) per sentence during training",
        ("optimizer step", "nats (log scale)"),
        path,
    )?;
    Ok(())
}

pub fn table(r: &TextResults) -> String {
    let mut out = String::from(
        "| model | epoch kept | −log p(x) or −ELBO | KL | −𝓛₂₀, importance-sampled bound on −log p(x) | perplexity | active units | distinct reconstructions |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    out.push_str(&format!(
        "| GRU language model | {} | {:.2} | — | — | {:.1} | — | — |\n",
        r.lm_fit.best_epoch,
        r.lm.nll(),
        r.lm.perplexity()
    ));
    for v in &r.vaes {
        out.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {} of {} | {} of {} |\n",
            v.name,
            v.fit.best_epoch,
            v.test.nll(),
            v.test.kl,
            v.importance_nll,
            v.importance_perplexity(),
            v.active_units,
            r.config.model.latent_dim,
            v.distinct_reconstructions,
            v.reconstructed
        ));
    }
    out.push_str(&format!(
        "\nTest set: {} sentences of at most {} words, {} predicted tokens (words and the end of sentence); nats per \
         sentence; perplexity = exp(nats per token), from the exact likelihood for the language model and, for the \
         VAEs, from the importance-sampled bound ({} codes per sentence), so an upper bound on their perplexity. Vocabulary {} words ({:.1}% of training words \
         are `<unk>`); at most {} epochs.\n",
        r.lm.sentences,
        r.config.max_words,
        r.lm.tokens,
        r.config.importance_samples,
        r.vocabulary,
        100.0 * r.unk_rate,
        r.config.vae_schedule.max_epochs
    ));
    out
}

/// Decades present among the test sentences: the test majority's balanced accuracy is one over
/// their number.
pub fn test_decades(r: &TextResults) -> usize {
    let oracle = r.probes.iter().find(|p| p.features == TEST_MAJORITY).map_or(0.0, |p| p.decade.balanced);
    if oracle > 0.0 { (1.0 / oracle).round() as usize } else { 0 }
}

pub fn probe_table(r: &TextResults) -> String {
    let mut out = String::from(
        "| features | party: accuracy | party: balanced accuracy | decade: accuracy | decade: balanced accuracy |\n\
         |---|---:|---:|---:|---:|\n",
    );
    let pct = |a: f64| format!("{:.1}%", 100.0 * a);
    for p in &r.probes {
        let cells = [p.party.plain, p.party.balanced, p.decade.plain, p.decade.balanced].map(pct);
        out.push_str(&format!("| {} | {} |\n", p.features, cells.join(" | ")));
    }
    out.push_str(&format!(
        "\nTest accuracy of softmax regression, and balanced accuracy (the mean over the classes in the test set \
         of the share of each answered right; a constant answer scores one over their number if it is one of \
         them, 0 otherwise); {} test sentences by Democratic or Republican presidents for the party, all {} test \
         sentences for the decade ({} decades in all, {} of them in the test set). The third row is an oracle: \
         it knows the test set's commonest label.\n",
        r.party_test_sentences,
        r.lm.sentences,
        r.decades,
        test_decades(r)
    ));
    out
}

/// Generated words as Markdown text: `<unk>` would vanish as an HTML tag, `|` would split a cell.
fn md(s: &str) -> String {
    s.replace('<', "&lt;").replace('>', "&gt;").replace('|', "\\|")
}

pub fn samples_text(r: &TextResults) -> String {
    let mut out = String::from(
        "**Homotopy** (first and last lines: the two test sentences; between them, greedy decodings of evenly spaced codes on the line between their means):\n\n",
    );
    for (i, s) in r.homotopy.iter().enumerate() {
        let tag = if i == 0 || i + 1 == r.homotopy.len() { "sentence" } else { "decoded" };
        out.push_str(&format!("{}. *{tag}:* {}\n", i + 1, md(s)));
    }
    out.push_str("\n**From the prior**, five codes z ~ N(0, I), each decoded greedily and then by sampling words:\n\n| greedy | sampled |\n|---|---|\n");
    for (g, s) in r.prior_greedy.iter().zip(&r.prior_sampled) {
        out.push_str(&format!("| {} | {} |\n", md(g), md(s)));
    }
    out.push_str("\n**Reconstructions**: test sentences decoded greedily from their mean codes.\n\n| test sentence |");
    for v in &r.vaes {
        out.push_str(&format!(" {} |", v.name));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(r.vaes.len()));
    out.push('\n');
    for row in &r.reconstructions {
        out.push_str(&format!("| {} |\n", row.iter().map(|c| md(c)).collect::<Vec<_>>().join(" | ")));
    }
    out
}

pub fn book(book_src: &Path, dev: &Device, log: &mut dyn FnMut(String)) -> Result<Vec<PathBuf>, ReportError> {
    let (results, mut written) = run(&TextConfig::book(), dev, &book_src.join("figures"), log)?;
    let dir = generated_dir(book_src);
    let json = dir.join("text.json");
    write_json(&json, &results)?;
    for (name, text) in [
        ("text.md", table(&results)),
        ("text-probes.md", probe_table(&results)),
        ("text-samples.md", samples_text(&results)),
    ] {
        let path = dir.join(name);
        write_atomic(&path, text.as_bytes())?;
        written.push(path);
    }
    written.push(json);
    Ok(written)
}
