//! Fused CPU kernels for the training path: the same maths as the plain tensor code the book
//! shows, in fewer passes over memory and with no gradient nobody needs.
//!
//! - [`linear`]: `x w^T + b` in one matrix product that starts from the bias, and a backward pass
//!   that skips the input's gradient when the input is data (the first layer).
//! - [`relu`]: one pass forward, one pass backward.
//! - [`bernoulli_nll`]: the per-row Bernoulli negative log-likelihood from logits, whose gradient
//!   `sigmoid(l) - x` is computed in the same pass as the loss (one `exp` per element).
//! - [`softmax_nll`]: the per-row softmax cross-entropy, whose gradient `softmax(l) - onehot` is
//!   computed in the same pass (the text VAE's output layer).
//!
//! Each op has a CPU kernel only; [`crate::models::vae::Vae::forward_fast`] and
//! [`crate::models::text_vae::softmax_nll`] fall back to the plain code on other devices. `tests/fused.rs` checks losses and gradients against the plain versions.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, bail};
use std::sync::Mutex;

pub(crate) fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let all = s.as_slice::<f32>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&all[a..b]),
        None => bail!("fused op: {what} must be contiguous"),
    }
}

/// A row-major `rows x cols` matrix read through strides: element `(i, j)` is at `i * rs + j * cs`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    data: &'a [f32],
    rs: usize,
    cs: usize,
}

impl<'a> Mat<'a> {
    pub(crate) fn rows(data: &'a [f32], cols: usize) -> Self {
        Self { data, rs: cols, cs: 1 }
    }
    /// The transpose of a row-major `rows x cols` matrix.
    pub(crate) fn transposed(data: &'a [f32], cols: usize) -> Self {
        Self { data, rs: 1, cs: cols }
    }
}

/// `dst (m x n, row-major) = (accumulate ? dst : 0) + a (m x k) * b (k x n)`, by the `gemm` crate.
///
/// With several threads the work is split in two halves computed side by side, along the rows of
/// `a` or the columns of `b`, whichever operand is larger, so that each thread reads (and packs)
/// only half of it. At these sizes (a batch of 128) that scales better than `gemm`'s own split.
pub(crate) fn matmul_into(dst: &mut [f32], accumulate: bool, a: Mat, b: Mat, m: usize, k: usize, n: usize) {
    let fits = |x: &Mat, r: usize, c: usize| r == 0 || c == 0 || (r - 1) * x.rs + (c - 1) * x.cs < x.data.len();
    assert!(dst.len() == m * n && fits(&a, m, k) && fits(&b, k, n), "matmul_into: shape mismatch");
    let parallel = m * n * k >= 1 << 21 && candle_core::utils::get_num_threads() > 1;
    let dst = DstPtr(dst.as_mut_ptr());
    // SAFETY (all three calls): the assertion keeps every strided read inside `a` and `b`, and the
    // two halves write disjoint parts of `dst`, which this function borrows mutably.
    if parallel && m * k >= k * n && m >= 16 {
        let h = m / 2;
        let a2 = Mat { data: &a.data[h * a.rs..], ..a };
        rayon::join(
            || unsafe { gemm_raw(dst, n, accumulate, a, b, (h, k, n)) },
            || unsafe { gemm_raw(dst.offset(h * n), n, accumulate, a2, b, (m - h, k, n)) },
        );
    } else if parallel && n >= 16 {
        let h = n / 2;
        let b2 = Mat { data: &b.data[h * b.cs..], ..b };
        rayon::join(
            || unsafe { gemm_raw(dst, n, accumulate, a, b, (m, k, h)) },
            || unsafe { gemm_raw(dst.offset(h), n, accumulate, a, b2, (m, k, n - h)) },
        );
    } else {
        unsafe { gemm_raw(dst, n, accumulate, a, b, (m, k, n)) }
    }
}

/// [`matmul_into`] on the calling thread only: for callers that already split their work
/// between threads (the convolutions split the batch).
pub(crate) fn matmul_serial(dst: &mut [f32], accumulate: bool, a: Mat, b: Mat, m: usize, k: usize, n: usize) {
    let fits = |x: &Mat, r: usize, c: usize| r == 0 || c == 0 || (r - 1) * x.rs + (c - 1) * x.cs < x.data.len();
    assert!(dst.len() == m * n && fits(&a, m, k) && fits(&b, k, n), "matmul_serial: shape mismatch");
    // SAFETY: the assertion keeps every strided read inside `a` and `b`; `dst` is borrowed mutably.
    unsafe { gemm_raw(DstPtr(dst.as_mut_ptr()), n, accumulate, a, b, (m, k, n)) }
}

