//! Adam (Kingma & Ba 2015, Algorithm 1), with its state kept where a checkpoint can save it.
//!
//! `m <- b1 m + (1 - b1) g`, `v <- b2 v + (1 - b2) g^2`,
//! `theta <- theta - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)`.
//! candle's `AdamW` keeps its moments private, so a resumed run could not continue exactly;
//! this one exposes them. No weight decay: PyTorch's `Adam` default.
//!
//! On the CPU the update is one in-place pass per parameter over its value, gradient and moments;
//! elsewhere it is written with tensor operations (a dozen passes, each allocating).

use candle_core::{CpuStorage, Device, InplaceOp2, Layout, Result, Tensor, Var, backprop::GradStore, bail};
use std::collections::HashMap;
use std::sync::Mutex;

/// The two moment estimates of one parameter.
enum Moments {
    /// As tensors on the parameter's device.
    Device { m: Tensor, v: Tensor },
    /// As host vectors, updated in place by [`AdamKernel`].
    Host(Mutex<(Vec<f32>, Vec<f32>)>),
}

pub struct Adam {
    /// Parameters by name, in name order.
    vars: Vec<(String, Var)>,
    moments: Vec<Moments>,
    /// Steps taken so far.
    pub t: u64,
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

fn lock_error() -> candle_core::Error {
    candle_core::Error::Msg("Adam state lock poisoned".into())
}

impl Adam {
    /// Adam over `vars`, fused on the CPU.
    pub fn new(vars: Vec<(String, Var)>, lr: f64) -> Result<Self> {
        Self::with_kernel(vars, lr, true)
    }

    /// Adam over `vars`; `fused = false` forces the tensor-operation version everywhere (the
    /// tests compare the two).
    pub fn with_kernel(mut vars: Vec<(String, Var)>, lr: f64, fused: bool) -> Result<Self> {
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let moments = vars
            .iter()
            .map(|(_, v)| {
                Ok(if fused && v.device().is_cpu() && v.dtype() == candle_core::DType::F32 {
                    Moments::Host(Mutex::new((vec![0.0; v.elem_count()], vec![0.0; v.elem_count()])))
                } else {
                    Moments::Device { m: v.zeros_like()?, v: v.zeros_like()? }
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { vars, moments, t: 0, lr, beta1: 0.9, beta2: 0.999, eps: 1e-8 })
    }

    /// One update from the gradients of a `backward()` call.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.t += 1;
        let bias1 = 1.0 - self.beta1.powi(self.t as i32);
        let bias2 = 1.0 - self.beta2.powi(self.t as i32);
        for ((_, var), moments) in self.vars.iter().zip(self.moments.iter_mut()) {
            let Some(g) = grads.get(var) else { continue };
            match moments {
                Moments::Host(state) => {
                    let kernel = AdamKernel {
                        state,
                        step: (self.lr / bias1) as f32,
                        beta1: self.beta1 as f32,
                        beta2: self.beta2 as f32,
                        inv_bias2: (1.0 / bias2) as f32,
                        eps: self.eps as f32,
                    };
                    var.as_tensor().inplace_op2(&g.contiguous()?, &kernel)?;
                }
                Moments::Device { m, v } => {
                    *m = ((&*m * self.beta1)? + (g * (1.0 - self.beta1))?)?;
                    *v = ((&*v * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?;
                    let denom = ((&*v / bias2)?.sqrt()? + self.eps)?;
                    let update = ((&*m / denom)? * (self.lr / bias1))?;
                    var.set(&(var.as_tensor() - update)?)?;
                }
            }
        }
        Ok(())
    }

    /// The moments as named tensors (`adam.m.NAME`, `adam.v.NAME`) for a checkpoint.
    pub fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::with_capacity(2 * self.vars.len());
        for ((name, var), moments) in self.vars.iter().zip(&self.moments) {
            let (m, v) = match moments {
                Moments::Device { m, v } => (m.clone(), v.clone()),
                Moments::Host(state) => {
                    let state = state.lock().map_err(|_| lock_error())?;
                    let dims = var.dims();
                    (
                        Tensor::from_slice(&state.0, dims, &Device::Cpu)?,
                        Tensor::from_slice(&state.1, dims, &Device::Cpu)?,
                    )
                }
            };
            out.push((format!("adam.m.{name}"), m));
            out.push((format!("adam.v.{name}"), v));
        }
        Ok(out)
    }

    /// Restores the moments saved by [`Adam::state`] and the step count.
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>, t: u64) -> Result<()> {
        for ((name, var), moments) in self.vars.iter().zip(self.moments.iter_mut()) {
            let mut saved = Vec::with_capacity(2);
            for kind in ["m", "v"] {
                let key = format!("adam.{kind}.{name}");
                let Some(tensor) = tensors.get(&key) else { bail!("checkpoint has no optimizer state {key}") };
                if tensor.dims() != var.dims() {
                    bail!("optimizer state {key} has shape {:?}, parameter has {:?}", tensor.dims(), var.dims())
                }
                saved.push(tensor.to_device(var.device())?.to_dtype(var.dtype())?);
            }
            match moments {
                Moments::Device { m, v } => (*m, *v) = (saved[0].clone(), saved[1].clone()),
                Moments::Host(state) => {
                    let state = state.get_mut().map_err(|_| lock_error())?;
                    state.0 = saved[0].flatten_all()?.to_vec1()?;
                    state.1 = saved[1].flatten_all()?.to_vec1()?;
                }
            }
        }
        self.t = t;
        Ok(())
    }
}

/// One Adam update of one parameter, in place, in a single pass.
struct AdamKernel<'a> {
    state: &'a Mutex<(Vec<f32>, Vec<f32>)>,
    /// `lr / (1 - b1^t)`.
    step: f32,
    beta1: f32,
    beta2: f32,
    /// `1 / (1 - b2^t)`.
    inv_bias2: f32,
    eps: f32,
}

impl InplaceOp2 for AdamKernel<'_> {
    fn name(&self) -> &'static str {
        "fused-adam"
    }

    fn cpu_fwd(&self, ps: &mut CpuStorage, pl: &Layout, gs: &CpuStorage, gl: &Layout) -> Result<()> {
        let (Some((p0, p1)), Some((g0, g1))) = (pl.contiguous_offsets(), gl.contiguous_offsets()) else {
            bail!("fused-adam: parameter and gradient must be contiguous")
        };
        let CpuStorage::F32(p) = ps else { bail!("fused-adam: parameters must be f32") };
        let g = &gs.as_slice::<f32>()?[g0..g1];
        let p = &mut p[p0..p1];
        let mut state = self.state.lock().map_err(|_| lock_error())?;
        let (m, v) = &mut *state;
        if p.len() != g.len() || m.len() != p.len() {
            bail!("fused-adam: {} parameters, {} gradients, {} moments", p.len(), g.len(), m.len())
        }
        let (b1, b2) = (self.beta1, self.beta2);
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *p -= self.step * *m / ((*v * self.inv_bias2).sqrt() + self.eps);
        }
        Ok(())
    }
}
