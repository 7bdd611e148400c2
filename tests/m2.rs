//! The semi-supervised VAE: its unlabelled bound is the labelled bounds averaged under q(y | x)
//! minus the entropy, its labels are drawn evenly and reproducibly, and its importance-sampled
//! likelihood is tighter than its bound.

use vae_book::candle_core::{D, DType, Device, Tensor};
use vae_book::candle_nn::{VarBuilder, VarMap, ops};
use vae_book::data::labelled::FewLabels;
use vae_book::data::{Images, Mnist};
use vae_book::init;
use vae_book::models::cvae::one_hot;
use vae_book::models::m2::{self, M2, M2Config};
use vae_book::prob::SeededRng;

fn small_model() -> M2 {
    let varmap = VarMap::new();
    let cfg = M2Config { hidden: 24, latent_dim: 3, ..M2Config::default() };
    let model = M2::new(cfg, VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap();
    init::pytorch_default_init(&varmap, 3).unwrap();
    model
}

fn digits(train: usize, test: usize) -> Images {
    let mut m = Mnist::embedded().unwrap();
    m.train = m.train.take(train);
    m.test = m.test.take(test);
    Images::from_mnist(&m, &Device::Cpu).unwrap()
}

#[test]
fn the_unlabelled_bound_sums_the_label_out() {
    let model = small_model();
    let x = digits(6, 1).train;
    let (b, k, d) = (6, 10, 3);
    let eps = SeededRng::new(1).normal(&[k * b, d], &Device::Cpu).unwrap();
    let got = model.unlabelled_bound(&x, &eps).unwrap().to_vec1::<f32>().unwrap();
    let q = ops::softmax(&model.classifier.forward(&x).unwrap(), D::Minus1).unwrap().to_vec2::<f32>().unwrap();
    let mut want = vec![0f32; b];
    for c in 0..k {
        let y = one_hot(&vec![c as u8; b], k, &Device::Cpu).unwrap();
        let bound = model.labelled_bound(&x, &y, &eps.narrow(0, c * b, b).unwrap()).unwrap().to_vec1::<f32>().unwrap();
        for ((w, q), bound) in want.iter_mut().zip(&q).zip(&bound) {
            // q(y|x) * (-L(x, y)) - (-q log q): the expected negative bound minus the entropy.
            *w += q[c] * bound + q[c] * q[c].ln();
        }
    }
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-3 * w.abs().max(1.0), "{got:?} vs {want:?}");
    }
}

#[test]
fn the_labelled_bound_includes_the_uniform_label_prior() {
    let model = small_model();
    let x = digits(4, 1).train;
    let y = one_hot(&[0, 1, 2, 3], 10, &Device::Cpu).unwrap();
    let eps = Tensor::zeros((4, 3), DType::F32, &Device::Cpu).unwrap();
    let got = model.labelled_bound(&x, &y, &eps).unwrap().to_vec1::<f32>().unwrap();
    let (mu, logvar) = model.encode(&x, &y).unwrap();
    let recon = vae_book::prob::bernoulli_log_likelihood_logits(&x, &model.decode(&mu, &y).unwrap()).unwrap();
    let kl = vae_book::prob::kl_standard_normal(&mu, &logvar).unwrap();
    let want = ((kl - recon).unwrap() + 10f64.ln()).unwrap().to_vec1::<f32>().unwrap();
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-3, "{got:?} vs {want:?}");
    }
}

#[test]
fn labels_are_drawn_evenly_reproducibly_and_apart_from_the_rest() {
    let few = FewLabels::draw(digits(500, 1), 4, 11).unwrap();
    let mut per_class = [0; 10];
    few.labels().iter().for_each(|&l| per_class[l as usize] += 1);
    assert_eq!(per_class, [4; 10]);
    let mut all: Vec<u32> = few.labelled.iter().chain(&few.unlabelled).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..500).collect::<Vec<u32>>(), "labelled and unlabelled split the training rows");
    assert_eq!(FewLabels::draw(digits(500, 1), 4, 11).unwrap().labelled, few.labelled);
    assert_ne!(FewLabels::draw(digits(500, 1), 4, 12).unwrap().labelled, few.labelled);
    let e = FewLabels::draw(digits(50, 1), 6, 1).err().unwrap().to_string();
    assert!(e.contains("fewer than the 6 images"), "{e}");
}

#[test]
fn labelled_batches_cycle_through_every_label() {
    let few = FewLabels::draw(digits(300, 1), 3, 5).unwrap();
    assert_eq!(few.labelled_batch(9, 100), few.labelled);
    let mut seen: Vec<u32> = (0..3).flat_map(|step| few.labelled_batch(step, 10)).collect();
    seen.sort_unstable();
    let mut want = few.labelled.clone();
    want.sort_unstable();
    assert_eq!(seen, want, "three batches of 10 visit all 30 labelled rows once");
}

#[test]
fn importance_sampling_is_tighter_than_the_bound() {
    let model = small_model();
    let test = digits(1, 40);
    let (bound, error) = m2::evaluate(&model, &test.test, &test.test_labels, 1).unwrap();
    let nll = m2::importance_nll(&model, &test.test, 20, 1).unwrap();
    assert!(nll < bound, "-log p(x) {nll} should be below the bound {bound}");
    assert!((0.0..=1.0).contains(&error));
    let pictures = m2::analogies(&model, &test.test.narrow(0, 0, 3).unwrap()).unwrap();
    assert_eq!(pictures.dims(), &[30, 784]);
}

#[test]
fn encoding_every_label_at_once_equals_encoding_each() {
    let model = small_model();
    let x = digits(5, 1).train;
    let (mu, logvar) = model.encode_every_label(&x).unwrap();
    for c in 0..10u8 {
        let y = one_hot(&[c; 5], 10, &Device::Cpu).unwrap();
        let (m, l) = model.encode(&x, &y).unwrap();
        for (fast, plain) in [(&mu, &m), (&logvar, &l)] {
            let fast = fast.narrow(0, 5 * c as usize, 5).unwrap();
            let diff = (fast - plain).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(diff < 1e-5, "label {c}: {diff}");
        }
    }
}

#[test]
fn the_experiment_runs_every_method_on_every_draw() {
    use vae_book::report::semi_supervised::{self, SemiSupervisedConfig};
    let dir = tempfile::tempdir().unwrap();
    let cfg = SemiSupervisedConfig::quick();
    let (r, figures) = semi_supervised::run(&cfg, &Device::Cpu, dir.path(), &mut |_| {}).unwrap();
    assert_eq!(r.draws.len(), cfg.seeds.len());
    assert!((r.test_majority - 0.1).abs() < 0.05, "the embedded test digits are balanced: {}", r.test_majority);
    for d in &r.draws {
        assert_eq!(d.m2_curve.len(), cfg.run.epochs);
        // With 10 labels per class every baseline beats chance (90% error) by far.
        for error in [d.knn_pixels, d.knn_vae, d.labels_only] {
            assert!(error < 0.7, "{d:?}");
        }
        assert!(d.m2_nll < d.m2_bound, "{d:?}");
    }
    assert!(figures.iter().all(|f| f.is_file()) && figures.len() == 2);
    let table = semi_supervised::table(&r);
    assert!(
        table.contains("| always the test set's most frequent digit |") && table.contains("11.97 ± 1.71"),
        "{table}"
    );
    let (mean, sd) = vae_book::report::mean_sd(&[1.0, 2.0, 3.0]);
    assert!((mean - 2.0).abs() < 1e-12 && (sd - 1.0).abs() < 1e-12);
}