/// A destination pointer that may be handed to another thread (the halves never overlap).
#[derive(Clone, Copy)]
struct DstPtr(*mut f32);
unsafe impl Send for DstPtr {}
unsafe impl Sync for DstPtr {}

impl DstPtr {
    fn offset(self, by: usize) -> Self {
        // SAFETY: callers stay inside the destination slice.
        DstPtr(unsafe { self.0.add(by) })
    }
}

/// One single-threaded `gemm` call; `dst` has row stride `dst_rs`.
///
/// # Safety
/// `dst` must be valid for `m` rows of `n` elements at row stride `dst_rs`, not aliased, and `a`
/// and `b` must hold `m x k` and `k x n` elements at their strides.
unsafe fn gemm_raw(dst: DstPtr, dst_rs: usize, accumulate: bool, a: Mat, b: Mat, (m, k, n): (usize, usize, usize)) {
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.0,
            1,
            dst_rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// `x w^T + b` for `x: (batch, in)`, `w: (out, in)`, `b: (out,)`.
struct Linear {
    input_grad: bool,
}

impl CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        "fused-linear"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (batch, inp) = xl.shape().dims2()?;
        let (out, inp_w) = wl.shape().dims2()?;
        if inp != inp_w || bl.shape().dims1()? != out {
            bail!("fused-linear: x {:?}, w {:?}, b {:?} do not fit", xl.dims(), wl.dims(), bl.dims())
        }
        let (x, w, b) = (f32_slice(xs, xl, "x")?, f32_slice(ws, wl, "w")?, f32_slice(bs, bl, "b")?);
        let mut dst: Vec<f32> = Vec::with_capacity(batch * out);
        for _ in 0..batch {
            dst.extend_from_slice(b);
        }
        matmul_into(&mut dst, true, Mat::rows(x, inp), Mat::transposed(w, inp), batch, inp, out);
        Ok((CpuStorage::F32(dst), Shape::from((batch, out))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let grad_x = if self.input_grad { Some(grad.apply_op2_no_bwd(&w.contiguous()?, &GradInput)?) } else { None };
        let grad_w = grad.apply_op2_no_bwd(&x.contiguous()?, &GradWeight)?;
        let grad_b = grad.apply_op1_no_bwd(&SumRows)?;
        Ok((grad_x, Some(grad_w), Some(grad_b)))
    }
}

/// `grad (batch, out) * w (out, in)`: the gradient of a linear layer's input.
struct GradInput;

impl CustomOp2 for GradInput {
    fn name(&self) -> &'static str {
        "fused-linear-grad-input"
    }

    fn cpu_fwd(&self, gs: &CpuStorage, gl: &Layout, ws: &CpuStorage, wl: &Layout) -> Result<(CpuStorage, Shape)> {
        let ((batch, out), (out_w, inp)) = (gl.shape().dims2()?, wl.shape().dims2()?);
        if out != out_w {
            bail!("fused-linear-grad-input: grad {:?} and w {:?} do not fit", gl.dims(), wl.dims())
        }
        let (g, w) = (f32_slice(gs, gl, "grad")?, f32_slice(ws, wl, "w")?);
        let mut dst = vec![0.0f32; batch * inp];
        matmul_into(&mut dst, false, Mat::rows(g, out), Mat::rows(w, inp), batch, out, inp);
        Ok((CpuStorage::F32(dst), Shape::from((batch, inp))))
    }
}

/// `grad^T (out, batch) * x (batch, in)`: the gradient of a linear layer's weight.
struct GradWeight;

impl CustomOp2 for GradWeight {
    fn name(&self) -> &'static str {
        "fused-linear-grad-weight"
    }

    fn cpu_fwd(&self, gs: &CpuStorage, gl: &Layout, xs: &CpuStorage, xl: &Layout) -> Result<(CpuStorage, Shape)> {
        let ((batch, out), (batch_x, inp)) = (gl.shape().dims2()?, xl.shape().dims2()?);
        if batch != batch_x {
            bail!("fused-linear-grad-weight: grad {:?} and x {:?} do not fit", gl.dims(), xl.dims())
        }
        let (g, x) = (f32_slice(gs, gl, "grad")?, f32_slice(xs, xl, "x")?);
        let mut dst = vec![0.0f32; out * inp];
        matmul_into(&mut dst, false, Mat::transposed(g, out), Mat::rows(x, inp), out, batch, inp);
        Ok((CpuStorage::F32(dst), Shape::from((out, inp))))
    }
}

