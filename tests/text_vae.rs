//! The text VAE: batches and padding, word dropout, the KL schedule, the fused softmax loss,
//! training, importance sampling, decoding, and the linear probes.

use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use vae_book::classic::text_probe::{self, Features};
use vae_book::data::sotu::{self, SotuSplit, Vocabulary};
use vae_book::data::tokens::{TokenBatch, TokenData};
use vae_book::models::text_vae::{self, KlWeight, Remedies, RnnLm, TextVae, TextVaeConfig};
use vae_book::prob::SeededRng;
use vae_book::train::Schedule;

const CFG: TextVaeConfig = TextVaeConfig { vocab: 12, embedding: 8, hidden: 16, latent_dim: 3 };

fn model(seed: u64) -> (TextVae, VarMap) {
    let varmap = VarMap::new();
    let m = TextVae::new(CFG, VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap();
    vae_book::init::pytorch_default_init(&varmap, seed).unwrap();
    (m, varmap)
}

#[test]
fn batches_shift_targets_and_mask_padding() {
    let (a, b) = (vec![1u32, 5, 6, 7, 2], vec![1u32, 8, 2]);
    let batch = TokenBatch::new(&[&a, &b], &Device::Cpu).unwrap();
    assert_eq!(batch.lengths, vec![4, 2]);
    assert_eq!(batch.tokens(), 6);
    // Time-major: position t of sentence i at t * B + i.
    assert_eq!(batch.inputs, vec![1, 1, 5, 8, 6, 0, 7, 0]);
    assert_eq!(batch.targets.to_vec2::<u32>().unwrap(), vec![vec![5, 8], vec![6, 2], vec![7, 0], vec![2, 0]]);
    assert_eq!(batch.mask.to_vec2::<f32>().unwrap(), vec![vec![1., 1.], vec![1., 1.], vec![1., 0.], vec![1., 0.]]);
    let last = batch.last.squeeze(2).unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(last, vec![vec![0., 0.], vec![0., 1.], vec![0., 0.], vec![1., 0.]]);
    let rep = batch.repeat(3).unwrap();
    assert_eq!(rep.size(), 6);
    assert_eq!(rep.targets.to_vec2::<u32>().unwrap()[1], vec![6, 2, 6, 2, 6, 2]);
    assert_eq!(&rep.inputs[..6], &[1, 1, 1, 1, 1, 1]);
    assert_eq!(&rep.inputs[6..12], &[5, 8, 5, 8, 5, 8]);
}

#[test]
fn malformed_sentences_are_errors() {
    for bad in [vec![1u32], vec![5u32, 6, 2], vec![1u32, 5, 6]] {
        let err = TokenBatch::new(&[&bad], &Device::Cpu).unwrap_err().to_string();
        assert!(err.contains("<bos> ... <eos>"), "{err}");
    }
}

#[test]
fn word_dropout_replaces_only_words() {
    let s: Vec<u32> = std::iter::once(1).chain(4..11).chain(std::iter::once(2)).collect();
    let short = [1u32, 5, 2];
    let batch = TokenBatch::new(&[&s, &short], &Device::Cpu).unwrap();
    let mut rng = SeededRng::new(3);
    let same = batch.decoder_inputs(0.0, &mut rng).unwrap().flatten_all().unwrap().to_vec1::<u32>().unwrap();
    assert_eq!(same, batch.inputs);
    let all = batch.decoder_inputs(1.0, &mut rng).unwrap().flatten_all().unwrap().to_vec1::<u32>().unwrap();
    for (k, (&got, &was)) in all.iter().zip(&batch.inputs).enumerate() {
        let expect = if k < 2 || was == Vocabulary::PAD { was } else { Vocabulary::UNK };
        assert_eq!(got, expect, "position {k}");
    }
    // About half of many words at rate 0.5.
    let long: Vec<u32> = std::iter::once(1).chain((0..2000).map(|i| 4 + i % 8)).chain(std::iter::once(2)).collect();
    let batch = TokenBatch::new(&[&long], &Device::Cpu).unwrap();
    let half = batch.decoder_inputs(0.5, &mut rng).unwrap().flatten_all().unwrap().to_vec1::<u32>().unwrap();
    let dropped = half.iter().filter(|&&i| i == Vocabulary::UNK).count();
    assert!((900..1100).contains(&dropped), "{dropped} of 2000 dropped");
}

#[test]
fn kl_weight_schedule_is_what_it_says() {
    let w = KlWeight::Linear { steps: 200 };
    assert_eq!(w.at(0), 0.0);
    assert_eq!(w.at(50), 0.25);
    assert_eq!(w.at(100), 0.5);
    assert_eq!(w.at(200), 1.0);
    assert_eq!(w.at(10_000), 1.0);
    assert!((1..200).all(|s| w.at(s) > w.at(s - 1)));
    assert_eq!(KlWeight::Constant(0.3).at(0), 0.3);
    assert_eq!(KlWeight::Constant(1.0).at(123), 1.0);
    // Cyclical: the same climb in every cycle, 1 for the rest of it, back to 0 when the next starts.
    let c = KlWeight::Cyclical { period: 600, ramp: 300 };
    for cycle in 0..4 {
        let start = 600 * cycle;
        assert_eq!([c.at(start), c.at(start + 150), c.at(start + 300), c.at(start + 599)], [0.0, 0.5, 1.0, 1.0]);
    }
}

#[test]
fn free_bits_floor_each_dimension_and_stop_its_gradient_below() {
    let dev = Device::Cpu;
    // Two sentences, three dimensions: mean KL per dimension over the batch 0.05, 0.5 and 2.0.
    let kl = Tensor::new(&[[0.0f32, 0.25, 1.5], [0.1, 0.75, 2.5]], &dev).unwrap();
    let total = |lambda: f64| text_vae::free_bits_kl(&kl, lambda).unwrap().to_scalar::<f32>().unwrap();
    assert!((total(0.0) - 5.1).abs() < 1e-5, "no floor: the plain total, {}", total(0.0));
    assert!((total(0.25) - 2.0 * (0.25 + 0.5 + 2.0)).abs() < 1e-5, "{}", total(0.25));
    assert!((total(3.0) - 18.0).abs() < 1e-5, "all under the floor: {}", total(3.0));
    // The gradient of the means: zero for dimensions under the floor, the plain KL's above it.
    let mu = Var::from_tensor(&Tensor::new(&[[0.1f32, 1.0, 2.0], [0.2, -1.0, -2.0]], &dev).unwrap()).unwrap();
    let logvar = Tensor::zeros((2, 3), DType::F32, &dev).unwrap();
    let dims = vae_book::prob::kl_standard_normal_dims(mu.as_tensor(), &logvar).unwrap();
    let summed = dims.sum(D::Minus1).unwrap().to_vec1::<f32>().unwrap();
    let plain = vae_book::prob::kl_standard_normal(mu.as_tensor(), &logvar).unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(summed, plain, "the dimensions add up to the whole KL");
    let grads = text_vae::free_bits_kl(&dims, 0.1).unwrap().backward().unwrap();
    let g = grads.get(&mu).unwrap().to_vec2::<f32>().unwrap();
    // KL per dimension is mu^2 / 2 here: means 0.0125, 0.5, 2.0; only the first is under 0.1.
    assert_eq!((g[0][0], g[1][0]), (0.0, 0.0));
    assert_eq!([g[0][1], g[0][2], g[1][1], g[1][2]], [1.0, 2.0, -1.0, -2.0], "d(mu^2 / 2) / d mu = mu");
}

#[test]
fn fused_softmax_loss_and_gradient_match_plain_code() {
    let dev = Device::Cpu;
    let mut rng = SeededRng::new(5);
    let logits = Var::from_tensor(&(rng.normal(&[70, 33], &dev).unwrap() * 4.0).unwrap()).unwrap();
    let targets: Vec<u32> = (0..70).map(|i| (i * 7 % 33) as u32).collect();
    let t = Tensor::from_vec(targets, 70, &dev).unwrap();
    let weights = rng.normal(&[70], &dev).unwrap();
    let fused = vae_book::cpu::fused::softmax_nll(logits.as_tensor(), &t).unwrap();
    let plain = (logits.log_sum_exp(D::Minus1).unwrap()
        - logits.gather(&t.unsqueeze(1).unwrap(), 1).unwrap().squeeze(1).unwrap())
    .unwrap();
    let diff = (&fused - &plain).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(diff < 1e-4, "losses differ by {diff}");
    let g_fused = (fused * &weights).unwrap().sum_all().unwrap().backward().unwrap();
    let g_plain = (plain * &weights).unwrap().sum_all().unwrap().backward().unwrap();
    let (a, b) = (g_fused.get(&logits).unwrap(), g_plain.get(&logits).unwrap());
    let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(diff < 1e-5, "gradients differ by {diff}");
    let bad = Tensor::from_vec(vec![40u32; 70], 70, &dev).unwrap();
    let err = vae_book::cpu::fused::softmax_nll(logits.as_tensor(), &bad).unwrap_err().to_string();
    assert!(err.contains("target class 40 is outside the 33 classes"), "{err}");
}

#[test]
fn padding_changes_no_sentence_result() {
    let (m, _) = model(1);
    let (short, long) = (vec![1u32, 5, 6, 2], vec![1u32, 7, 8, 9, 10, 11, 4, 2]);
    let alone = TokenBatch::new(&[&short], &Device::Cpu).unwrap();
    let padded = TokenBatch::new(&[&short, &long], &Device::Cpu).unwrap();
    let (mu_a, lv_a) = m.encode(&alone).unwrap();
    let (mu_p, lv_p) = m.encode(&padded).unwrap();
    let close =
        |a: &Tensor, b: &Tensor| (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap() < 1e-5;
    assert!(close(&mu_a, &mu_p.narrow(0, 0, 1).unwrap()) && close(&lv_a, &lv_p.narrow(0, 0, 1).unwrap()));
    let mut rng = SeededRng::new(0);
    let eps_a = Tensor::zeros((1, 3), DType::F32, &Device::Cpu).unwrap();
    let eps_p = Tensor::zeros((2, 3), DType::F32, &Device::Cpu).unwrap();
    let a = m.run(&alone, &alone.decoder_inputs(0.0, &mut rng).unwrap(), &eps_a).unwrap();
    let p = m.run(&padded, &padded.decoder_inputs(0.0, &mut rng).unwrap(), &eps_p).unwrap();
    assert!(close(&a.nll, &p.nll.narrow(0, 0, 1).unwrap()));
    let varmap = VarMap::new();
    let lm = RnnLm::new(CFG, VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap();
    assert!(close(&lm.nll(&alone).unwrap(), &lm.nll(&padded).unwrap().narrow(0, 0, 1).unwrap()));
}

#[test]
fn greedy_decoding_is_deterministic_and_stops() {
    let (m, _) = model(2);
    let z = SeededRng::new(1).normal(&[4, 3], &Device::Cpu).unwrap();
    let a = m.decode(&z, 6, None).unwrap();
    assert_eq!(a, m.decode(&z, 6, None).unwrap());
    assert_eq!(a.len(), 4);
    assert!(a.iter().all(|s| s.len() <= 6 && !s.contains(&Vocabulary::EOS)));
    let sampled = m.decode(&z, 6, Some(&mut SeededRng::new(9))).unwrap();
    assert!(sampled.iter().flatten().all(|&w| (w as usize) < CFG.vocab));
    let line = text_vae::homotopy(&text_vae::row(&z, 0).unwrap(), &text_vae::row(&z, 1).unwrap(), 5).unwrap();
    assert_eq!(line.dims(), &[5, 3]);
    assert_eq!(line.get(0).unwrap().to_vec1::<f32>().unwrap(), z.get(0).unwrap().to_vec1::<f32>().unwrap());
    let end = (line.get(4).unwrap() - z.get(1).unwrap()).unwrap().abs().unwrap().max_all().unwrap();
    assert!(end.to_scalar::<f32>().unwrap() < 1e-6);
}

/// Real sentences: the 400 shortest training and 100 validation sentences with a small vocabulary.
fn real_data() -> (TokenData, TokenData, usize) {
    let all = sotu::embedded().unwrap();
    let take = |split: SotuSplit, n: usize| {
        let v: Vec<_> = all.iter().filter(|s| s.split == split && s.tokens.len() <= 8).take(n).collect();
        v
    };
    let (train, valid) = (take(SotuSplit::Train, 400), take(SotuSplit::Valid, 100));
    let vocab = Vocabulary::build(train.iter().copied(), 3);
    let enc = |v: &[&sotu::Sentence]| v.iter().map(|s| vocab.encode(&s.tokens)).collect::<Vec<_>>();
    let dev = Device::Cpu;
    (TokenData::new(&enc(&train), 50, &dev).unwrap(), TokenData::new(&enc(&valid), 50, &dev).unwrap(), vocab.len())
}

#[test]
fn a_short_run_learns_and_importance_sampling_tightens_the_bound() {
    let (train, valid, vocab) = real_data();
    let cfg = TextVaeConfig { vocab, embedding: 16, hidden: 32, latent_dim: 4 };
    let s = Schedule { max_epochs: 3, patience: 3, batch_size: 1, lr: 1e-2, seed: 7 };
    let remedies = Remedies { kl_weight: KlWeight::Linear { steps: 10 }, word_dropout: 0.25, free_bits: 0.0 };
    let (m, _, fit, trace) = text_vae::train_vae(cfg, remedies, (&train, &valid), s, 2, |_, _, _| {}).unwrap();
    assert!(fit.valid[2] < fit.valid[0] - 1.0, "validation -ELBO {:?}", fit.valid);
    assert_eq!(trace.step.len(), 3 * train.batches.len() / 2);
    assert!(trace.weight.windows(2).all(|w| w[1] >= w[0]) && *trace.weight.last().unwrap() == 1.0);
    let elbo = text_vae::vae_score(&m, &valid, 7).unwrap();
    let is = text_vae::importance_nll(&m, &valid, 16, 8, 7).unwrap();
    assert_eq!(is.len(), valid.sentences());
    let mean = is.iter().sum::<f64>() / is.len() as f64;
    assert!(mean <= elbo.nll() + 0.05, "importance {mean} vs -ELBO {}", elbo.nll());
    assert!(elbo.perplexity() > 1.0 && elbo.perplexity() < vocab as f64);
    let (lm, _, lm_fit) = text_vae::train_lm(cfg, (&train, &valid), s, |_, _, _| {}).unwrap();
    assert!(lm_fit.valid[2] < lm_fit.valid[0] - 1.0, "{:?}", lm_fit.valid);
    let score = text_vae::lm_score(&lm, &valid).unwrap();
    assert_eq!((score.kl, score.tokens), (0.0, valid.tokens()));
}

#[test]
fn probes_separate_what_is_separable() {
    let dev = Device::Cpu;
    // Dense: the class is the sign of the first feature.
    let mut rng = SeededRng::new(4);
    let x = rng.normal(&[300, 3], &dev).unwrap();
    let first = x.narrow(1, 0, 1).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let y: Vec<u32> = first.iter().map(|&v| (v > 0.0) as u32).collect();
    let s = Schedule { max_epochs: 30, patience: 30, batch_size: 50, lr: 5e-2, seed: 1 };
    let (tr, te) = (x.narrow(0, 0, 200).unwrap(), x.narrow(0, 200, 100).unwrap());
    let score = text_probe::probe(
        (Features::Dense(&tr), &y[..200]),
        (Features::Dense(&te), &y[200..]),
        (Features::Dense(&te), &y[200..]),
        2,
        s,
    )
    .unwrap();
    assert!(score.test.plain > 0.95 && score.test.balanced > 0.95, "{score:?}");
    // Words: class 1 sentences contain word 7.
    let words: Vec<Vec<u32>> = (0..200u32).map(|i| if i % 2 == 1 { vec![4, 7, 5] } else { vec![4, 6, 5, 5] }).collect();
    let labels: Vec<u32> = (0..200).map(|i| i % 2).collect();
    let score = text_probe::probe(
        (Features::Words(&words, 10), &labels),
        (Features::Words(&words, 10), &labels),
        (Features::Words(&words, 10), &labels),
        2,
        s,
    )
    .unwrap();
    assert_eq!((score.test.plain, score.test.balanced), (1.0, 1.0));
    let err = text_probe::probe(
        (Features::Words(&words, 10), &labels),
        (Features::Words(&words, 10), &labels),
        (Features::Words(&words, 10), &vec![5; 200]),
        2,
        s,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("label 5 is not below the 2 classes"), "{err}");
    // Always answering the training majority (1): half right here, and balanced accuracy 1/2
    // whatever the classes' sizes.
    let always = text_probe::constant_accuracy(text_probe::majority(&[1, 1, 0]), &[1, 0, 0, 0]);
    assert_eq!((always.plain, always.balanced), (0.25, 0.5));
    // Balanced accuracy: the mean of the per-class recalls (class 0: 2 of 3, class 1: 1 of 1).
    let a = text_probe::Accuracy::of(&[0, 0, 1, 1], &[0, 0, 0, 1]);
    assert_eq!(a.plain, 0.75);
    assert!((a.balanced - (2.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
}

/// The fast CPU path (whole-sequence GRU, fused output layer) against the plain code the chapter
/// shows: the same per-sentence terms and the same gradient for every parameter.
#[test]
fn the_fast_path_matches_the_plain_model_with_gradients() {
    let (m, varmap) = model(3);
    let sentences = [vec![1u32, 5, 6, 7, 2], vec![1u32, 8, 2], vec![1u32, 9, 10, 11, 4, 6, 2]];
    let batch = TokenBatch::new(&sentences.iter().map(Vec::as_slice).collect::<Vec<_>>(), &Device::Cpu).unwrap();
    let mut rng = SeededRng::new(4);
    let inputs = batch.decoder_inputs(0.5, &mut rng).unwrap();
    let eps = rng.normal(&[3, CFG.latent_dim], &Device::Cpu).unwrap();
    let (plain, fast) = (m.run(&batch, &inputs, &eps).unwrap(), m.run_fast(&batch, &inputs, &eps).unwrap());
    let diff = |a: &Tensor, b: &Tensor| (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(diff(&plain.nll, &fast.nll) < 1e-4 && diff(&plain.kl, &fast.kl) < 1e-5);
    let loss = |t: &text_vae::SentenceTerms| (t.nll.sum_all().unwrap() + t.kl.sum_all().unwrap()).unwrap();
    let (gp, gf) = (loss(&plain).backward().unwrap(), loss(&fast).backward().unwrap());
    for (name, var) in varmap.data().lock().unwrap().iter() {
        let (a, b) = (gf.get(var).unwrap(), gp.get(var).unwrap());
        let scale = b.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap().max(1e-6);
        assert!(diff(a, b) <= 1e-4 * scale, "{name}: gradients differ by {} (scale {scale})", diff(a, b));
    }
    // The language model too.
    let lm_vars = VarMap::new();
    let lm = RnnLm::new(CFG, VarBuilder::from_varmap(&lm_vars, DType::F32, &Device::Cpu)).unwrap();
    assert!(diff(&lm.nll(&batch).unwrap(), &lm.nll_fast(&batch).unwrap()) < 1e-4);
}
