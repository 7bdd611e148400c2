//! A GRU over a whole sequence on the CPU: the input projections of every step in one matrix
//! product, then the recurrence and its backward pass through time written out by hand, with the
//! batch split between two threads.
//!
//! candle's `GRU::step` is about twenty tensor operations per time step, each allocating its
//! output, and as many again in the backward pass; at the book's sizes (a batch of 64, 128 units)
//! that bookkeeping, not arithmetic, is most of the time. The same equations as candle's and
//! PyTorch's `GRU` (gates in the order r, z, n):
//!
//! ```text
//! r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
//! z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
//! n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
//! h' = (1 - z) * n + z * h
//! ```
//!
//! `tests/fused.rs` checks [`sequence`] against a loop of candle's `GRU::step`, states and every
//! gradient.

use super::fused::{self, Mat, matmul_serial};
use super::halves::{halves, per_half};
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, bail};
use candle_nn::VarBuilder;
use std::ops::Range;
use std::sync::Mutex;

/// The four parameters of a candle (PyTorch-named) GRU layer, shared with the layer itself.
#[derive(Clone, Debug)]
pub struct GruWeights {
    /// `(3 hidden, input)` and `(3 hidden, hidden)`, gates r, z, n.
    pub w_ih: Tensor,
    pub w_hh: Tensor,
    /// `(3 hidden)` each.
    pub b_ih: Tensor,
    pub b_hh: Tensor,
}

impl GruWeights {
    /// The variables that `candle_nn::rnn::gru(input, hidden, _, vb)` creates (or created) under `vb`.
    pub fn new(input: usize, hidden: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            w_ih: vb.get((3 * hidden, input), "weight_ih_l0")?,
            w_hh: vb.get((3 * hidden, hidden), "weight_hh_l0")?,
            b_ih: vb.get(3 * hidden, "bias_ih_l0")?,
            b_hh: vb.get(3 * hidden, "bias_hh_l0")?,
        })
    }
}

/// Every state of a GRU that reads `x` (`(T, B, input)`) from `h0` (`(B, hidden)`): `(T, B, hidden)`.
pub fn sequence(w: &GruWeights, x: &Tensor, h0: &Tensor) -> Result<Tensor> {
    let (t_max, b, input) = x.dims3()?;
    let hidden = w.w_hh.dim(1)?;
    // The input side of all three gates for every step at once.
    let gi = fused::linear(&x.reshape((t_max * b, input))?, &w.w_ih, &w.b_ih, true)?.reshape((t_max, b, 3 * hidden))?;
    recur(&gi, h0, &recurrent_operand(w)?)
}

/// The recurrent weights and their bias as one `(3 hidden, hidden + 1)` operand for [`recur`]:
/// build it once per pass when a model steps the GRU itself.
pub fn recurrent_operand(w: &GruWeights) -> Result<Tensor> {
    Tensor::cat(&[&w.w_hh, &w.b_hh.unsqueeze(1)?], 1)
}

/// Every state of the recurrence, `(T, B, hidden)`, given the input side of the gates for every
/// step, `gi = W_ih x + b_ih` (`(T, B, 3 hidden)`), the first state `h0` and
/// [`recurrent_operand`]. A model whose input at step `t` depends on the state before it (the
/// VRNN's sampled code) calls it with one step at a time.
pub fn recur(gi: &Tensor, h0: &Tensor, wb: &Tensor) -> Result<Tensor> {
    gi.contiguous()?.apply_op3(&h0.contiguous()?, wb, Recurrence { saved: Mutex::new(Vec::new()) })
}

/// The recurrence: `(gi, h0, [W_hh | b_hh]) -> states`. Keeps each step's gates for the backward pass.
struct Recurrence {
    /// Per part of the batch: its rows and `(T, rows, 4 hidden)` values of r, z, n and `W_hn h + b_hn`.
    saved: Mutex<Vec<(Range<usize>, Vec<f32>)>>,
}

