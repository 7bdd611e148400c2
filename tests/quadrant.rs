//! Quadrant completion: the masks, the masked loss, early stopping, and a CVAE whose completions
//! depend on what it is shown.

use vae_book::candle_core::{DType, Device, Tensor};
use vae_book::data::Mnist;
use vae_book::models::quadrant::{self, QuadrantConfig, Task};
use vae_book::prob::SeededRng;
use vae_book::train::Schedule;

#[test]
fn masks_show_the_quadrants_pyro_shows() {
    let count = |q| quadrant::observed_mask(q, 28).unwrap().iter().filter(|&&v| v == 1.0).count();
    assert_eq!((count(1), count(2), count(3)), (196, 392, 588));
    let m1 = quadrant::observed_mask(1, 28).unwrap();
    assert_eq!(m1[27 * 28], 1.0, "bottom-left corner is shown");
    assert_eq!(m1[0], 0.0, "top-left is hidden with one quadrant");
    let m3 = quadrant::observed_mask(3, 28).unwrap();
    assert_eq!((m3[27], m3[27 * 28 + 27]), (1.0, 0.0), "three quadrants: only the bottom right is hidden");
    for bad in [0, 4] {
        let err = quadrant::observed_mask(bad, 28).unwrap_err().to_string();
        assert!(err.contains("1, 2 or 3"), "{err}");
    }
}

#[test]
fn the_input_hides_exactly_the_missing_pixels() {
    let dev = Device::Cpu;
    let x = SeededRng::new(1).normal(&[3, 16], &dev).unwrap().abs().unwrap().clamp(0f32, 1.0).unwrap();
    let task = Task::new(&x, 2).unwrap();
    let (img, inp) = (x.to_vec2::<f32>().unwrap(), task.input.to_vec2::<f32>().unwrap());
    let observed = quadrant::observed_mask(2, 4).unwrap();
    for (r, row) in img.iter().enumerate() {
        for (i, &v) in row.iter().enumerate() {
            let want = if observed[i] == 1.0 { v } else { -1.0 };
            assert_eq!(inp[r][i], want, "row {r}, pixel {i}");
        }
    }
    let err = Task::new(&Tensor::zeros((2, 15), DType::F32, &dev).unwrap(), 1).err().unwrap().to_string();
    assert!(err.contains("square"), "{err}");
}

#[test]
fn the_masked_loss_ignores_shown_pixels_and_never_beats_the_entropy_floor() {
    let dev = Device::Cpu;
    let x = Tensor::new(&[[0.0f32, 0.3, 1.0, 0.8], [0.5, 0.5, 0.0, 0.1]], &dev).unwrap();
    let task = Task::new(&x, 1).unwrap(); // 2x2 images: only the bottom-left pixel (index 2) is shown
    let logits = SeededRng::new(2).normal(&[2, 4], &dev).unwrap();
    let nll = quadrant::masked_nll(&x, &logits, &task.missing).unwrap().to_vec1::<f32>().unwrap();
    // changing the logit of the shown pixel changes nothing
    let bump = Tensor::new(&[[0f32, 0.0, 5.0, 0.0], [0.0, 0.0, -5.0, 0.0]], &dev).unwrap();
    let moved = quadrant::masked_nll(&x, &(&logits + bump).unwrap(), &task.missing).unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(nll, moved);
    // the exact probabilities reach the floor, anything else is above it
    let floor = task.entropy_floor().unwrap().to_vec1::<f32>().unwrap();
    let p = x.clamp(1e-7f32, 1.0 - 1e-7).unwrap();
    let exact = (p.log().unwrap() - p.affine(-1.0, 1.0).unwrap().log().unwrap()).unwrap();
    let best = quadrant::masked_nll(&x, &exact, &task.missing).unwrap().to_vec1::<f32>().unwrap();
    for r in 0..2 {
        assert!((best[r] - floor[r]).abs() < 1e-4, "row {r}: {} vs floor {}", best[r], floor[r]);
        assert!(nll[r] > floor[r], "row {r}");
    }
}

#[test]
fn a_short_run_learns_and_completions_depend_on_the_input() {
    let dev = Device::Cpu;
    let data = Mnist::embedded().unwrap();
    let x = data.train.take(2200).images(&dev).unwrap();
    let (task, valid) = (
        Task::new(&x.narrow(0, 0, 2000).unwrap(), 2).unwrap(),
        Task::new(&x.narrow(0, 2000, 200).unwrap(), 2).unwrap(),
    );
    let cfg = QuadrantConfig { hidden: 128, latent_dim: 8, ..QuadrantConfig::default() };
    let schedule = Schedule { max_epochs: 10, patience: 3, batch_size: 64, lr: 1e-3, seed: 3 };
    let (baseline, _, fit) = quadrant::train_baseline(cfg, &task, &valid, schedule, |_, _, _| {}).unwrap();
    assert!(fit.valid.last().unwrap() < &(fit.valid[0] - 5.0), "baseline validation loss falls: {fit:?}");
    let (cvae, _, fit) = quadrant::train_cvae(cfg, &baseline, &task, &valid, schedule, |_, _, _| {}).unwrap();
    assert!(fit.valid.last().unwrap() < &fit.valid[0], "CVAE validation -ELBO falls: {fit:?}");
    assert_eq!(fit.train.len(), fit.valid.len());

    let test = Task::new(&data.test.take(40).images(&dev).unwrap(), 2).unwrap();
    let s = quadrant::evaluate(&baseline, &cvae, &test, 2, 50, 7).unwrap();
    assert!(s.cvae_importance < s.cvae_elbo, "importance sampling tightens the bound: {s:?}");
    for v in [s.baseline, s.cvae_elbo, s.cvae_importance, s.cvae_prior_mc] {
        assert!(v > s.floor && v.is_finite(), "{s:?}");
    }

    // Completions keep the shown pixels and change with them.
    let guess = quadrant::baseline_guess(&baseline, &test).unwrap();
    let done = quadrant::complete(&cvae, &test, &guess, 2, &mut SeededRng::new(8)).unwrap();
    assert_eq!(done.dims(), &[80, 784]);
    let shown = (done.narrow(0, 0, 40).unwrap().broadcast_mul(&test.observed).unwrap()
        - test.images.broadcast_mul(&test.observed).unwrap())
    .unwrap();
    assert!(shown.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap() < 1e-6);
    // A completion is closer to its own digit's hidden pixels than to another digit's.
    let hidden = |t: &Tensor| t.broadcast_mul(&test.missing).unwrap();
    let (mine, truth) = (hidden(&done.narrow(0, 0, 40).unwrap()), hidden(&test.images));
    let others = Tensor::cat(&[truth.narrow(0, 1, 39).unwrap(), truth.narrow(0, 0, 1).unwrap()], 0).unwrap();
    let sq = |a: &Tensor, b: &Tensor| (a - b).unwrap().sqr().unwrap().mean_all().unwrap().to_scalar::<f32>().unwrap();
    let (own, other) = (sq(&mine, &truth), sq(&mine, &others));
    assert!(own < 0.8 * other, "completions follow what is shown: error to own digit {own}, to another {other}");
}
