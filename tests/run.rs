//! The one training loop ([`Run`]) with every model of the book: a run stopped after an epoch and
//! resumed from its checkpoint gives the same numbers and weights as one never stopped; early
//! stopping keeps the best epoch; a diverging run stops with a message; another model's
//! checkpoint is refused by name.

use std::cell::RefCell;
use vae_book::candle_core::{Device, Result, Tensor};
use vae_book::candle_nn::VarBuilder;
use vae_book::data::catch::Rollouts;
use vae_book::data::ecg::{BeatConfig, EcgSet};
use vae_book::data::labelled::FewLabels;
use vae_book::data::sequences::{SeqData, SeqSplits};
use vae_book::data::sotu::Vocabulary;
use vae_book::data::sprites::SpriteSet;
use vae_book::data::tokens::{SentenceSplits, TokenData};
use vae_book::data::{BinarizedImages, Images, Mnist};
use vae_book::models::classifier::{Classifier, ClassifierConfig};
use vae_book::models::conv_vae::{ConvVae, ConvVaeConfig};
use vae_book::models::cvae::{Cvae, CvaeConfig};
use vae_book::models::ecg_vae::{EcgConfig, EcgVae};
use vae_book::models::iwae::{Iwae, IwaeConfig};
use vae_book::models::likelihood::{Likelihood, LikelihoodConfig, LikelihoodVae};
use vae_book::models::m2::{LabelsOnly, M2, M2Config};
use vae_book::models::quadrant::{Baseline, BaselineData, CvaeData, QuadrantConfig, QuadrantCvae, Task};
use vae_book::models::tcvae::{Tcvae, TcvaeConfig};
use vae_book::models::text_vae::{KlWeight, Remedies, RnnLm, TextVae, TextVaeConfig, TextVaeTraining};
use vae_book::models::vae::VaeConfig;
use vae_book::models::vae_gan::{VaeGan, VaeGanConfig};
use vae_book::models::vqvae::{VqVae, VqVaeConfig};
use vae_book::models::vrnn::{RnnBaseline, Vrnn, VrnnConfig};
use vae_book::models::world::{WorldConfig, WorldData, WorldModel};
use vae_book::prob::SeededRng;
use vae_book::train::{EpochRecord, LossTerms, Model, Run, RunConfig, Score, Step, TrainError, named_vars};

const EPOCHS: usize = 3;

fn schedule(batch_size: usize, patience: Option<usize>) -> RunConfig {
    RunConfig { epochs: EPOCHS, batch_size, lr: 3e-3, seed: 7, patience }
}

/// Histories without their wall-clock times.
fn numbers(history: &[EpochRecord]) -> Vec<EpochRecord> {
    history.iter().map(|e| EpochRecord { train_seconds: 0.0, seconds: 0.0, ..e.clone() }).collect()
}

fn weights<M: Model>(run: &Run<M>) -> Vec<(String, Vec<f32>)> {
    let vars = named_vars(&run.varmap).unwrap();
    vars.into_iter().map(|(n, v)| (n, v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap())).collect()
}

