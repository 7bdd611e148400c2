//! The VQ-VAE: the nearest codebook entry, the straight-through gradient, the three loss terms,
//! the fast path equal to the plain one, the priors over codes, and a short run.

use vae_book::candle_core::{DType, Device, Tensor};
use vae_book::candle_nn::{VarBuilder, VarMap};
use vae_book::data::{Images, Mnist};
use vae_book::init;
use vae_book::models::vq_prior;
use vae_book::models::vqvae::{self, POSITIONS, PositionPrior, VqVae, VqVaeConfig};
use vae_book::prob::SeededRng;
use vae_book::train::{Run, RunConfig};

fn build(cfg: VqVaeConfig, seed: u64) -> (VqVae, VarMap) {
    let varmap = VarMap::new();
    let model = VqVae::new(cfg, VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap();
    init::pytorch_default_init(&varmap, seed).unwrap();
    (model, varmap)
}

fn digits(n: usize) -> Tensor {
    Mnist::embedded().unwrap().test.images(&Device::Cpu).unwrap().narrow(0, 0, n).unwrap()
}

fn max_abs(t: &Tensor) -> f32 {
    t.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap()
}

#[test]
fn each_vector_takes_its_nearest_entry_and_the_decoder_reads_it() {
    let (model, _) = build(VqVaeConfig { codes: 8, code_dim: 4, beta: 0.25 }, 1);
    let x = digits(3);
    let out = model.forward(&x).unwrap();
    assert_eq!(
        (out.z_e.dims(), out.z_q.dims(), out.logits.dims()),
        (&[3 * 49, 4][..], &[3 * 49, 4][..], &[3, 784][..])
    );
    let (z, codes) = (out.z_e.to_vec2::<f32>().unwrap(), out.codes.to_vec1::<u32>().unwrap());
    let book = model.entries(&Tensor::arange(0u32, 8, &Device::Cpu).unwrap()).unwrap().to_vec2::<f32>().unwrap();
    for (row, &k) in z.iter().zip(&codes) {
        let dist = |e: &[f32]| row.iter().zip(e).map(|(a, b)| (a - b).powi(2)).sum::<f32>();
        let best = book.iter().map(|e| dist(e)).fold(f32::MAX, f32::min);
        assert!(dist(&book[k as usize]) <= best + 1e-5, "code {k} is not the nearest entry");
    }
    // The decoder's input has the value of the chosen entries (z_e + (z_q - z_e), up to rounding).
    let direct = model.decode(&out.z_q).unwrap();
    assert!(max_abs(&(direct - &out.logits).unwrap()) < 1e-5);
    // One image's codes, in raster order, are the same as codes_of gives.
    assert_eq!(model.codes_of(&x).unwrap().concat(), codes);
}

#[test]
fn gradients_reach_the_encoder_straight_through_and_the_codebook_by_its_own_term() {
    let (model, varmap) = build(VqVaeConfig { codes: 8, code_dim: 4, beta: 0.25 }, 2);
    let x = digits(4);
    let out = model.forward(&x).unwrap();
    let terms = vqvae::loss(&x, &out, 0.25).unwrap();
    let names: Vec<&str> = terms.terms.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["recon", "codebook", "commitment"]);
    let value = |i: usize| terms.terms[i].1.to_scalar::<f32>().unwrap();
    // Both squared-distance terms have the same value; the weight is on the commitment.
    assert!((value(1) - value(2)).abs() < 1e-4 * value(1).max(1.0));
    let total = terms.objective.to_scalar::<f32>().unwrap();
    assert!((total - (value(0) + value(1) + 0.25 * value(2))).abs() < 1e-3 * total);
    let vars = varmap.data().lock().unwrap();
    let var = |name: &str| vars.get(name).unwrap().clone();
    // Reconstruction alone: the encoder gets a gradient (straight through), the codebook none.
    let recon = terms.terms[0].1.backward().unwrap();
    assert!(max_abs(recon.get(&var("encoder.conv1.weight")).unwrap()) > 0.0);
    assert!(recon.get(&var("codebook.weight")).is_none_or(|g| max_abs(g) == 0.0));
    // The codebook term moves the entries only; the commitment term the encoder only.
    let codebook = terms.terms[1].1.backward().unwrap();
    assert!(max_abs(codebook.get(&var("codebook.weight")).unwrap()) > 0.0);
    assert!(codebook.get(&var("encoder.conv1.weight")).is_none_or(|g| max_abs(g) == 0.0));
    let commitment = terms.terms[2].1.backward().unwrap();
    assert!(commitment.get(&var("codebook.weight")).is_none_or(|g| max_abs(g) == 0.0));
    assert!(max_abs(commitment.get(&var("encoder.conv1.weight")).unwrap()) > 0.0);
}

