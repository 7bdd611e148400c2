//! The probability pieces against closed forms and naive forms.

use candle_core::{Device, Tensor};
use vae_book::prob::{self, SeededRng};

fn scalar_vec(t: &Tensor) -> Vec<f32> {
    t.to_vec1::<f32>().unwrap()
}

#[test]
fn analytic_kl_matches_monte_carlo() {
    let dev = Device::Cpu;
    let mu = Tensor::new(&[[0.5f32, -1.0, 0.0], [2.0, 0.3, -0.7]], &dev).unwrap();
    let logvar = Tensor::new(&[[0.0f32, -1.0, 0.5], [-2.0, 0.2, 1.0]], &dev).unwrap();
    let analytic = scalar_vec(&prob::kl_standard_normal(&mu, &logvar).unwrap());
    // KL = E_q[log q(z) - log p(z)], estimated with 200,000 samples per row.
    let n = 200_000;
    let mut rng = SeededRng::new(7);
    for (row, &want) in analytic.iter().enumerate() {
        let m = mu.get(row).unwrap().unsqueeze(0).unwrap().broadcast_as((n, 3)).unwrap();
        let lv = logvar.get(row).unwrap().unsqueeze(0).unwrap().broadcast_as((n, 3)).unwrap();
        let eps = rng.normal(&[n, 3], &dev).unwrap();
        let z = prob::reparameterize(&m, &lv, &eps).unwrap();
        let log_q = prob::gaussian_log_density(&z, &m, &lv).unwrap();
        let log_p = prob::standard_normal_log_density(&z).unwrap();
        let mc = (log_q - log_p).unwrap().mean_all().unwrap().to_scalar::<f32>().unwrap();
        let err = (mc - want).abs();
        assert!(err < 0.02, "row {row}: analytic {} vs Monte Carlo {mc}", want);
    }
    assert!(analytic.iter().all(|&k| k > 0.0), "KL must be positive here: {analytic:?}");
}

#[test]
fn kl_is_zero_only_at_the_prior() {
    let dev = Device::Cpu;
    let zeros = Tensor::zeros((1, 4), candle_core::DType::F32, &dev).unwrap();
    let kl = scalar_vec(&prob::kl_standard_normal(&zeros, &zeros).unwrap());
    assert_eq!(kl, vec![0.0]);
    let shifted = (zeros.clone() + 0.1).unwrap();
    assert!(scalar_vec(&prob::kl_standard_normal(&shifted, &zeros).unwrap())[0] > 0.0);
}

#[test]
fn kl_between_two_gaussians_matches_monte_carlo_and_the_standard_case() {
    let dev = Device::Cpu;
    let mu_q = Tensor::new(&[[0.5f32, -1.0, 0.0]], &dev).unwrap();
    let lv_q = Tensor::new(&[[0.0f32, -1.0, 0.5]], &dev).unwrap();
    let mu_p = Tensor::new(&[[-0.3f32, 0.4, 1.0]], &dev).unwrap();
    let lv_p = Tensor::new(&[[0.7f32, -0.5, -0.2]], &dev).unwrap();
    let analytic = scalar_vec(&prob::kl_gaussians(&mu_q, &lv_q, &mu_p, &lv_p).unwrap())[0];
    let n = 200_000;
    let (mq, lq) = (mu_q.broadcast_as((n, 3)).unwrap(), lv_q.broadcast_as((n, 3)).unwrap());
    let (mp, lp) = (mu_p.broadcast_as((n, 3)).unwrap(), lv_p.broadcast_as((n, 3)).unwrap());
    let z = prob::reparameterize(&mq, &lq, &SeededRng::new(3).normal(&[n, 3], &dev).unwrap()).unwrap();
    let log_ratio =
        (prob::gaussian_log_density(&z, &mq, &lq).unwrap() - prob::gaussian_log_density(&z, &mp, &lp)).unwrap();
    let mc = log_ratio.mean_all().unwrap().to_scalar::<f32>().unwrap();
    assert!((mc - analytic).abs() < 0.02, "analytic {analytic} vs Monte Carlo {mc}");
    // Against N(0, I) it is the VAE's KL term.
    let zeros = mu_q.zeros_like().unwrap();
    let standard = scalar_vec(&prob::kl_gaussians(&mu_q, &lv_q, &zeros, &zeros).unwrap())[0];
    let vae = scalar_vec(&prob::kl_standard_normal(&mu_q, &lv_q).unwrap())[0];
    assert!((standard - vae).abs() < 1e-6, "{standard} vs {vae}");
}

