//! Where one training epoch of the classic VAE spends its time: forward + loss, backward, optimizer.
//! `cargo bench --bench phases`
use candle_core::{Device, Tensor};
use std::time::Instant;
use vae_book::prob::SeededRng;
use vae_book::train::{TrainConfig, Trainer};

fn main() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let mut t = Trainer::new(TrainConfig::default(), &dev)?;
    let x_train = t.data.train.images(&dev)?;
    let mut opt = vae_book::optim::Adam::new(vae_book::train::named_vars(&t.varmap)?, 1e-3)?;
    for epoch in 1..=4u64 {
        let perm = SeededRng::derived(42, "shuffle", epoch).permutation(x_train.dim(0)?);
        let mut noise = SeededRng::derived(42, "noise", epoch);
        let (mut fwd, mut bwd, mut step) = (0.0, 0.0, 0.0);
        for idx in perm.chunks(128) {
            let s = Instant::now();
            let idx = Tensor::from_slice(idx, idx.len(), &dev)?;
            let x = x_train.index_select(&idx, 0)?;
            let eps = noise.normal(&[idx.dim(0)?, 20], &dev)?;
            let out = t.model.forward_fast(&x, &eps)?;
            let loss = vae_book::vae::negative_elbo_fast(&x, &out)?;
            let _ = loss.total.to_scalar::<f32>()?;
            let s2 = Instant::now();
            let grads = loss.total.backward()?;
            let s3 = Instant::now();
            opt.step(&grads)?;
            let s4 = Instant::now();
            fwd += (s2 - s).as_secs_f64();
            bwd += (s3 - s2).as_secs_f64();
            step += (s4 - s3).as_secs_f64();
        }
        println!("epoch {epoch}: forward+loss {fwd:.3} s, backward {bwd:.3} s, optimizer {step:.3} s");
    }
    let _ = t.train_epoch(|_, _| {})?;
    Ok(())
}