/// Trains `EPOCHS` epochs straight, and again with a stop, a checkpoint and a resume after the
/// first: both must agree in every number and every weight (the best epoch's, with patience).
fn resumes_exactly<M: Model>(cfg: M::Config, run: RunConfig, data: &M::Data) {
    let dev = Device::Cpu;
    let mut straight = Run::<M>::new(cfg.clone(), run, &dev).unwrap();
    straight.fit(data, |_| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt.safetensors");
    let mut first = Run::<M>::new(cfg.clone(), run, &dev).unwrap();
    first.epoch(data, |_| {}).unwrap();
    first.save(&path, &[]).unwrap();
    drop(first);
    let mut resumed = Run::<M>::resume(&path, cfg, run, &dev).unwrap();
    assert_eq!(resumed.history.len(), 1, "{}", M::NAME);
    resumed.fit(data, |_| {}).unwrap();
    assert_eq!(numbers(&straight.history), numbers(&resumed.history), "{}: history", M::NAME);
    assert_eq!(straight.best.epoch, resumed.best.epoch, "{}: best epoch", M::NAME);
    assert!(straight.history.iter().all(|e| e.train_loss.is_finite() && e.eval.loss.is_finite()), "{}", M::NAME);
    assert!(weights(&straight) == weights(&resumed), "{}: weights differ after resuming", M::NAME);
}

fn digits(train: usize, test: usize) -> Mnist {
    let mut m = Mnist::embedded().unwrap();
    m.train = m.train.take(train);
    m.test = m.test.take(test);
    m
}

#[test]
fn image_models_resume_exactly() {
    let dev = Device::Cpu;
    let m = digits(192, 48);
    let images = Images::from_mnist(&m, &dev).unwrap();
    resumes_exactly::<ConvVae>(ConvVaeConfig { latent_dim: 2 }, schedule(64, None), &images);
    resumes_exactly::<VqVae>(VqVaeConfig { codes: 16, code_dim: 4, beta: 0.25 }, schedule(64, None), &images);
    let gan = VaeGanConfig { hidden: 32, latent_dim: 4, disc_features: 32, disc_hidden: 16, ..VaeGanConfig::default() };
    resumes_exactly::<VaeGan>(gan, schedule(64, None), &images);
    resumes_exactly::<Classifier>(
        ClassifierConfig { hidden: 32, ..ClassifierConfig::default() },
        schedule(64, None),
        &images,
    );
    let small = CvaeConfig { hidden: 32, ..CvaeConfig::default() };
    resumes_exactly::<Cvae>(small, schedule(64, Some(1)), &images);
    let few = FewLabels::draw(Images::from_mnist(&m, &dev).unwrap(), 2, 7).unwrap();
    let m2 = M2Config { hidden: 32, latent_dim: 3, labelled_batch: 8, ..M2Config::default() };
    resumes_exactly::<M2>(m2, schedule(64, None), &few);
    resumes_exactly::<LabelsOnly>(m2, schedule(8, None), &few);
    let sprites = SpriteSet::sample(192, 48, &dev).unwrap();
    let tc = TcvaeConfig { model: VaeConfig { input_dim: 1024, hidden: 32, latent_dim: 3 }, beta: 4.0, kl_weight: 2.0 };
    resumes_exactly::<Tcvae>(tc, schedule(64, None), &sprites);
    // The heartbeat VAE and its autoencoder, with early stopping on the validation beats.
    let beats = EcgSet::embedded(BeatConfig::default(), &dev).unwrap();
    for autoencoder in [false, true] {
        let cfg = EcgConfig { model: VaeConfig { input_dim: 252, hidden: 16, latent_dim: 2 }, autoencoder };
        resumes_exactly::<EcgVae>(cfg, schedule(32, Some(2)), &beats);
    }
    let world =
        WorldData { train: Rollouts::random(6, 1, &dev).unwrap(), validation: Rollouts::random(2, 2, &dev).unwrap() };
    resumes_exactly::<WorldModel>(WorldConfig::tiny(), schedule(2, Some(2)), &world);
    let binarized = BinarizedImages::new(&m.train, &m.test, 7, &dev).unwrap();
    let iwae = IwaeConfig { model: VaeConfig { input_dim: 784, hidden: 32, latent_dim: 3 }, k: 4 };
    resumes_exactly::<Iwae>(iwae, schedule(64, None), &binarized);
    // Noise in the data itself (dequantization, binarization) and a learned sigma resume exactly too.
    for l in [Likelihood::LearnedGaussian, Likelihood::BinarizedBernoulli] {
        let cfg = LikelihoodConfig {
            model: VaeConfig { input_dim: 784, hidden: 32, latent_dim: 3 },
            ..LikelihoodConfig::new(l)
        };
        resumes_exactly::<LikelihoodVae>(cfg, schedule(64, None), &images);
    }
}

#[test]
fn quadrant_models_resume_exactly() {
    let dev = Device::Cpu;
    let m = digits(192, 0);
    let x = m.train.images(&dev).unwrap();
    let (task, valid) =
        (Task::new(&x.narrow(0, 0, 128).unwrap(), 2).unwrap(), Task::new(&x.narrow(0, 128, 64).unwrap(), 2).unwrap());
    let cfg = QuadrantConfig { pixels: 784, hidden: 32, latent_dim: 4 };
    let data = BaselineData { task: task.clone(), valid: valid.clone(), test: None };
    resumes_exactly::<Baseline>(cfg, schedule(32, Some(2)), &data);
    let baseline = Run::<Baseline>::new(cfg, schedule(32, None), &dev).unwrap();
    let cvae_data = CvaeData::new(&baseline.model, &task, &valid).unwrap();
    resumes_exactly::<QuadrantCvae>(cfg, schedule(32, Some(2)), &cvae_data);
}

fn random_sequences(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = SeededRng::new(seed);
    (0..n)
        .map(|i| {
            let len = 3 + i % 5;
            rng.uniform_vec(len * dim, 0.0, 1.0).unwrap().into_iter().map(|u| if u < 0.3 { 1.0 } else { 0.0 }).collect()
        })
        .collect()
}

#[test]
fn sequence_models_resume_exactly() {
    let dev = Device::Cpu;
    let dim = 6;
    let data = SeqSplits {
        train: SeqData::new(&random_sequences(24, dim, 1), dim, 4, &dev).unwrap(),
        valid: SeqData::new(&random_sequences(8, dim, 2), dim, 4, &dev).unwrap(),
        test: None,
    };
    let cfg = VrnnConfig { input_dim: dim, feature: 8, hidden: 12, latent_dim: 3 };
    resumes_exactly::<Vrnn>(cfg, schedule(4, Some(2)), &data);
    resumes_exactly::<RnnBaseline>(cfg, schedule(4, Some(2)), &data);
}

fn random_sentences(n: usize, vocab: u32, seed: u64) -> Vec<Vec<u32>> {
    let mut rng = SeededRng::new(seed);
    (0..n)
        .map(|i| {
            let words = rng.uniform_vec(2 + i % 6, 4.0, vocab as f32).unwrap().into_iter().map(|u| u as u32);
            std::iter::once(Vocabulary::BOS).chain(words).chain([Vocabulary::EOS]).collect()
        })
        .collect()
}

/// Random sentences over a 20-word vocabulary (`train` of them to train on, 12 to validate, in
/// batches of 8), and a small sentence VAE for them.
fn tiny_sentences(train: usize) -> (SentenceSplits, TextVaeConfig) {
    let (dev, vocab) = (Device::Cpu, 20);
    let data = SentenceSplits {
        train: TokenData::new(&random_sentences(train, vocab, 1), 8, &dev).unwrap(),
        valid: TokenData::new(&random_sentences(12, vocab, 2), 8, &dev).unwrap(),
        test: None,
        vocab: None,
    };
    (data, TextVaeConfig { vocab: vocab as usize, embedding: 8, hidden: 12, latent_dim: 3 })
}

#[test]
fn text_models_resume_exactly() {
    let (data, model) = tiny_sentences(40);
    // Annealing across the stop: the weight must continue from the saved step count.
    let remedies = Remedies { kl_weight: KlWeight::Linear { steps: 8 }, word_dropout: 0.3, free_bits: 0.0 };
    resumes_exactly::<TextVae>(TextVaeTraining { model, remedies }, schedule(8, Some(2)), &data);
    // A cycle that restarts after the stop, and free bits.
    let remedies = Remedies { kl_weight: KlWeight::Cyclical { period: 6, ramp: 3 }, word_dropout: 0.0, free_bits: 0.2 };
    resumes_exactly::<TextVae>(TextVaeTraining { model, remedies }, schedule(8, Some(2)), &data);
    resumes_exactly::<RnnLm>(model, schedule(8, Some(2)), &data);
}

/// What the text chapter says of early stopping: a sentence VAE is scored on its plain negative
/// ELBO (full KL weight, no word dropout, no free bits), whatever remedies its training used.
#[test]
fn text_vaes_are_scored_without_their_remedies() {
    let (data, model) = tiny_sentences(16);
    let plain = TextVaeTraining { model, remedies: Remedies::NONE };
    let run = Run::<TextVae>::new(plain, schedule(1, None), &Device::Cpu).unwrap();
    let remedied = Remedies { kl_weight: KlWeight::Constant(0.1), word_dropout: 0.5, free_bits: 0.5 };
    let score = |remedies| run.model.evaluate(&TextVaeTraining { model, remedies }, &data, 3).unwrap().loss;
    let (a, b) = (score(Remedies::NONE), score(remedied));
    assert!(a.is_finite() && a == b, "{a} against {b}");
    let chapter = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/book/src/text-vae.md")).unwrap();
    assert!(chapter.contains("its plain negative ELBO, at full KL weight and without word dropout"));
}

/// A one-weight model whose held-out losses are scripted, to watch early stopping.
struct Scripted {
    w: Tensor,
}

struct Script {
    losses: Vec<f64>,
    /// The weight at each evaluation.
    seen: RefCell<Vec<f32>>,
}

impl Model for Scripted {
    type Config = ();
    type Data = Script;
    const NAME: &'static str = "scripted";

    fn new(_cfg: &(), vb: VarBuilder) -> Result<Self> {
        Ok(Self { w: vb.get_with_hints(1, "w", vae_book::candle_nn::Init::Const(0.0))? })
    }

    fn rows(_data: &Script) -> usize {
        1
    }

    /// Minimizing `-w` moves the weight up by about the learning rate every step.
    fn loss(&self, _cfg: &(), _data: &Script, _at: Step, _noise: &mut SeededRng) -> Result<LossTerms> {
        Ok(LossTerms::plain(self.w.neg()?.sum_all()?))
    }

    fn evaluate(&self, _cfg: &(), data: &Script, _seed: u64) -> Result<Score> {
        let mut seen = data.seen.borrow_mut();
        seen.push(self.w.to_vec1::<f32>()?[0]);
        Ok(Score { loss: data.losses[seen.len() - 1], terms: Vec::new() })
    }
}

#[test]
fn early_stopping_keeps_the_best_epoch() {
    let script = Script { losses: vec![5.0, 3.0, 4.0, 3.5, 1.0], seen: RefCell::new(Vec::new()) };
    let run = RunConfig { epochs: 10, batch_size: 1, lr: 0.1, seed: 1, patience: Some(2) };
    let mut r = Run::<Scripted>::new((), run, &Device::Cpu).unwrap();
    r.fit(&script, |_| {}).unwrap();
    assert_eq!(r.history.len(), 4, "two epochs without beating epoch 2 end the run");
    assert_eq!(r.best.epoch, 2);
    let seen = script.seen.borrow();
    assert!(seen[1] > seen[0] && seen[3] > seen[1], "the weight moves every epoch: {seen:?}");
    assert_eq!(r.model.w.to_vec1::<f32>().unwrap()[0], seen[1], "epoch 2's weight is back");
    assert_eq!(r.fit_summary().best_epoch, 2);
}

#[test]
fn a_non_finite_held_out_score_keeps_the_epoch_out_of_the_history() {
    let script = Script { losses: vec![2.0, f64::NAN], seen: RefCell::new(Vec::new()) };
    let run = RunConfig { epochs: 5, batch_size: 1, lr: 0.1, seed: 1, patience: None };
    let mut r = Run::<Scripted>::new((), run, &Device::Cpu).unwrap();
    let e = r.fit(&script, |_| {}).expect_err("a NaN score must stop the run");
    assert!(matches!(e, TrainError::NonFinite { epoch: 2, last_good: 1, .. }), "{e:?}");
    assert_eq!(r.history.len(), 1, "the broken epoch is not recorded (nor saved)");
}

#[test]
fn patience_zero_stops_after_the_first_epoch() {
    let script = Script { losses: vec![2.0, 1.0], seen: RefCell::new(Vec::new()) };
    let run = RunConfig { epochs: 5, batch_size: 1, lr: 0.1, seed: 1, patience: Some(0) };
    let mut r = Run::<Scripted>::new((), run, &Device::Cpu).unwrap();
    r.fit(&script, |_| {}).unwrap();
    assert_eq!(r.history.len(), 1);
}

#[test]
fn a_diverging_run_stops_with_a_message() {
    let dev = Device::Cpu;
    let images = Images::from_mnist(&digits(128, 32), &dev).unwrap();
    let wild = RunConfig { epochs: 3, batch_size: 32, lr: 1e30, seed: 1, patience: None };
    let mut r = Run::<Cvae>::new(CvaeConfig { hidden: 16, ..CvaeConfig::default() }, wild, &dev).unwrap();
    let e = r.fit(&images, |_| {}).expect_err("an lr of 1e30 must blow up");
    assert!(matches!(e, TrainError::NonFinite { .. }), "{e:?}");
    assert!(e.to_string().contains("training stopped") && e.to_string().contains("last good checkpoint"), "{e}");
}

#[test]
fn another_models_checkpoint_is_refused_by_name() {
    let dev = Device::Cpu;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt.safetensors");
    let cfg = CvaeConfig { hidden: 16, ..CvaeConfig::default() };
    Run::<Cvae>::new(cfg, schedule(32, None), &dev).unwrap().save(&path, &[]).unwrap();
    let e = Run::<ConvVae>::load(&path, &dev).err().expect("must refuse");
    assert!(e.to_string().contains("holds a 'cvae' model, not a 'conv' model"), "{e}");
    // The same model with other sizes names what differs.
    let other = CvaeConfig { hidden: 24, ..cfg };
    let e = Run::<Cvae>::resume(&path, other, schedule(32, None), &dev).err().expect("must refuse");
    assert!(e.to_string().contains("the checkpoint has hidden 16, this run asks for 24"), "{e}");
}