/// `x w^T + b`. With `input_grad = false` no gradient flows to `x` (use it when `x` is data).
pub fn linear(x: &Tensor, w: &Tensor, b: &Tensor, input_grad: bool) -> Result<Tensor> {
    x.contiguous()?.apply_op3(&w.contiguous()?, b, Linear { input_grad })
}

/// `acc = sum over rows of g` for a row-major `g` with `acc.len()` columns.
pub(crate) fn sum_rows_into(g: &[f32], acc: &mut [f32]) {
    acc.fill(0.0);
    for row in g.chunks_exact(acc.len()) {
        for (a, &v) in acc.iter_mut().zip(row) {
            *a += v;
        }
    }
}

/// The sum over rows of a `(rows, cols)` matrix, row by row (candle's `sum(0)` walks columns
/// with a stride, which is several times slower for the bias gradients here).
struct SumRows;

impl CustomOp1 for SumRows {
    fn name(&self) -> &'static str {
        "fused-sum-rows"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (_, cols) = l.shape().dims2()?;
        let mut acc = vec![0.0f32; cols];
        sum_rows_into(f32_slice(s, l, "gradient")?, &mut acc);
        Ok((CpuStorage::F32(acc), Shape::from(cols)))
    }
}

struct Relu;

impl CustomOp1 for Relu {
    fn name(&self) -> &'static str {
        "fused-relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, "relu input")?;
        Ok((CpuStorage::F32(x.iter().map(|&v| v.max(0.0)).collect()), l.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op2_no_bwd(res, &ReluBackward)?))
    }
}

/// `grad * (res > 0)` in one pass.
pub(crate) struct ReluBackward;

impl CustomOp2 for ReluBackward {
    fn name(&self) -> &'static str {
        "fused-relu-backward"
    }

    fn cpu_fwd(&self, gs: &CpuStorage, gl: &Layout, rs: &CpuStorage, rl: &Layout) -> Result<(CpuStorage, Shape)> {
        let (g, r) = (f32_slice(gs, gl, "grad")?, f32_slice(rs, rl, "relu output")?);
        let out = g.iter().zip(r).map(|(&g, &r)| if r > 0.0 { g } else { 0.0 }).collect();
        Ok((CpuStorage::F32(out), gl.shape().clone()))
    }
}

/// `max(x, 0)` with a one-pass backward.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Relu)
}

/// `exp(r)` for `r` in `[-87, 0]`, written without branches or library calls so that the compiler
/// turns the loops that call it into SIMD code: `r = n ln 2 + f`, `exp(r) = 2^n exp(f)`, with
/// `exp(f)` a degree-6 Taylor polynomial on `|f| <= ln 2 / 2` (relative error below 3e-7).
#[inline(always)]
fn exp_nonpositive(r: f32) -> f32 {
    let r = r.max(-87.0);
    // Round r / ln 2 to the nearest integer with the 1.5 * 2^23 trick: its low bits hold n.
    let shifted = r * std::f32::consts::LOG2_E + 12_582_912.0;
    let n = shifted - 12_582_912.0;
    let f = r - n * std::f32::consts::LN_2;
    let p = 1.0 + f * (1.0 + f * (0.5 + f * (1.0 / 6.0 + f * (1.0 / 24.0 + f * (1.0 / 120.0 + f * (1.0 / 720.0))))));
    let n_int = shifted.to_bits().wrapping_sub(0x4B40_0000) as i32;
    p * f32::from_bits(((n_int + 127) << 23) as u32)
}

/// `ln(1 + e)` for `e` in `[0, 1]`, as `2 atanh(s)` with `s = e / (2 + e) <= 1/3`: the odd series
/// to `s^15` leaves a relative error below 1e-8.
#[inline(always)]
fn ln_1p_unit(e: f32) -> f32 {
    let s = e / (2.0 + e);
    let s2 = s * s;
    let series = 1.0
        + s2 * (1.0 / 3.0
            + s2 * (1.0 / 5.0
                + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0 + s2 * (1.0 / 13.0 + s2 / 15.0))))));
    2.0 * s * series
}