#[test]
fn the_fast_cpu_path_matches_the_plain_model_with_gradients() {
    let (model, varmap) = build(VqVaeConfig::book(), 5);
    let x = digits(17);
    let (plain, fast) = (model.forward(&x).unwrap(), model.forward_fast(&x).unwrap());
    assert_eq!(plain.codes.to_vec1::<u32>().unwrap(), fast.codes.to_vec1::<u32>().unwrap());
    let plain = vqvae::loss(&x, &plain, 0.25).unwrap().objective;
    let fast = vqvae::loss(&x, &fast, 0.25).unwrap().objective;
    let (p, f) = (plain.to_scalar::<f32>().unwrap(), fast.to_scalar::<f32>().unwrap());
    assert!((p - f).abs() < 1e-3, "loss: plain {p}, fast {f}");
    let (gp, gf) = (plain.backward().unwrap(), fast.backward().unwrap());
    for (name, var) in varmap.data().lock().unwrap().iter() {
        let (a, b): (&Tensor, &Tensor) = (gf.get(var).unwrap(), gp.get(var).unwrap());
        let scale = max_abs(b).max(1e-6);
        let diff = max_abs(&(a - b).unwrap());
        assert!(diff <= 1e-4 * scale, "{name}: gradients differ by {diff} (scale {scale})");
    }
}

#[test]
fn priors_over_codes_are_distributions_and_usage_is_counted() {
    let k = 4;
    // No training codes: every position uniform, so the cost is 49 ln K, the uniform prior's.
    let flat = PositionPrior::fit(&[], k);
    let codes = vec![1u32; POSITIONS];
    let uniform = vqvae::uniform_code_cost(&VqVaeConfig { codes: k, code_dim: 2, beta: 0.25 });
    assert!((flat.cost(&codes) - uniform).abs() < 1e-9 && (uniform - 49.0 * 4f64.ln()).abs() < 1e-12);
    // Codes seen often become cheap; draws follow the counts.
    let seen: Vec<Vec<u32>> = (0..200).map(|_| vec![2u32; POSITIONS]).collect();
    let prior = PositionPrior::fit(&seen, k);
    assert!(prior.cost(&[2; POSITIONS]) < 0.1 * uniform && prior.cost(&codes) > uniform);
    let mut rng = SeededRng::new(3);
    let drawn: Vec<u32> = (0..20).flat_map(|_| prior.sample(&mut rng)).collect();
    let twos = drawn.iter().filter(|&&c| c == 2).count() as f64 / drawn.len() as f64;
    assert!((twos - 201.0 / 204.0).abs() < 0.03, "{twos}");
    // Usage: all K equally -> perplexity K; one code -> 1.
    let all: Vec<Vec<u32>> = vec![(0..POSITIONS as u32).map(|i| i % 4).collect()];
    let (used, perplexity) = vqvae::codebook_usage(&all, 8);
    assert_eq!(used, 4);
    assert!((perplexity - 4.0).abs() < 0.05, "{perplexity}");
    assert_eq!(vqvae::codebook_usage(&seen, 8), (1, 1.0));
    // Prior tokens: <bos>, the codes past the four special tokens, <eos>.
    let t = vq_prior::prior_tokens(&[0, 5]);
    assert_eq!(t, vec![1, vq_prior::FIRST_CODE_ID, 5 + vq_prior::FIRST_CODE_ID, 2]);
}

#[test]
fn a_short_run_lowers_the_loss_and_the_trainer_scores_the_uniform_bound() {
    let dev = Device::Cpu;
    let data = Mnist::embedded().unwrap();
    let images = Images::new(&data.train.take(512), &data.test.take(100), &dev).unwrap();
    let cfg = VqVaeConfig { codes: 32, code_dim: 8, beta: 0.25 };
    let schedule = RunConfig { epochs: 2, batch_size: 64, lr: 1e-3, seed: 9, patience: None };
    let mut run = Run::<VqVae>::new(cfg, schedule, &dev).unwrap();
    run.fit(&images, |_| {}).unwrap();
    let losses: Vec<f64> = run.history.iter().map(|e| e.train_loss).collect();
    assert!(losses[1] < losses[0], "{losses:?}");
    let last = &run.history[1].eval;
    let score = vqvae::score(&run.model, &images.test).unwrap();
    assert!((last.loss - (score.recon + vqvae::uniform_code_cost(&cfg))).abs() < 1e-6, "{last:?}");
    assert!(score.mse > 0.0 && score.mse < 0.2 && score.quantization > 0.0, "{score:?}");
    let codes = run.model.codes_of(&images.test).unwrap();
    assert_eq!((codes.len(), codes[0].len()), (100, POSITIONS));
    assert!(codes.iter().flatten().all(|&c| (c as usize) < cfg.codes));
    let decoded = run.model.decode_codes(&codes[..3]).unwrap();
    assert_eq!(decoded.dims(), &[3, 784]);
}
