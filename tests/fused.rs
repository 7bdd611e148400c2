//! The fused CPU kernels against the plain tensor code they replace: same values, same gradients.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use vae_book::cpu::fused;
use vae_book::models::vae::{VaeConfig, negative_elbo, negative_elbo_fast};
use vae_book::optim::Adam;
use vae_book::prob::{self, SeededRng};
use vae_book::train::{build_model, named_vars};

fn close(a: &Tensor, b: &Tensor, tol: f32, what: &str) {
    let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!((x - y).abs() <= tol * scale, "{what}[{i}]: fused {x} vs plain {y} (scale {scale})");
    }
}

#[test]
fn linear_matches_matmul_plus_bias_with_gradients() {
    let dev = Device::Cpu;
    let mut rng = SeededRng::new(1);
    let x = Var::from_tensor(&rng.normal(&[5, 7], &dev).unwrap()).unwrap();
    let w = Var::from_tensor(&rng.normal(&[3, 7], &dev).unwrap()).unwrap();
    let b = Var::from_tensor(&rng.normal(&[3], &dev).unwrap()).unwrap();
    let plain = x.matmul(&w.t().unwrap()).unwrap().broadcast_add(&b).unwrap();
    let fast = fused::linear(&x, &w, &b, true).unwrap();
    close(&fast, &plain, 1e-5, "output");
    let weights = rng.normal(&[5, 3], &dev).unwrap(); // a loss that weights every output differently
    let gp = (plain * &weights).unwrap().sum_all().unwrap().backward().unwrap();
    let gf = (fast * &weights).unwrap().sum_all().unwrap().backward().unwrap();
    for (v, name) in [(&x, "x"), (&w, "w"), (&b, "b")] {
        close(gf.get(v).unwrap(), gp.get(v).unwrap(), 1e-5, name);
    }
    // Without the input gradient, x gets none and the others are unchanged.
    let g = (fused::linear(&x, &w, &b, false).unwrap() * &weights).unwrap().sum_all().unwrap().backward().unwrap();
    assert!(g.get(&x).is_none());
    close(g.get(&w).unwrap(), gp.get(&w).unwrap(), 1e-5, "w without input grad");
}

#[test]
fn relu_matches_with_gradient() {
    let dev = Device::Cpu;
    let x = Var::from_tensor(&SeededRng::new(2).normal(&[4, 9], &dev).unwrap()).unwrap();
    let w = SeededRng::new(3).normal(&[4, 9], &dev).unwrap();
    close(&fused::relu(&x).unwrap(), &x.relu().unwrap(), 0.0, "relu");
    let gp = (x.relu().unwrap() * &w).unwrap().sum_all().unwrap().backward().unwrap();
    let gf = (fused::relu(&x).unwrap() * &w).unwrap().sum_all().unwrap().backward().unwrap();
    close(gf.get(&x).unwrap(), gp.get(&x).unwrap(), 0.0, "relu grad");
}

#[test]
fn bernoulli_matches_the_stable_formula_over_a_wide_range() {
    let dev = Device::Cpu;
    // Logits from -40 to 40 (including exact zeros), targets from 0 to 1.
    let n = 784;
    let l: Vec<f32> = (0..2 * n).map(|i| -40.0 + 80.0 * (i % n) as f32 / (n - 1) as f32).collect();
    let x: Vec<f32> = (0..2 * n).map(|i| ((i * 37) % 101) as f32 / 100.0).collect();
    let l = Var::from_tensor(&Tensor::from_vec(l, (2, n), &dev).unwrap()).unwrap();
    let x = Tensor::from_vec(x, (2, n), &dev).unwrap();
    let plain = prob::bernoulli_log_likelihood_logits(&x, &l).unwrap().neg().unwrap();
    let fast = fused::bernoulli_nll(&x, &l).unwrap();
    close(&fast, &plain, 1e-5, "nll");
    let gp = plain.sum_all().unwrap().backward().unwrap();
    let gf = fast.sum_all().unwrap().backward().unwrap();
    close(gf.get(&l).unwrap(), gp.get(&l).unwrap(), 1e-5, "d nll / d logits");
}