/// The sizes of one call.
#[derive(Clone, Copy)]
struct Dims {
    t_max: usize,
    batch: usize,
    hidden: usize,
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

/// `tanh(v) = 1 - 2 / (e^{2v} + 1)`: one `exp`, several times faster than the C library's `tanhf`
/// (called for every unit of every step, about 10^8 times per epoch here), exact to about 1e-7.
fn tanh(v: f32) -> f32 {
    1.0 - 2.0 / ((2.0 * v).exp() + 1.0)
}

/// Rows `rows` of a `(T, B, width)` array as a contiguous `(T, rows, width)` one.
fn take_rows(a: &[f32], d: Dims, width: usize, rows: &Range<usize>) -> Vec<f32> {
    let mut out = Vec::with_capacity(d.t_max * rows.len() * width);
    for t in 0..d.t_max {
        out.extend_from_slice(&a[(t * d.batch + rows.start) * width..(t * d.batch + rows.end) * width]);
    }
    out
}

/// Writes a `(T, rows, width)` part back into rows `rows` of a `(T, B, width)` array.
fn put_rows(dst: &mut [f32], part: &[f32], d: Dims, width: usize, rows: &Range<usize>) {
    let n = rows.len() * width;
    for t in 0..d.t_max {
        dst[(t * d.batch + rows.start) * width..][..n].copy_from_slice(&part[t * n..][..n]);
    }
}

/// The forward recurrence for some rows: their states `(T, rows, H)` and gates `(T, rows, 4H)`.
fn forward_rows(gi: &[f32], h0: &[f32], wb: &[f32], d: Dims, rows: &Range<usize>) -> (Vec<f32>, Vec<f32>) {
    let (h, nb) = (d.hidden, rows.len());
    let gi = take_rows(gi, d, 3 * h, rows);
    let (mut states, mut gates) = (vec![0.0f32; d.t_max * nb * h], vec![0.0f32; d.t_max * nb * 4 * h]);
    let mut prev = h0[rows.start * h..rows.end * h].to_vec();
    let mut gh = vec![0.0f32; nb * 3 * h];
    for t in 0..d.t_max {
        // gh = h_prev W_hh^T + b_hh
        for row in gh.chunks_exact_mut(3 * h) {
            for (g, v) in row.iter_mut().enumerate() {
                *v = wb[g * (h + 1) + h];
            }
        }
        matmul_serial(&mut gh, true, Mat::rows(&prev, h), Mat::transposed(wb, h + 1), nb, h, 3 * h);
        let out = &mut states[t * nb * h..(t + 1) * nb * h];
        for i in 0..nb {
            let (x, r_h) = (&gi[(t * nb + i) * 3 * h..][..3 * h], &gh[i * 3 * h..][..3 * h]);
            let saved = &mut gates[(t * nb + i) * 4 * h..][..4 * h];
            for j in 0..h {
                let r = sigmoid(x[j] + r_h[j]);
                let z = sigmoid(x[h + j] + r_h[h + j]);
                let n = tanh(x[2 * h + j] + r * r_h[2 * h + j]);
                out[i * h + j] = (1.0 - z) * n + z * prev[i * h + j];
                (saved[j], saved[h + j], saved[2 * h + j], saved[3 * h + j]) = (r, z, n, r_h[2 * h + j]);
            }
        }
        prev.copy_from_slice(out);
    }
    (states, gates)
}

/// The backward pass through time for some rows: `(dgi (T, rows, 3H), dh0 (rows, H), dwb (3H, H+1))`.
fn backward_rows(inputs: [&[f32]; 4], gates: &[f32], d: Dims, rows: &Range<usize>) -> [Vec<f32>; 3] {
    let [states, h0, wb, grad] = inputs;
    let (h, nb) = (d.hidden, rows.len());
    let (states, grad) = (take_rows(states, d, h, rows), take_rows(grad, d, h, rows));
    // The state each step started from, `(T, rows, H)`: h0, then every state but the last.
    let mut prev = h0[rows.start * h..rows.end * h].to_vec();
    prev.extend_from_slice(&states[..(d.t_max - 1) * nb * h]);
    let (mut dgi, mut dgh) = (vec![0.0f32; d.t_max * nb * 3 * h], vec![0.0f32; d.t_max * nb * 3 * h]);
    let (mut dh_next, mut direct) = (vec![0.0f32; nb * h], vec![0.0f32; nb * h]);
    for t in (0..d.t_max).rev() {
        for i in 0..nb {
            let at = t * nb + i;
            let (g, p) = (&gates[at * 4 * h..][..4 * h], &prev[at * h..][..h]);
            let (dx, dr_h) = (&mut dgi[at * 3 * h..][..3 * h], &mut dgh[at * 3 * h..][..3 * h]);
            for j in 0..h {
                let (r, z, n, hn) = (g[j], g[h + j], g[2 * h + j], g[3 * h + j]);
                let dh = grad[at * h + j] + dh_next[i * h + j];
                let da_n = dh * (1.0 - z) * (1.0 - n * n);
                let da_z = dh * (p[j] - n) * z * (1.0 - z);
                let da_r = da_n * hn * r * (1.0 - r);
                (dx[j], dx[h + j], dx[2 * h + j]) = (da_r, da_z, da_n);
                (dr_h[j], dr_h[h + j], dr_h[2 * h + j]) = (da_r, da_z, da_n * r);
                direct[i * h + j] = dh * z;
            }
        }
        // dh_prev = dh z + dgh W_hh
        dh_next.copy_from_slice(&direct);
        let step = &dgh[t * nb * 3 * h..(t + 1) * nb * 3 * h];
        matmul_serial(&mut dh_next, true, Mat::rows(step, 3 * h), Mat::rows(wb, h + 1), nb, 3 * h, h);
    }
    // dW_hh = sum over steps and rows of dgh^T h_prev; db_hh = the column sums of dgh.
    let rows_all = d.t_max * nb;
    let mut dw = vec![0.0f32; 3 * h * h];
    matmul_serial(&mut dw, false, Mat::transposed(&dgh, 3 * h), Mat::rows(&prev, h), 3 * h, rows_all, h);
    let mut db = vec![0.0f32; 3 * h];
    fused::sum_rows_into(&dgh, &mut db);
    let mut dwb = Vec::with_capacity(3 * h * (h + 1));
    for (row, b) in dw.chunks_exact(h).zip(&db) {
        dwb.extend_from_slice(row);
        dwb.push(*b);
    }
    [dgi, dh_next, dwb]
}

impl Recurrence {
    fn dims(gi: &[usize], h0: &[usize], wb: &[usize]) -> Result<Dims> {
        let (t_max, batch, hidden) = match (gi, h0, wb) {
            ([0, ..], _, _) => bail!("fast-gru: a sequence of no steps"),
            ([t, b, g], [b2, h], [g2, h1]) if b == b2 && *g == 3 * h && g == g2 && *h1 == h + 1 && *h > 0 => {
                (*t, *b, *h)
            }
            _ => bail!("fast-gru: inputs {gi:?}, state {h0:?} and weights {wb:?} do not fit"),
        };
        Ok(Dims { t_max, batch, hidden })
    }
}

impl CustomOp3 for Recurrence {
    fn name(&self) -> &'static str {
        "fast-gru"
    }