/// For each row of `l` and `x` (`cols` wide): `nll[row] = sum_j softplus(l_j) - x_j l_j`, and
/// `grad = scale * (sigmoid(l) - x)`, its gradient, from the same `exp`.
pub(crate) fn bernoulli_nll_rows(l: &[f32], x: &[f32], cols: usize, scale: f32, nll: &mut [f32], grad: &mut [f32]) {
    let rows = nll.len();
    if rows >= 32 && candle_core::utils::get_num_threads() > 1 {
        // Two halves of the batch side by side: the rows are independent.
        let h = rows / 2;
        let (nll_a, nll_b) = nll.split_at_mut(h);
        let (grad_a, grad_b) = grad.split_at_mut(h * cols);
        rayon::join(
            || bernoulli_nll_serial(&l[..h * cols], &x[..h * cols], cols, scale, nll_a, grad_a),
            || bernoulli_nll_serial(&l[h * cols..], &x[h * cols..], cols, scale, nll_b, grad_b),
        );
    } else {
        bernoulli_nll_serial(l, x, cols, scale, nll, grad);
    }
}

fn bernoulli_nll_serial(l: &[f32], x: &[f32], cols: usize, scale: f32, nll: &mut [f32], grad: &mut [f32]) {
    // ANCHOR: bernoulli_kernel
    let mut terms = vec![0.0f32; cols];
    let rows = l.chunks_exact(cols).zip(x.chunks_exact(cols)).zip(grad.chunks_exact_mut(cols));
    for (((lr, xr), gr), out) in rows.zip(nll.iter_mut()) {
        for (((&l, &x), g), t) in lr.iter().zip(xr).zip(gr.iter_mut()).zip(terms.iter_mut()) {
            // e = exp(-|l|) in (0, 1]: softplus(l) = max(l, 0) + ln(1 + e), and
            // sigmoid(l) = 1 / (1 + e) for l >= 0, e / (1 + e) otherwise.
            let e = exp_nonpositive(-l.abs());
            *t = l.max(0.0) - x * l + ln_1p_unit(e);
            let inv = 1.0 / (1.0 + e);
            *g = scale * (if l >= 0.0 { inv } else { e * inv } - x);
        }
        // Summed in f64 so that 784 terms lose nothing to rounding.
        *out = terms.iter().map(|&t| t as f64).sum::<f64>() as f32;
    }
    // ANCHOR_END: bernoulli_kernel
}

/// The gradient of a per-row loss with respect to its `(rows, cols)` logits, computed by the
/// forward kernel and scaled by the incoming per-row gradient in the backward pass.
#[derive(Default)]
struct SavedGrad(Mutex<Option<Tensor>>);

impl SavedGrad {
    fn store(&self, grad: Vec<f32>, rows: usize, cols: usize) -> Result<()> {
        let grad = Tensor::from_vec(grad, (rows, cols), &candle_core::Device::Cpu)?;
        *self.0.lock().map_err(|_| candle_core::Error::Msg("loss gradient lock poisoned".into()))? = Some(grad);
        Ok(())
    }

    /// `grad * grad_res[row]`, the logits' gradient; `op` names the loss in the error.
    fn times(&self, grad_res: &Tensor, op: &str) -> Result<Tensor> {
        let saved = self.0.lock().map_err(|_| candle_core::Error::Msg("loss gradient lock poisoned".into()))?;
        let Some(grad) = saved.as_ref() else { bail!("{op}: backward before forward") };
        grad.broadcast_mul(&grad_res.unsqueeze(1)?)
    }
}

/// Per-row `sum_j softplus(l_j) - x_j l_j`; keeps `sigmoid(l) - x` for the backward pass.
struct BernoulliNll {
    grad: SavedGrad,
}

impl CustomOp2 for BernoulliNll {
    fn name(&self) -> &'static str {
        "fused-bernoulli-nll"
    }

    fn cpu_fwd(&self, ls: &CpuStorage, ll: &Layout, xs: &CpuStorage, xl: &Layout) -> Result<(CpuStorage, Shape)> {
        let (rows, cols) = ll.shape().dims2()?;
        if xl.dims() != ll.dims() {
            bail!("fused-bernoulli-nll: logits {:?} and targets {:?} differ", ll.dims(), xl.dims())
        }
        let (l, x) = (f32_slice(ls, ll, "logits")?, f32_slice(xs, xl, "targets")?);
        let mut nll = vec![0.0f32; rows];
        let mut grad = vec![0.0f32; rows * cols];
        bernoulli_nll_rows(l, x, cols, 1.0, &mut nll, &mut grad);
        self.grad.store(grad, rows, cols)?;
        Ok((CpuStorage::F32(nll), Shape::from(rows)))
    }

    fn bwd(
        &self,
        _l: &Tensor,
        _x: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(self.grad.times(grad_res, "fused-bernoulli-nll")?), None))
    }
}

