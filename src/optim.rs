//! Adam (Kingma & Ba 2015, Algorithm 1), with its state kept where a checkpoint can save it.
//!
//! `m <- b1 m + (1 - b1) g`, `v <- b2 v + (1 - b2) g^2`,
//! `theta <- theta - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)`.
//! candle's `AdamW` keeps its moments private, so a resumed run could not continue exactly;
//! this one exposes them. No weight decay: PyTorch's `Adam` default.
//!
//! On the CPU the update is one in-place pass per parameter over its value, gradient and moments;
//! elsewhere it is written with tensor operations (a dozen passes, each allocating).

use candle_core::{CpuStorage, Device, InplaceOp1, InplaceOp2, Layout, Result, Tensor, Var, backprop::GradStore, bail};
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
        let consts = self.consts();
        for ((_, var), moments) in self.vars.iter().zip(self.moments.iter_mut()) {
            let Some(g) = grads.get(var) else { continue };
            match moments {
                Moments::Host(state) => {
                    let kernel = AdamKernel { state, consts };
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

    /// One update from gradients held in host memory, looked up by parameter name (the
    /// hand-written backward pass of [`crate::cpu::manual`]). CPU parameters only.
    pub fn step_host<'g>(&mut self, grad_of: impl Fn(&str) -> Option<&'g [f32]>) -> Result<()> {
        self.t += 1;
        let consts = self.consts();
        for ((name, var), moments) in self.vars.iter().zip(&self.moments) {
            let Some(grad) = grad_of(name) else { continue };
            let Moments::Host(state) = moments else { bail!("step_host: {name} is not a CPU parameter") };
            var.as_tensor().inplace_op1(&AdamHostKernel { state, grad, consts })?;
        }
        Ok(())
    }

    /// The constants of the update at the current step count.
    fn consts(&self) -> AdamConsts {
        let bias1 = 1.0 - self.beta1.powi(self.t as i32);
        let bias2 = 1.0 - self.beta2.powi(self.t as i32);
        AdamConsts {
            step: (self.lr / bias1) as f32,
            beta1: self.beta1 as f32,
            beta2: self.beta2 as f32,
            inv_bias2: (1.0 / bias2) as f32,
            eps: self.eps as f32,
        }
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

/// The per-step constants of the update.
#[derive(Clone, Copy)]
struct AdamConsts {
    /// `lr / (1 - b1^t)`.
    step: f32,
    beta1: f32,
    beta2: f32,
    /// `1 / (1 - b2^t)`.
    inv_bias2: f32,
    eps: f32,
}

/// One Adam update of one parameter, in place, in a single pass over `p`, `g`, `m` and `v`.
fn adam_update(p: &mut [f32], g: &[f32], state: &Mutex<(Vec<f32>, Vec<f32>)>, c: AdamConsts) -> Result<()> {
    let mut state = state.lock().map_err(|_| lock_error())?;
    let (m, v) = &mut *state;
    if p.len() != g.len() || m.len() != p.len() {
        bail!("fused-adam: {} parameters, {} gradients, {} moments", p.len(), g.len(), m.len())
    }
    adam_slices(p, g, m, v, c);
    Ok(())
}

/// The update over equal-length slices. One thread: the loop is bound by memory, not arithmetic.
fn adam_slices(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: AdamConsts) {
    let n = p.len();
    let (b1, b2) = (c.beta1, c.beta2);
    // Equal-length slices and an index loop: no bounds checks, so the loop becomes SIMD code.
    let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
    for i in 0..n {
        m[i] = b1 * m[i] + (1.0 - b1) * g[i];
        v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
        p[i] -= c.step * m[i] / ((v[i] * c.inv_bias2).sqrt() + c.eps);
    }
}

fn param_slice<'a>(ps: &'a mut CpuStorage, pl: &Layout) -> Result<&'a mut [f32]> {
    let Some((p0, p1)) = pl.contiguous_offsets() else { bail!("fused-adam: parameters must be contiguous") };
    let CpuStorage::F32(p) = ps else { bail!("fused-adam: parameters must be f32") };
    Ok(&mut p[p0..p1])
}

/// The update with the gradient as a tensor.
struct AdamKernel<'a> {
    state: &'a Mutex<(Vec<f32>, Vec<f32>)>,
    consts: AdamConsts,
}

impl InplaceOp2 for AdamKernel<'_> {
    fn name(&self) -> &'static str {
        "fused-adam"
    }

    fn cpu_fwd(&self, ps: &mut CpuStorage, pl: &Layout, gs: &CpuStorage, gl: &Layout) -> Result<()> {
        let Some((g0, g1)) = gl.contiguous_offsets() else { bail!("fused-adam: gradients must be contiguous") };
        adam_update(param_slice(ps, pl)?, &gs.as_slice::<f32>()?[g0..g1], self.state, self.consts)
    }
}

/// The update with the gradient as a host slice (from [`crate::cpu::manual`]).
struct AdamHostKernel<'a> {
    state: &'a Mutex<(Vec<f32>, Vec<f32>)>,
    grad: &'a [f32],
    consts: AdamConsts,
}

impl InplaceOp1 for AdamHostKernel<'_> {
    fn name(&self) -> &'static str {
        "fused-adam-host"
    }

    fn cpu_fwd(&self, ps: &mut CpuStorage, pl: &Layout) -> Result<()> {
        adam_update(param_slice(ps, pl)?, self.grad, self.state, self.consts)
    }
}
