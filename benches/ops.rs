//! Micro-benchmarks of the fused kernels against the plain candle operations they replace,
//! at the classic VAE's sizes (batch 128, 784 pixels, 400 hidden units). `cargo bench --bench ops`
use candle_core::{Device, Tensor};
use std::time::Instant;
fn time<F: FnMut() -> candle_core::Result<()>>(name: &str, mut f: F) -> candle_core::Result<()> {
    for _ in 0..5 {
        f()?;
    }
    let n = 200;
    let s = Instant::now();
    for _ in 0..n {
        f()?;
    }
    println!("{name}: {:.1} us", s.elapsed().as_secs_f64() * 1e6 / n as f64);
    Ok(())
}
fn main() -> candle_core::Result<()> {
    let dev = Device::Cpu;
    let x = Tensor::rand(0f32, 1f32, (128, 784), &dev)?;
    let w = Tensor::rand(-0.03f32, 0.03f32, (400, 784), &dev)?;
    let b = Tensor::rand(-0.03f32, 0.03f32, 400, &dev)?;
    let w2 = Tensor::rand(-0.03f32, 0.03f32, (784, 400), &dev)?;
    let b2 = Tensor::rand(-0.03f32, 0.03f32, 784, &dev)?;
    let h = Tensor::rand(0f32, 1f32, (128, 400), &dev)?;
    time("candle linear 784->400", || {
        let _ = x.matmul(&w.t()?)?.broadcast_add(&b)?;
        Ok(())
    })?;
    time("fused linear 784->400", || {
        let _ = vae_book::cpu::fused::linear(&x, &w, &b, false)?;
        Ok(())
    })?;
    time("candle linear 400->784", || {
        let _ = h.matmul(&w2.t()?)?.broadcast_add(&b2)?;
        Ok(())
    })?;
    time("fused linear 400->784", || {
        let _ = vae_book::cpu::fused::linear(&h, &w2, &b2, false)?;
        Ok(())
    })?;
    let l = Tensor::randn(0f32, 3f32, (128, 784), &dev)?;
    time("plain bernoulli", || {
        let _ = vae_book::prob::bernoulli_log_likelihood_logits(&x, &l)?;
        Ok(())
    })?;
    time("fused bernoulli", || {
        let _ = vae_book::cpu::fused::bernoulli_nll(&x, &l)?;
        Ok(())
    })?;
    time("relu", || {
        let _ = h.relu()?;
        Ok(())
    })?;
    time("fused relu", || {
        let _ = vae_book::cpu::fused::relu(&h)?;
        Ok(())
    })?;
    let g = Tensor::rand(0f32, 1f32, (128, 400), &dev)?;
    time("grad_w g^T x", || {
        let _ = g.t()?.matmul(&x)?;
        Ok(())
    })?;
    let g2 = Tensor::rand(0f32, 1f32, (128, 784), &dev)?;
    time("grad_x g2 w2", || {
        let _ = g2.matmul(&w2)?;
        Ok(())
    })?;
    time("grad_w2 g2^T h", || {
        let _ = g2.t()?.matmul(&h)?;
        Ok(())
    })?;
    time("sum0", || {
        let _ = g2.sum(0)?;
        Ok(())
    })?;
    time("zeros+add", || {
        let z = w2.zeros_like()?;
        let _ = z.add(&w2)?;
        Ok(())
    })?;
    // One backward pass of the whole model, fused and plain, on a fixed batch.
    let varmap = candle_nn::VarMap::new();
    let model = vae_book::train::build_model(vae_book::models::vae::VaeConfig::default(), &varmap, &dev)?;
    vae_book::init::pytorch_default_init(&varmap, 1)?;
    let eps = Tensor::randn(0f32, 1f32, (128, 20), &dev)?;
    let fast = vae_book::models::vae::negative_elbo_fast(&x, &model.forward_fast(&x, &eps)?)?.total;
    let plain = vae_book::models::vae::negative_elbo(&x, &model.forward(&x, &eps)?)?.total;
    time("model forward fused", || {
        let _ = vae_book::models::vae::negative_elbo_fast(&x, &model.forward_fast(&x, &eps)?)?;
        Ok(())
    })?;
    time("model backward fused", || {
        let _ = fast.backward()?;
        Ok(())
    })?;
    time("model backward plain", || {
        let _ = plain.backward()?;
        Ok(())
    })?;
    let wv = candle_core::Var::from_tensor(&w)?;
    let bv = candle_core::Var::from_tensor(&b)?;
    let out1 = vae_book::cpu::fused::linear(&x, &wv, &bv, false)?.sum_all()?;
    time("backward of fused linear 784->400 (no input grad)", || {
        let _ = out1.backward()?;
        Ok(())
    })?;
    let hv = candle_core::Var::from_tensor(&h)?;
    let w2v = candle_core::Var::from_tensor(&w2)?;
    let b2v = candle_core::Var::from_tensor(&b2)?;
    let out2 = vae_book::cpu::fused::linear(&hv, &w2v, &b2v, true)?.sum_all()?;
    time("backward of fused linear 400->784 (input grad)", || {
        let _ = out2.backward()?;
        Ok(())
    })?;
    let r = vae_book::cpu::fused::relu(&hv)?.sum_all()?;
    time("backward of fused relu 128x400", || {
        let _ = r.backward()?;
        Ok(())
    })?;
    let l = candle_core::Var::from_tensor(&l)?;
    let nll = vae_book::cpu::fused::bernoulli_nll(&x, &l)?.mean_all()?;
    time("backward of fused bernoulli", || {
        let _ = nll.backward()?;
        Ok(())
    })?;
    Ok(())
}