    fn cpu_fwd(
        &self,
        gs: &CpuStorage,
        gl: &Layout,
        hs: &CpuStorage,
        hl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let d = Self::dims(gl.dims(), hl.dims(), wl.dims())?;
        let (gi, h0, wb) = (
            fused::f32_slice(gs, gl, "inputs")?,
            fused::f32_slice(hs, hl, "state")?,
            fused::f32_slice(ws, wl, "weights")?,
        );
        let parts = halves(d.batch);
        let results = per_half(&parts, |rows| forward_rows(gi, h0, wb, d, &rows));
        let mut states = vec![0.0f32; d.t_max * d.batch * d.hidden];
        let mut saved = self.saved.lock().map_err(|_| candle_core::Error::Msg("fast-gru: lock poisoned".into()))?;
        if !saved.is_empty() {
            bail!("fast-gru: forward ran twice on one op")
        }
        for (rows, (part, gates)) in parts.into_iter().zip(results) {
            put_rows(&mut states, &part, d, d.hidden, &rows);
            saved.push((rows, gates));
        }
        Ok((CpuStorage::F32(states), Shape::from((d.t_max, d.batch, d.hidden))))
    }

    fn bwd(&self, gi: &Tensor, h0: &Tensor, wb: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Grads3> {
        let d = Self::dims(gi.dims(), h0.dims(), wb.dims())?;
        let host = |t: &Tensor| t.flatten_all()?.to_vec1::<f32>();
        let (states, h0v, wbv, gradv) = (host(res)?, host(h0)?, host(wb)?, host(grad)?);
        let saved = self.saved.lock().map_err(|_| candle_core::Error::Msg("fast-gru: lock poisoned".into()))?;
        if saved.is_empty() {
            bail!("fast-gru: backward before forward")
        }
        let inputs = [states.as_slice(), &h0v, &wbv, &gradv];
        let results = match saved.as_slice() {
            [(a, ga), (b, gb)] => {
                let (x, y) = rayon::join(|| backward_rows(inputs, ga, d, a), || backward_rows(inputs, gb, d, b));
                vec![x, y]
            }
            parts => parts.iter().map(|(rows, g)| backward_rows(inputs, g, d, rows)).collect(),
        };
        let (mut dgi, mut dh0, mut dwb) =
            (vec![0.0f32; gi.elem_count()], vec![0.0f32; h0.elem_count()], vec![0.0f32; wb.elem_count()]);
        for ((rows, _), [part_gi, part_h0, part_wb]) in saved.iter().zip(results) {
            put_rows(&mut dgi, &part_gi, d, 3 * d.hidden, rows);
            dh0[rows.start * d.hidden..rows.end * d.hidden].copy_from_slice(&part_h0);
            dwb.iter_mut().zip(&part_wb).for_each(|(a, b)| *a += b);
        }
        let dev = gi.device();
        Ok((
            Some(Tensor::from_vec(dgi, gi.dims(), dev)?),
            Some(Tensor::from_vec(dh0, h0.dims(), dev)?),
            Some(Tensor::from_vec(dwb, wb.dims(), dev)?),
        ))
    }
}

type Grads3 = (Option<Tensor>, Option<Tensor>, Option<Tensor>);