/// Per-row Bernoulli negative log-likelihood `-log p(x | logits)`, shape `(batch,)`; no gradient
/// flows to the targets `x`.
pub fn bernoulli_nll(x: &Tensor, logits: &Tensor) -> Result<Tensor> {
    logits.contiguous()?.apply_op2(&x.contiguous()?, BernoulliNll { grad: SavedGrad::default() })
}

/// For each row of `l` (`cols` wide) with target class `target[row]`: `nll[row] = logsumexp(l) -
/// l[target]`, and its gradient `softmax(l) - onehot(target)` in `grad`, from the same `exp`s.
fn softmax_nll_serial(l: &[f32], target: &[u32], cols: usize, nll: &mut [f32], grad: &mut [f32]) {
    for (((lr, gr), &t), out) in l.chunks_exact(cols).zip(grad.chunks_exact_mut(cols)).zip(target).zip(nll.iter_mut()) {
        let max = lr.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        for (g, &v) in gr.iter_mut().zip(lr) {
            *g = exp_nonpositive(v - max);
        }
        let sum: f32 = gr.iter().sum();
        let inv = 1.0 / sum;
        for g in gr.iter_mut() {
            *g *= inv;
        }
        let t = t as usize; // below `cols`: checked by the caller
        gr[t] -= 1.0;
        *out = max + sum.ln() - lr[t];
    }
}

/// Per-row softmax cross-entropy; keeps `softmax(l) - onehot` for the backward pass.
struct SoftmaxNll {
    grad: SavedGrad,
}

impl CustomOp2 for SoftmaxNll {
    fn name(&self) -> &'static str {
        "fused-softmax-nll"
    }

    fn cpu_fwd(&self, ls: &CpuStorage, ll: &Layout, ts: &CpuStorage, tl: &Layout) -> Result<(CpuStorage, Shape)> {
        let (rows, cols) = ll.shape().dims2()?;
        if tl.dims() != [rows] {
            bail!("fused-softmax-nll: logits {:?} need one target per row, got {:?}", ll.dims(), tl.dims())
        }
        let l = f32_slice(ls, ll, "logits")?;
        let target = match tl.contiguous_offsets() {
            Some((a, b)) => &ts.as_slice::<u32>()?[a..b],
            None => bail!("fused-softmax-nll: targets must be contiguous"),
        };
        if let Some(&bad) = target.iter().find(|&&t| t as usize >= cols) {
            bail!("fused-softmax-nll: target class {bad} is outside the {cols} classes")
        }
        let mut nll = vec![0.0f32; rows];
        let mut grad = vec![0.0f32; rows * cols];
        // Rows are independent: chunks of 64 rows on rayon's threads.
        const CHUNK: usize = 64;
        use rayon::prelude::*;
        grad.par_chunks_mut(CHUNK * cols).zip(nll.par_chunks_mut(CHUNK)).enumerate().for_each(|(c, (g, n))| {
            let r0 = c * CHUNK;
            let rows_here = n.len();
            softmax_nll_serial(&l[r0 * cols..(r0 + rows_here) * cols], &target[r0..r0 + rows_here], cols, n, g);
        });
        self.grad.store(grad, rows, cols)?;
        Ok((CpuStorage::F32(nll), Shape::from(rows)))
    }

    fn bwd(
        &self,
        _l: &Tensor,
        _t: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(self.grad.times(grad_res, "fused-softmax-nll")?), None))
    }
}

/// Per-row `-log softmax(logits)[target]`, shape `(rows,)`, for `(rows, classes)` logits and
/// `(rows,)` u32 targets; no gradient flows to the targets. The plain equivalent is
/// `logits.log_sum_exp(1) - logits.gather(targets, 1)`, which takes about three times as long.
pub fn softmax_nll(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    logits.contiguous()?.apply_op2(&targets.contiguous()?, SoftmaxNll { grad: SavedGrad::default() })
}