#[test]
fn fast_model_path_matches_the_plain_one() {
    let dev = Device::Cpu;
    let cfg = VaeConfig { input_dim: 784, hidden: 48, latent_dim: 6 };
    let varmap = VarMap::new();
    let model = build_model(cfg, &varmap, &dev).unwrap();
    vae_book::init::pytorch_default_init(&varmap, 9).unwrap();
    let x = vae_book::data::Mnist::embedded().unwrap().test.images(&dev).unwrap().narrow(0, 0, 32).unwrap();
    let eps = SeededRng::new(4).normal(&[32, 6], &dev).unwrap();
    let plain = negative_elbo(&x, &model.forward(&x, &eps).unwrap()).unwrap();
    let fast = negative_elbo_fast(&x, &model.forward_fast(&x, &eps).unwrap()).unwrap();
    close(&fast.total, &plain.total, 1e-5, "loss");
    let gp = plain.total.backward().unwrap();
    let gf = fast.total.backward().unwrap();
    for (name, var) in named_vars(&varmap).unwrap() {
        close(gf.get(&var).unwrap(), gp.get(&var).unwrap(), 1e-4, &name);
    }
}

#[test]
fn fused_adam_matches_the_tensor_version() {
    let dev = Device::Cpu;
    let make = || {
        let w = Var::from_tensor(&SeededRng::new(5).normal(&[6, 4], &dev).unwrap()).unwrap();
        let b = Var::zeros(4, DType::F32, &dev).unwrap();
        vec![("w".to_string(), w), ("b".to_string(), b)]
    };
    let (va, vb) = (make(), make());
    let mut fused = Adam::with_kernel(va.clone(), 0.01, true).unwrap();
    let mut plain = Adam::with_kernel(vb.clone(), 0.01, false).unwrap();
    let x = SeededRng::new(6).normal(&[3, 6], &dev).unwrap();
    for _ in 0..5 {
        for (opt, vars) in [(&mut fused, &va), (&mut plain, &vb)] {
            let loss =
                x.matmul(&vars[0].1).unwrap().broadcast_add(&vars[1].1).unwrap().sqr().unwrap().sum_all().unwrap();
            opt.step(&loss.backward().unwrap()).unwrap();
        }
    }
    for (a, b) in va.iter().zip(&vb) {
        close(a.1.as_tensor(), b.1.as_tensor(), 1e-5, &a.0);
    }
    // The saved state is the same too, so checkpoints do not depend on the kernel.
    for ((na, ta), (nb, tb)) in fused.state().unwrap().iter().zip(plain.state().unwrap().iter()) {
        assert_eq!(na, nb);
        close(ta, tb, 1e-4, na);
    }
}

#[test]
fn hand_written_backward_matches_autograd() {
    let dev = Device::Cpu;
    let cfg = VaeConfig { input_dim: 784, hidden: 40, latent_dim: 5 };
    let varmap = VarMap::new();
    let model = build_model(cfg, &varmap, &dev).unwrap();
    vae_book::init::pytorch_default_init(&varmap, 11).unwrap();
    let x = vae_book::data::Mnist::embedded().unwrap().test.images(&dev).unwrap().narrow(0, 0, 24).unwrap();
    let eps = SeededRng::new(12).normal(&[24, 5], &dev).unwrap();
    // beta = 1 is the VAE; beta = 4 checks the KL term's weight in the beta-VAE's gradients.
    for beta in [1.0, 4.0] {
        let plain = negative_elbo(&x, &model.forward(&x, &eps).unwrap()).unwrap();
        let objective = (&plain.recon + (&plain.kl * beta).unwrap()).unwrap();
        let grads = objective.backward().unwrap();
        let mut step = vae_book::cpu::manual::ManualStep::new();
        let x_host = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let eps_host = eps.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let loss = step.run(&model, &x_host, &eps_host, 24, beta).unwrap();
        let want = objective.to_scalar::<f32>().unwrap() as f64;
        assert!((loss.total - want).abs() < 1e-3, "beta {beta}: loss {} vs autograd {want}", loss.total);
        assert!((loss.kl - plain.kl.to_scalar::<f32>().unwrap() as f64).abs() < 1e-4);
        for (name, var) in named_vars(&varmap).unwrap() {
            let g = step.grad(&name).unwrap_or_else(|| panic!("no gradient for {name}"));
            let g = Tensor::from_slice(g, var.dims(), &dev).unwrap();
            close(&g, grads.get(&var).unwrap(), 1e-4, &format!("{name} (beta {beta})"));
        }
    }
}

