//! The sequence pieces: chorale data, padding and masks, causality of the baseline, the VRNN's
//! bounds, and a loss that falls on a short run.

use vae_book::candle_core::{DType, Device, Tensor};
use vae_book::candle_nn::{VarBuilder, VarMap};
use vae_book::data::chorales::{ChoraleSplit, Chorales};
use vae_book::data::sequences::{SeqBatch, SeqData, length_buckets};
use vae_book::init;
use vae_book::models::vrnn::{self, RnnBaseline, Vrnn, VrnnConfig};
use vae_book::prob::SeededRng;
use vae_book::train::Schedule;

const CFG: VrnnConfig = VrnnConfig { input_dim: 5, feature: 8, hidden: 12, latent_dim: 3 };

fn random_seq(len: usize, dim: usize, seed: u64) -> Vec<f32> {
    SeededRng::new(seed)
        .uniform_vec(len * dim, 0.0, 1.0)
        .unwrap()
        .iter()
        .map(|&u| if u < 0.3 { 1.0 } else { 0.0 })
        .collect()
}

fn models(seed: u64) -> (Vrnn, RnnBaseline) {
    let (vm, vm2) = (VarMap::new(), VarMap::new());
    let v = Vrnn::new(CFG, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
    let r = RnnBaseline::new(CFG, VarBuilder::from_varmap(&vm2, DType::F32, &Device::Cpu)).unwrap();
    init::pytorch_default_init(&vm, seed).unwrap();
    init::pytorch_default_init(&vm2, seed).unwrap();
    (v, r)
}

#[test]
fn the_embedded_chorales_are_what_the_readme_says() {
    let c = Chorales::embedded().unwrap();
    assert_eq!(c.chorales.len(), 368);
    assert_eq!((c.pitch_min, c.pitch_max, c.keys()), (36, 81, 46));
    let sizes = [ChoraleSplit::Train, ChoraleSplit::Valid, ChoraleSplit::Test].map(|s| c.split(s).len());
    assert_eq!(sizes, [208, 73, 87]);
    let lengths: Vec<usize> = c.chorales.iter().map(|ch| ch.steps.len()).collect();
    assert_eq!((*lengths.iter().min().unwrap(), *lengths.iter().max().unwrap()), (24, 193));
    assert_eq!(lengths.iter().sum::<usize>(), 20_000);
    let roll = c.roll(&c.chorales[0]);
    assert_eq!(roll.len(), c.chorales[0].steps.len() * 46);
    assert_eq!(roll[..46].iter().sum::<f32>(), c.chorales[0].steps[0].len() as f32);
}

#[test]
fn bad_chorale_files_are_named() {
    let head = r#"{"source":"x","pitch_min":36,"pitch_max":81,"chorales":"#;
    let out_of_range = format!(r#"{head}[{{"name":"bwv1","split":"train","steps":[[60],[90]]}}]}}"#);
    let err = Chorales::parse("c.json", &out_of_range).unwrap_err().to_string();
    assert!(
        err.starts_with("c.json: ") && err.contains("bwv1") && err.contains("beat 1") && err.contains("pitch 90"),
        "{err}"
    );
    let empty = format!(r#"{head}[{{"name":"bwv2","split":"test","steps":[]}}]}}"#);
    assert!(Chorales::parse("c.json", &empty).unwrap_err().to_string().contains("bwv2: has no beats"));
    let bad_split = format!(r#"{head}[{{"name":"bwv3","split":"dev","steps":[[60]]}}]}}"#);
    assert!(
        Chorales::parse("c.json", &bad_split)
            .unwrap_err()
            .to_string()
            .starts_with("c.json: not the expected chorale JSON")
    );
}

#[test]
fn batches_pad_and_mask_and_buckets_cover_everything() {
    let (a, b) = (random_seq(3, 5, 1), random_seq(5, 5, 2));
    let batch = SeqBatch::new(&[&a, &b], 5, &Device::Cpu).unwrap();
    assert_eq!(batch.x.dims(), &[5, 2, 5]);
    assert_eq!(
        batch.mask.to_vec2::<f32>().unwrap(),
        vec![vec![1., 1.], vec![1., 1.], vec![1., 1.], vec![0., 1.], vec![0., 1.]]
    );
    assert_eq!(batch.x.get(2).unwrap().get(0).unwrap().to_vec1::<f32>().unwrap(), a[10..15].to_vec());
    assert_eq!(batch.steps(), 8);
    let err = SeqBatch::new(&[&a[..7]], 5, &Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("sequence 0 has 7 values"), "{err}");
    let buckets = length_buckets(&[5, 1, 4, 2, 3], 2);
    assert_eq!(buckets, vec![vec![1, 3], vec![4, 2], vec![0]]);
}

#[test]
fn padding_changes_nothing_and_the_baseline_is_causal() {
    let (vrnn, rnn) = models(4);
    let (a, b) = (random_seq(4, 5, 5), random_seq(7, 5, 6));
    let dev = Device::Cpu;
    let alone = SeqBatch::new(&[&a], 5, &dev).unwrap();
    let padded = SeqBatch::new(&[&a, &b], 5, &dev).unwrap();
    let eps = SeededRng::new(7).normal(&[7, 2, 3], &dev).unwrap();
    let t_alone =
        vrnn.run(&alone, &eps.narrow(0, 0, 4).unwrap().narrow(1, 0, 1).unwrap().contiguous().unwrap(), true).unwrap();
    let t_padded = vrnn.run(&padded, &eps, true).unwrap();
    let col = |t: &Tensor| t.narrow(1, 0, 1).unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
    let sum = |t: &Tensor| t.sum_all().unwrap().to_scalar::<f32>().unwrap();
    assert!((sum(&t_alone.nll) - col(&t_padded.nll)).abs() < 1e-4);
    assert!((sum(&t_alone.kl) - col(&t_padded.kl)).abs() < 1e-5);
    let pad = t_padded.kl.narrow(0, 4, 3).unwrap().narrow(1, 0, 1).unwrap();
    assert_eq!(sum(&pad.abs().unwrap()), 0.0, "padded steps cost nothing");
    assert!(sum(&t_padded.kl) > 0.0);

    // Flipping frame 4 of b changes the baseline's loss at step 4 only, never before it.
    let mut b2 = b.clone();
    b2[4 * 5] = 1.0 - b2[4 * 5];
    let before = rnn.nll(&SeqBatch::new(&[&b], 5, &dev).unwrap()).unwrap().to_vec2::<f32>().unwrap();
    let after = rnn.nll(&SeqBatch::new(&[&b2], 5, &dev).unwrap()).unwrap().to_vec2::<f32>().unwrap();
    for t in 0..4 {
        assert_eq!(before[t], after[t], "step {t} cannot see frame 4");
    }
    assert_ne!(before[4], after[4]);
    assert_ne!(before[5], after[5], "later steps have read it");
}

#[test]
fn the_same_seed_gives_the_same_recurrent_weights() {
    let (a, _) = models(9);
    let (b, _) = models(9);
    let (c, _) = models(10);
    let x = SeqBatch::new(&[&random_seq(6, 5, 1)], 5, &Device::Cpu).unwrap();
    let eps = Tensor::zeros((6, 1, 3), DType::F32, &Device::Cpu).unwrap();
    let loss = |m: &Vrnn| m.run(&x, &eps, false).unwrap().nll.sum_all().unwrap().to_scalar::<f32>().unwrap();
    assert_eq!(loss(&a), loss(&b));
    assert_ne!(loss(&a), loss(&c));
}

#[test]
fn a_short_run_learns_and_importance_sampling_tightens_the_bound() {
    let dev = Device::Cpu;
    let c = Chorales::embedded().unwrap();
    let rolls = |s| c.split(s).iter().take(40).map(|ch| c.roll(ch)).collect::<Vec<_>>();
    let train = SeqData::new(&rolls(ChoraleSplit::Train), c.keys(), 8, &dev).unwrap();
    let valid = SeqData::new(&rolls(ChoraleSplit::Valid), c.keys(), 20, &dev).unwrap();
    let cfg = VrnnConfig { input_dim: c.keys(), feature: 16, hidden: 24, latent_dim: 4 };
    let s = Schedule { max_epochs: 4, patience: 4, batch_size: 8, lr: 3e-3, seed: 1 };
    let (rnn, _, fit) = vrnn::train_baseline(cfg, &train, &valid, s, |_, _, _| {}).unwrap();
    assert!(fit.valid[3] < fit.valid[0] - 1.0, "GRU validation loss falls: {fit:?}");
    let (model, _, fit) = vrnn::train_vrnn(cfg, &train, &valid, s, |_, _, _| {}).unwrap();
    assert!(fit.valid[3] < fit.valid[0] - 1.0, "VRNN validation -ELBO falls: {fit:?}");
    let (recon, kl) = vrnn::vrnn_elbo(&model, &valid, 2).unwrap();
    let is = vrnn::vrnn_importance_nll(&model, &valid, 20, 10, 3).unwrap();
    assert!(kl >= 0.0 && is < recon + kl + 1e-6, "importance {is} vs -ELBO {}", recon + kl);
    assert!(vrnn::baseline_nll(&rnn, &valid).unwrap().is_finite());
    // Samples are 0/1 frames of the right shape, continuing a prefix.
    let prefix = valid.batches[0].x.narrow(0, 0, 4).unwrap();
    let b = prefix.dim(1).unwrap();
    let (frames, probs) = model.sample(b, Some(&prefix), 6, &mut SeededRng::new(4)).unwrap();
    assert_eq!(frames.dims(), &[6, b, c.keys()]);
    let v = frames.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert!(v.iter().all(|&x| x == 0.0 || x == 1.0));
    assert!(probs.max_all().unwrap().to_scalar::<f32>().unwrap() <= 1.0);
}

#[test]
fn piano_rolls_are_drawn_and_bad_sizes_are_named() {
    use vae_book::plot::{PianoRolls, Roll};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roll.png");
    let values = random_seq(10, 5, 3);
    let ok = [Roll { label: "a", values: &values, steps: 10, mark: Some(4) }];
    PianoRolls { rolls: &ok, keys: 5, lowest_pitch: 60, title: "t", beat_px: 4, key_px: 2 }.save(&path).unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() > 100);
    let bad = [Roll { label: "short", values: &values[..12], steps: 10, mark: None }];
    let err = PianoRolls { rolls: &bad, keys: 5, lowest_pitch: 60, title: "t", beat_px: 4, key_px: 2 }
        .save(&path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"short\": 12 values for 10 beats of 5 keys"), "{err}");
}

/// Every parameter's gradient of `loss`, by name.
fn gradients(vm: &VarMap, loss: &Tensor) -> Vec<(String, Vec<f32>)> {
    let grads = loss.backward().unwrap();
    let data = vm.data().lock().unwrap();
    let mut out: Vec<(String, Vec<f32>)> = data
        .iter()
        .map(|(name, var)| {
            let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("no gradient for {name}"));
            (name.clone(), g.flatten_all().unwrap().to_vec1::<f32>().unwrap())
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn assert_close(name: &str, a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len(), "{name}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{name}[{i}]: fast {x} vs plain {y}");
    }
}

/// A batch of three sequences of different lengths (so that padding and masks are exercised).
fn ragged_batch() -> SeqBatch {
    let seqs = [random_seq(6, 5, 11), random_seq(4, 5, 12), random_seq(2, 5, 13)];
    SeqBatch::new(&[&seqs[0], &seqs[1], &seqs[2]], 5, &Device::Cpu).unwrap()
}

/// What training and scoring run (`run_fast`, `nll_fast`) is the plain code the chapter shows:
/// the same terms and the same gradient for every parameter.
#[test]
fn the_fast_vrnn_and_baseline_equal_the_plain_ones() {
    let vm = VarMap::new();
    let vrnn = Vrnn::new(CFG, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
    init::pytorch_default_init(&vm, 21).unwrap();
    let batch = ragged_batch();
    let eps = SeededRng::new(8).normal(&[6, 3, 3], &Device::Cpu).unwrap();
    let (plain, fast) = (vrnn.run(&batch, &eps, true).unwrap(), vrnn.run_fast(&batch, &eps, true).unwrap());
    let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_close("nll", &flat(&fast.nll), &flat(&plain.nll), 1e-5);
    assert_close("kl", &flat(&fast.kl), &flat(&plain.kl), 1e-5);
    assert_close("log ratio", &flat(fast.log_ratio.as_ref().unwrap()), &flat(plain.log_ratio.as_ref().unwrap()), 1e-5);
    assert_close("logits", &flat(&fast.logits), &flat(&plain.logits), 1e-5);
    let loss = |t: &vrnn::StepTerms| (&t.nll + &t.kl).unwrap().sum_all().unwrap();
    let (g_plain, g_fast) = (gradients(&vm, &loss(&plain)), gradients(&vm, &loss(&fast)));
    assert_eq!(g_plain.len(), 20, "every VRNN parameter has a gradient");
    for ((name, a), (_, b)) in g_fast.iter().zip(&g_plain) {
        assert_close(name, a, b, 1e-4);
    }

    let vm = VarMap::new();
    let rnn = RnnBaseline::new(CFG, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
    init::pytorch_default_init(&vm, 22).unwrap();
    let (plain, fast) = (rnn.nll(&batch).unwrap(), rnn.nll_fast(&batch).unwrap());
    assert_close("baseline nll", &flat(&fast), &flat(&plain), 1e-5);
    let (g_plain, g_fast) = (gradients(&vm, &plain.sum_all().unwrap()), gradients(&vm, &fast.sum_all().unwrap()));
    for ((name, a), (_, b)) in g_fast.iter().zip(&g_plain) {
        assert_close(name, a, b, 1e-4);
    }
}