#[test]
fn gaussian_log_density_matches_scalar_formula() {
    let dev = Device::Cpu;
    let x = Tensor::new(&[[0.3f32, -1.2]], &dev).unwrap();
    let mu = Tensor::new(&[[0.0f32, 0.5]], &dev).unwrap();
    let logvar = Tensor::new(&[[0.4f32, -0.3]], &dev).unwrap();
    let got = scalar_vec(&prob::gaussian_log_density(&x, &mu, &logvar).unwrap())[0] as f64;
    let one = |x: f64, m: f64, lv: f64| -0.5 * ((2.0 * std::f64::consts::PI).ln() + lv + (x - m).powi(2) / lv.exp());
    let want = one(0.3, 0.0, 0.4) + one(-1.2, 0.5, -0.3);
    assert!((got - want).abs() < 1e-5, "{got} vs {want}");
}

#[test]
fn stable_bernoulli_matches_naive_on_safe_inputs() {
    let dev = Device::Cpu;
    let x = Tensor::new(&[[0.0f32, 1.0, 0.25, 0.9], [1.0, 0.0, 0.5, 0.1]], &dev).unwrap();
    let logits = Tensor::new(&[[-3.0f32, 2.5, 0.1, 8.0], [-0.5, 4.0, -6.0, 1.0]], &dev).unwrap();
    let stable = scalar_vec(&prob::bernoulli_log_likelihood_logits(&x, &logits).unwrap());
    let naive = scalar_vec(&prob::bernoulli_log_likelihood_naive(&x, &logits).unwrap());
    for (s, n) in stable.iter().zip(&naive) {
        assert!((s - n).abs() < 1e-4, "stable {s} vs naive {n}");
    }
}

#[test]
fn stable_bernoulli_survives_large_logits_where_naive_fails() {
    let dev = Device::Cpu;
    let x = Tensor::new(&[[0.0f32, 1.0]], &dev).unwrap();
    let logits = Tensor::new(&[[40.0f32, -40.0]], &dev).unwrap();
    let stable = scalar_vec(&prob::bernoulli_log_likelihood_logits(&x, &logits).unwrap())[0];
    // Each pixel is 40 nats wrong: log p = -softplus(40) - softplus(40) = -80 (to f32 precision).
    assert!((stable + 80.0).abs() < 1e-3, "stable gives {stable}");
    let naive = scalar_vec(&prob::bernoulli_log_likelihood_naive(&x, &logits).unwrap())[0];
    assert!(!naive.is_finite(), "the naive form should break here, gave {naive}");
}

#[test]
fn reparameterization_has_the_right_moments_and_gradients() {
    let dev = Device::Cpu;
    let n = 100_000;
    let mu = candle_core::Var::new(&[1.5f32], &dev).unwrap();
    let logvar = candle_core::Var::new(&[(0.25f32).ln()], &dev).unwrap(); // sigma = 0.5
    let eps = SeededRng::new(3).normal(&[n], &dev).unwrap();
    let z = prob::reparameterize(&mu.broadcast_as(n).unwrap(), &logvar.broadcast_as(n).unwrap(), &eps).unwrap();
    let v = scalar_vec(&z);
    let mean = v.iter().sum::<f32>() / n as f32;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n as f32;
    assert!((mean - 1.5).abs() < 0.01 && (var - 0.25).abs() < 0.01, "mean {mean}, var {var}");
    // d mean(z) / d mu = 1: the gradient flows through the sample.
    let grads = z.mean_all().unwrap().backward().unwrap();
    let g = grads.get(&mu).unwrap().to_vec1::<f32>().unwrap()[0];
    // 1 up to f32 rounding in the sum over 100,000 samples.
    assert!((g - 1.0).abs() < 1e-4, "d z / d mu = {g}");
}

#[test]
fn seeded_rng_is_reproducible_and_streams_differ() {
    let dev = Device::Cpu;
    let a = SeededRng::derived(1, "noise", 3).normal(&[5], &dev).unwrap().to_vec1::<f32>().unwrap();
    let b = SeededRng::derived(1, "noise", 3).normal(&[5], &dev).unwrap().to_vec1::<f32>().unwrap();
    let c = SeededRng::derived(1, "noise", 4).normal(&[5], &dev).unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    let mut p = SeededRng::new(9).permutation(100);
    p.sort();
    assert_eq!(p, (0..100).collect::<Vec<u32>>());
}