/// A candle layer's output and gradients (input, weight, bias) under a loss that weights every
/// output differently, for the plain op and for the fast one.
fn conv_case(
    plain: impl Fn(&Tensor) -> Tensor,
    fast: impl Fn(&Tensor) -> Tensor,
    x: &Var,
    params: &[(&str, &Tensor)],
    what: &str,
) {
    let (yp, yf) = (plain(x), fast(x));
    assert_eq!(yp.dims(), yf.dims(), "{what}: shapes");
    close(&yf, &yp, 1e-4, &format!("{what} output"));
    let weights = SeededRng::new(21).normal(yp.dims(), &Device::Cpu).unwrap();
    let gp = (yp * &weights).unwrap().sum_all().unwrap().backward().unwrap();
    let gf = (yf * &weights).unwrap().sum_all().unwrap().backward().unwrap();
    close(gf.get(x).unwrap(), gp.get(x).unwrap(), 1e-4, &format!("{what} d/dx"));
    for (name, t) in params {
        close(gf.get(t).unwrap(), gp.get(t).unwrap(), 1e-4, &format!("{what} d/d{name}"));
    }
}

#[test]
fn fast_convolutions_match_candles_with_every_gradient() {
    use candle_nn::{Conv2dConfig, ConvTranspose2dConfig, Module, VarBuilder};
    use vae_book::cpu::conv;
    let dev = Device::Cpu;
    // (batch, channels in, out, side, kernel, stride, padding, output padding): the conv VAE's
    // layers, a side that the stride does not divide, no padding, and a batch of one (one thread).
    let cases = [
        (5, 1, 4, 28, 3, 2, 1, 1),
        (3, 6, 5, 7, 3, 2, 1, 1),
        (4, 3, 2, 9, 3, 1, 1, 0),
        (2, 2, 3, 8, 5, 3, 2, 2),
        (1, 3, 4, 6, 2, 1, 0, 0),
        (2, 2, 3, 5, 3, 2, 0, 1), // output padding beyond the padding: a row only the bias reaches
    ];
    for (i, &(n, cin, cout, side, k, stride, pad, out_pad)) in cases.iter().enumerate() {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        let down = Conv2dConfig { padding: pad, stride, ..Default::default() };
        let up = ConvTranspose2dConfig { padding: pad, stride, output_padding: out_pad, ..Default::default() };
        let c = candle_nn::conv2d(cin, cout, k, down, vb.pp("c")).unwrap();
        let t = candle_nn::conv_transpose2d(cin, cout, k, up, vb.pp("t")).unwrap();
        vae_book::init::pytorch_default_init(&varmap, 30 + i as u64).unwrap();
        let x = Var::from_tensor(&SeededRng::new(40 + i as u64).normal(&[n, cin, side, side], &dev).unwrap()).unwrap();
        let cp = [("w", c.weight()), ("b", c.bias().unwrap())];
        conv_case(|x| c.forward(x).unwrap(), |x| conv::conv2d(&c, x, true).unwrap(), &x, &cp, &format!("conv {i}"));
        let tp = [("w", t.weight()), ("b", t.bias().unwrap())];
        let fast_t = |x: &Tensor| conv::conv_transpose2d(&t, x).unwrap();
        conv_case(|x| t.forward(x).unwrap(), fast_t, &x, &tp, &format!("transposed {i}"));
        // With the ReLU inside the op.
        let relu_c = |x: &Tensor| conv::conv2d_relu(&c, x, true).unwrap();
        conv_case(|x| c.forward(x).unwrap().relu().unwrap(), relu_c, &x, &cp, &format!("conv+relu {i}"));
        let relu_t = |x: &Tensor| conv::conv_transpose2d_relu(&t, x).unwrap();
        conv_case(|x| t.forward(x).unwrap().relu().unwrap(), relu_t, &x, &tp, &format!("transposed+relu {i}"));
        // Without the input gradient (the first layer reads data), x gets none.
        let y = conv::conv2d(&c, &x, false).unwrap();
        assert!(y.sum_all().unwrap().backward().unwrap().get(&x).is_none());
    }
}

