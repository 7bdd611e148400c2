//! Adam (Kingma & Ba 2015, Algorithm 1), with its state kept where a checkpoint can save it.
//!
//! `m <- b1 m + (1 - b1) g`, `v <- b2 v + (1 - b2) g^2`,
//! `theta <- theta - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)`.
//! candle's `AdamW` keeps its moments private, so a resumed run could not continue exactly;
//! this one exposes them. No weight decay: PyTorch's `Adam` default.

use candle_core::{Result, Tensor, Var, backprop::GradStore};
use std::collections::HashMap;

pub struct Adam {
    /// Parameters by name, in name order.
    vars: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Steps taken so far.
    pub t: u64,
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl Adam {
    pub fn new(mut vars: Vec<(String, Var)>, lr: f64) -> Result<Self> {
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let m = vars.iter().map(|(_, v)| v.zeros_like()).collect::<Result<Vec<_>>>()?;
        let v = vars.iter().map(|(_, v)| v.zeros_like()).collect::<Result<Vec<_>>>()?;
        Ok(Self { vars, m, v, t: 0, lr, beta1: 0.9, beta2: 0.999, eps: 1e-8 })
    }

    /// One update from the gradients of a `backward()` call.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.t += 1;
        let bias1 = 1.0 - self.beta1.powi(self.t as i32);
        let bias2 = 1.0 - self.beta2.powi(self.t as i32);
        for (i, (_, var)) in self.vars.iter().enumerate() {
            let Some(g) = grads.get(var) else { continue };
            self.m[i] = ((&self.m[i] * self.beta1)? + (g * (1.0 - self.beta1))?)?;
            self.v[i] = ((&self.v[i] * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?;
            let denom = ((&self.v[i] / bias2)?.sqrt()? + self.eps)?;
            let update = ((&self.m[i] / denom)? * (self.lr / bias1))?;
            var.set(&(var.as_tensor() - update)?)?;
        }
        Ok(())
    }

    /// The moments as named tensors (`adam.m.NAME`, `adam.v.NAME`) for a checkpoint.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(2 * self.vars.len());
        for (i, (name, _)) in self.vars.iter().enumerate() {
            out.push((format!("adam.m.{name}"), self.m[i].clone()));
            out.push((format!("adam.v.{name}"), self.v[i].clone()));
        }
        out
    }

    /// Restores the moments saved by [`Adam::state`] and the step count.
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>, t: u64) -> Result<()> {
        for (i, (name, var)) in self.vars.iter().enumerate() {
            for (kind, slot) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let key = format!("adam.{kind}.{name}");
                let Some(saved) = tensors.get(&key) else {
                    candle_core::bail!("checkpoint has no optimizer state {key}")
                };
                if saved.dims() != var.dims() {
                    candle_core::bail!(
                        "optimizer state {key} has shape {:?}, parameter has {:?}",
                        saved.dims(),
                        var.dims()
                    )
                }
                *slot = saved.to_device(var.device())?;
            }
        }
        self.t = t;
        Ok(())
    }
}
