//! The sentence VAE on the command line: State of the Union sentences, KL annealing and word
//! dropout as flags, early stopping on validation, sentences printed by `vae sample`.

use super::{CliModel, DataSpec, ModelInfo, TrainArgs};
use crate::data::sotu::{self, Sentence, SotuSplit, Vocabulary};
use crate::data::tokens::{SentenceSplits, TokenData};
use crate::models::text_vae::{self, KlWeight, Remedies, TextVae, TextVaeConfig, TextVaeTraining};
use crate::prob::SeededRng;
use crate::train::{Run, RunConfig};
use anyhow::{Result, bail};
use candle_core::Device;

/// As the text chapter: sentences of at most 20 words, words seen fewer than 10 times in training
/// become `<unk>`.
const MAX_WORDS: usize = 20;
const MIN_COUNT: usize = 10;
/// Codes per importance-sampling chunk, and the longest sampled sentence.
const IMPORTANCE_CHUNK: usize = 10;
const MAX_SAMPLE_WORDS: usize = 40;
const SAMPLES: usize = 10;

impl CliModel for TextVae {
    fn info() -> &'static ModelInfo {
        &super::TEXT
    }

    /// The chapter's third VAE: KL annealing over 600 steps and word dropout 0.5.
    fn defaults(_data: &str) -> (TextVaeTraining, RunConfig) {
        let model = TextVaeConfig { vocab: 0, embedding: 64, hidden: 128, latent_dim: 16 };
        let remedies = Remedies { kl_weight: KlWeight::Linear { steps: 600 }, word_dropout: 0.5, free_bits: 0.0 };
        (
            TextVaeTraining { model, remedies },
            RunConfig { epochs: 10, batch_size: 64, lr: 3e-3, seed: 42, patience: Some(2) },
        )
    }

    fn apply(args: &TrainArgs, cfg: TextVaeTraining) -> Result<TextVaeTraining> {
        let (latent_dim, hidden) = super::sizes(args, (cfg.model.latent_dim, cfg.model.hidden))?;
        let model = TextVaeConfig { latent_dim, hidden, ..cfg.model };
        let kl_weight = match (args.kl_anneal, args.kl_cycle) {
            (Some(0), _) => KlWeight::Constant(1.0),
            (Some(steps), _) => KlWeight::Linear { steps },
            (None, Some(0 | 1)) => bail!("--kl-cycle must be at least 2 optimizer steps"),
            (None, Some(period)) => KlWeight::Cyclical { period, ramp: period / 2 },
            (None, None) => cfg.remedies.kl_weight,
        };
        let word_dropout = args.word_dropout.unwrap_or(cfg.remedies.word_dropout);
        if !(0.0..1.0).contains(&word_dropout) {
            bail!("--word-dropout must be at least 0 and below 1, got {word_dropout}");
        }
        let free_bits = args.free_bits.unwrap_or(cfg.remedies.free_bits);
        if !(free_bits.is_finite() && free_bits >= 0.0) {
            bail!("--free-bits must be a number of nats of at least 0, got {free_bits}");
        }
        Ok(TextVaeTraining { model, remedies: Remedies { kl_weight, word_dropout, free_bits } })
    }

    fn load_data(spec: &DataSpec, run: &RunConfig, dev: &Device) -> Result<SentenceSplits> {
        if spec.name != "sotu" {
            bail!("--model text trains on --data sotu, not {:?}", spec.name);
        }
        let all = sotu::embedded()?;
        let pick = |split: SotuSplit| -> Vec<&Sentence> {
            all.iter().filter(|s| s.split == split && s.tokens.len() <= MAX_WORDS).collect()
        };
        let (train, valid, test) = (pick(SotuSplit::Train), pick(SotuSplit::Valid), pick(SotuSplit::Test));
        let vocab = Vocabulary::build(train.iter().copied(), MIN_COUNT);
        let data = |s: &[&Sentence]| {
            let ids: Vec<Vec<u32>> = s.iter().map(|s| vocab.encode(&s.tokens)).collect();
            TokenData::new(&ids, run.batch_size, dev)
        };
        Ok(SentenceSplits { train: data(&train)?, valid: data(&valid)?, test: Some(data(&test)?), vocab: Some(vocab) })
    }

    fn fit_to_data(cfg: TextVaeTraining, data: &SentenceSplits) -> Result<TextVaeTraining> {
        let vocab = data.vocab.as_ref().map_or(0, Vocabulary::len);
        Ok(TextVaeTraining { model: TextVaeConfig { vocab, ..cfg.model }, ..cfg })
    }

    fn eval_set() -> &'static str {
        "validation"
    }

    fn describe(data: &SentenceSplits) -> String {
        let vocab = data.vocab.as_ref().map_or(0, Vocabulary::len);
        let test = data.test.as_ref().map_or(0, TokenData::sentences);
        format!(
            "{} training, {} validation, {test} test sentences, vocabulary {vocab}",
            data.train.sentences(),
            data.valid.sentences()
        )
    }

    fn eval(run: &Run<Self>, data: &SentenceSplits, k: usize) -> Result<Vec<(String, f64)>> {
        let test = data.test.as_ref().ok_or_else(|| anyhow::anyhow!("no test split loaded"))?;
        let seed = run.run.seed;
        let score = text_vae::vae_score(&run.model, test, seed)?;
        let nll = text_vae::importance_nll(&run.model, test, k, IMPORTANCE_CHUNK, seed)?;
        let mean = nll.iter().sum::<f64>() / nll.len().max(1) as f64;
        Ok(vec![
            ("test -ELBO per sentence".to_string(), score.nll()),
            ("  recon".to_string(), score.recon),
            ("  kl".to_string(), score.kl),
            ("test perplexity (from the -ELBO)".to_string(), score.perplexity()),
            (format!("test -log p(x) per sentence, importance sampled, k = {k}"), mean),
            (
                "test perplexity (importance sampled)".to_string(),
                text_vae::perplexity(mean, score.sentences, score.tokens),
            ),
        ])
    }

    /// Sentences decoded, word by word at random, from codes drawn from the prior.
    fn sample(run: &Run<Self>, data: &SentenceSplits, seed: u64, _out: &std::path::Path) -> Result<String> {
        let vocab = data.vocab.as_ref().ok_or_else(|| anyhow::anyhow!("no vocabulary loaded"))?;
        let mut rng = SeededRng::derived(seed, "text-samples", 0);
        let dev = data.train.batches.first().map_or(Device::Cpu, |b| b.targets.device().clone());
        let z = rng.normal(&[SAMPLES, run.cfg.model.latent_dim], &dev)?;
        let ids = run.model.decode(&z, MAX_SAMPLE_WORDS, Some(&mut rng))?;
        Ok(ids.iter().map(|s| vocab.decode(s)).collect::<Vec<_>>().join("\n"))
    }
}