#[test]
fn fast_gru_matches_candles_steps_with_every_gradient() {
    use candle_nn::rnn::{GRUConfig, GRUState, RNN};
    use vae_book::cpu::gru::{self, GruWeights};
    let dev = Device::Cpu;
    // (steps, batch, input, hidden): an odd batch split over two threads, and a batch of one.
    for (i, &(t_max, b, input, hidden)) in [(5, 7, 4, 6), (3, 1, 3, 5), (1, 4, 2, 3)].iter().enumerate() {
        let varmap = VarMap::new();
        let vb = candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        let layer = candle_nn::rnn::gru(input, hidden, GRUConfig::default(), vb.pp("g")).unwrap();
        let w = GruWeights::new(input, hidden, vb.pp("g")).unwrap();
        vae_book::init::pytorch_default_init(&varmap, 50 + i as u64).unwrap();
        let mut rng = SeededRng::new(60 + i as u64);
        let x = Var::from_tensor(&rng.normal(&[t_max, b, input], &dev).unwrap()).unwrap();
        let h0 = Var::from_tensor(&rng.normal(&[b, hidden], &dev).unwrap()).unwrap();
        let mut state = GRUState { h: h0.as_tensor().clone() };
        let mut states = Vec::new();
        for t in 0..t_max {
            state = layer.step(&x.get(t).unwrap(), &state).unwrap();
            states.push(state.h().clone());
        }
        let plain = Tensor::stack(&states, 0).unwrap();
        let fast = gru::sequence(&w, &x, &h0).unwrap();
        close(&fast, &plain, 1e-5, &format!("case {i}: states"));
        let weights = rng.normal(plain.dims(), &dev).unwrap();
        let gp = (plain * &weights).unwrap().sum_all().unwrap().backward().unwrap();
        let gf = (fast * &weights).unwrap().sum_all().unwrap().backward().unwrap();
        close(gf.get(&x).unwrap(), gp.get(&x).unwrap(), 1e-4, &format!("case {i}: d/dx"));
        close(gf.get(&h0).unwrap(), gp.get(&h0).unwrap(), 1e-4, &format!("case {i}: d/dh0"));
        for (name, var) in named_vars(&varmap).unwrap() {
            close(gf.get(&var).unwrap(), gp.get(&var).unwrap(), 1e-4, &format!("case {i}: {name}"));
        }
    }
}

#[test]
fn fast_layers_refuse_what_they_cannot_do_with_an_error() {
    use candle_nn::{Conv2dConfig, VarBuilder};
    use vae_book::cpu::{conv, gru};
    let dev = Device::Cpu;
    let vb = VarBuilder::from_varmap(&VarMap::new(), DType::F32, &dev);
    let layer = candle_nn::conv2d(1, 2, 5, Conv2dConfig::default(), vb.pp("c")).unwrap();
    let small = Tensor::zeros((1, 1, 3, 3), DType::F32, &dev).unwrap();
    let err = conv::conv2d(&layer, &small, true).unwrap_err().to_string();
    assert!(err.contains("kernel does not fit an input of side 3"), "{err}");
    let w = gru::GruWeights::new(2, 3, vb.pp("g")).unwrap();
    let (x, h0) =
        (Tensor::zeros((0, 4, 2), DType::F32, &dev).unwrap(), Tensor::zeros((4, 3), DType::F32, &dev).unwrap());
    let err = gru::sequence(&w, &x, &h0).unwrap_err().to_string();
    assert!(err.contains("a sequence of no steps"), "{err}");
}
