//! Fast CPU convolutions for the convolutional VAE: candle's `conv2d` and `conv_transpose2d`
//! (square kernels, any stride and padding, one group, no dilation), forward and backward, as
//! im2col/col2im around the `gemm` crate, with the batch split between two threads.
//!
//! Both layers are built from three products over an image's *patches*. A convolution reads a
//! "big" image and writes a "small" one; a transposed convolution runs the same map backwards:
//!
//! | product, per image | convolution | transposed convolution |
//! |---|---|---|
//! | [`gather`]: `small = W im2col(big)` | forward | gradient of the input |
//! | [`scatter`]: `big = col2im(W^T small)` | gradient of the input | forward |
//! | [`weight_grad`]: `sum small im2col(big)^T` | gradient of the weight | gradient of the weight |
//!
//! `W` is the layer's weight seen as a matrix: `(out, in k k)` for a convolution, `(in, out k k)`
//! for a transposed one (candle's and PyTorch's layouts). `tests/fused.rs` checks values and every
//! gradient against candle's own ops.

use super::fused::{Mat, ReluBackward, f32_slice, matmul_serial};
use super::halves::{halves, per_half};
use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, bail};
use candle_nn::{Conv2d, ConvTranspose2d};

/// How a big image (`channels x big`) is read in `kernel x kernel` patches at `stride`, with
/// `pad` zeros around it, one patch per pixel of the small image (`small`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Patches {
    channels: usize,
    big: (usize, usize),
    small: (usize, usize),
    kernel: usize,
    stride: usize,
    pad: usize,
}

impl Patches {
    /// Rows of the patch matrix: one per channel and kernel offset.
    fn rows(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }

    /// Columns of the patch matrix: one per pixel of the small image.
    fn cols(&self) -> usize {
        self.small.0 * self.small.1
    }

    fn big_len(&self) -> usize {
        self.channels * self.big.0 * self.big.1
    }

    /// The big-image coordinate that small coordinate `o` reads at kernel offset `k`, if inside.
    fn source(&self, o: usize, k: usize, size: usize) -> Option<usize> {
        (o * self.stride + k).checked_sub(self.pad).filter(|&i| i < size)
    }

    /// For each entry `(r, j)` of an image's patch matrix, the index in the big image that it
    /// reads, or [`OUTSIDE`] where it reads the zero padding. Built once per layer and pass.
    fn sources(&self) -> Vec<u32> {
        let ((bh, bw), (sh, sw), k) = (self.big, self.small, self.kernel);
        let mut table = Vec::with_capacity(self.rows() * self.cols());
        for r in 0..self.rows() {
            let (c, ky, kx) = (r / (k * k), r / k % k, r % k);
            for oy in 0..sh {
                for ox in 0..sw {
                    let at = self.source(oy, ky, bh).zip(self.source(ox, kx, bw));
                    table.push(at.map_or(OUTSIDE, |(iy, ix)| ((c * bh + iy) * bw + ix) as u32));
                }
            }
        }
        table
    }
}

/// A patch entry that falls on the zero padding (beyond every image: `get` returns nothing).
const OUTSIDE: u32 = u32::MAX;

/// `col[j] = img[sources[j]]`, 0 on the padding: an image's patch matrix (im2col).
fn im2col(sources: &[u32], img: &[f32], col: &mut [f32]) {
    for (v, &at) in col.iter_mut().zip(sources) {
        *v = img.get(at as usize).copied().unwrap_or(0.0);
    }
}

/// The adjoint of [`im2col`]: adds every patch entry back onto the pixel it read (col2im).
fn col2im_add(sources: &[u32], col: &[f32], img: &mut [f32]) {
    for (&v, &at) in col.iter().zip(sources) {
        if let Some(pixel) = img.get_mut(at as usize) {
            *pixel += v;
        }
    }
}

/// Runs `f(first image, its outputs)` over `n` images whose outputs are `per_image` long: the
/// batch in two halves on two threads when there are two, else in one piece.
fn over_batch<F: Fn(usize, &mut [f32]) + Sync>(n: usize, per_image: usize, out: &mut [f32], f: F) {
    match halves(n).as_slice() {
        [_, second] => {
            let (a, b) = out.split_at_mut(second.start * per_image);
            rayon::join(|| f(0, a), || f(second.start, b));
        }
        _ => f(0, out),
    }
}

/// `small[i] = W im2col(big[i]) (+ bias)` for each image `i`; `W` is `(m, patches.rows())`.
///
/// One image at a time, so that its patch matrix stays in the cache for the product (putting a
/// half-batch's patches side by side for one large product measured slower).
fn gather(p: &Patches, w: &[f32], big: &[f32], bias: Option<&[f32]>, n: usize) -> Vec<f32> {
    let (m, rows, s) = (w.len() / p.rows(), p.rows(), p.cols());
    let mut out = vec![0.0f32; n * m * s];
    let sources = p.sources();
    over_batch(n, m * s, &mut out, |first, out| {
        let mut col = vec![0.0f32; rows * s];
        for (i, small) in out.chunks_exact_mut(m * s).enumerate() {
            if let Some(b) = bias {
                for (plane, &v) in small.chunks_exact_mut(s).zip(b) {
                    plane.fill(v);
                }
            }
            im2col(&sources, &big[(first + i) * p.big_len()..][..p.big_len()], &mut col);
            matmul_serial(small, bias.is_some(), Mat::rows(w, rows), Mat::rows(&col, s), m, rows, s);
        }
    });
    out
}

/// `big[i] = col2im(W^T small[i]) (+ bias)` for each image `i`; `W` is `(m, patches.rows())`.
fn scatter(p: &Patches, w: &[f32], small: &[f32], bias: Option<&[f32]>, n: usize) -> Vec<f32> {
    let (m, rows, s) = (w.len() / p.rows(), p.rows(), p.cols());
    let mut out = vec![0.0f32; n * p.big_len()];
    let sources = p.sources();
    over_batch(n, p.big_len(), &mut out, |first, out| {
        let mut col = vec![0.0f32; rows * s];
        for (i, big) in out.chunks_exact_mut(p.big_len()).enumerate() {
            if let Some(b) = bias {
                for (plane, &v) in big.chunks_exact_mut(p.big.0 * p.big.1).zip(b) {
                    plane.fill(v);
                }
            }
            let x = &small[(first + i) * m * s..][..m * s];
            matmul_serial(&mut col, false, Mat::transposed(w, rows), Mat::rows(x, s), rows, m, s);
            col2im_add(&sources, &col, big);
        }
    });
    out
}

/// `sum_i small[i] im2col(big[i])^T`, shape `(m, patches.rows())`, for `m`-channel small images.
fn weight_grad(p: &Patches, small: &[f32], m: usize, big: &[f32], n: usize) -> Vec<f32> {
    let (rows, s, sources) = (p.rows(), p.cols(), p.sources());
    let part = |images: std::ops::Range<usize>| {
        let (mut acc, mut col) = (vec![0.0f32; m * rows], vec![0.0f32; rows * s]);
        for i in images {
            im2col(&sources, &big[i * p.big_len()..][..p.big_len()], &mut col);
            let x = &small[i * m * s..][..m * s];
            matmul_serial(&mut acc, true, Mat::rows(x, s), Mat::transposed(&col, s), m, s, rows);
        }
        acc
    };
    let sums = per_half(&halves(n), part).into_iter().reduce(|mut a, b| {
        a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
        a
    });
    sums.unwrap_or_default()
}

/// The per-channel sum of a `(batch, channels, h, w)` gradient: a bias's gradient.
struct SumChannels;

impl CustomOp1 for SumChannels {
    fn name(&self) -> &'static str {
        "fast-conv-bias-grad"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (_, c, h, w) = l.shape().dims4()?;
        let mut acc = vec![0.0f64; c];
        for (j, plane) in f32_slice(s, l, "gradient")?.chunks_exact(h * w).enumerate() {
            acc[j % c] += plane.iter().map(|&v| v as f64).sum::<f64>();
        }
        Ok((CpuStorage::F32(acc.into_iter().map(|v| v as f32).collect()), Shape::from(c)))
    }
}

/// Which of the three products a backward op computes, and the patches it reads.
#[derive(Clone, Copy)]
enum Product {
    /// `(w, big) -> small`
    Gather(Patches),
    /// `(w, small) -> big`
    Scatter(Patches),
    /// `(small, big) -> w`
    WeightGrad(Patches),
}

impl CustomOp2 for Product {
    fn name(&self) -> &'static str {
        match self {
            Product::Gather(_) => "fast-conv-gather",
            Product::Scatter(_) => "fast-conv-scatter",
            Product::WeightGrad(_) => "fast-conv-weight-grad",
        }
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (a, b) = (f32_slice(s1, l1, "first operand")?, f32_slice(s2, l2, "second operand")?);
        let n = l2.dims()[0];
        let (data, shape) = match *self {
            Product::Gather(p) => {
                let m = l1.dims()[0];
                (gather(&p, a, b, None, n), Shape::from((n, m, p.small.0, p.small.1)))
            }
            Product::Scatter(p) => (scatter(&p, a, b, None, n), Shape::from((n, p.channels, p.big.0, p.big.1))),
            Product::WeightGrad(p) => {
                let m = l1.dims()[1];
                (weight_grad(&p, a, m, b, n), Shape::from((m, p.channels, p.kernel, p.kernel)))
            }
        };
        Ok((CpuStorage::F32(data), shape))
    }
}

/// Checks that the input, weight and bias are 4-D, 4-D with a square kernel, and 1-D with
/// `bias_dim`'s length, all of non-zero sizes but the batch.
fn check(op: &str, x: &Layout, w: &Layout, b: &Layout, bias_dim: usize) -> Result<()> {
    let (xd, wd) = (x.dims(), w.dims());
    let fits = xd.len() == 4 && wd.len() == 4 && wd[2] == wd[3] && b.dims() == [wd[bias_dim]];
    if !fits || xd[1..].contains(&0) || wd.contains(&0) {
        bail!("{op}: input {xd:?}, weight {wd:?} and bias {:?} do not fit", b.dims())
    }
    Ok(())
}

impl Patches {
    /// Refuses images whose pixel indices would not fit the `u32` index table.
    fn indexable(self, op: &str) -> Result<Self> {
        if self.big_len() >= OUTSIDE as usize {
            bail!("{op}: an image of {} values is too large for the index table", self.big_len())
        }
        Ok(self)
    }
}

/// A convolution with square kernels, one group and no dilation.
struct Conv {
    stride: usize,
    pad: usize,
    input_grad: bool,
    /// A ReLU applied inside the op (one node and one pass fewer than a separate ReLU).
    relu: bool,
}

impl Conv {
    fn patches(&self, x: &[usize], kernel: usize) -> Result<Patches> {
        let side = |s: usize| match (s + 2 * self.pad).checked_sub(kernel) {
            Some(d) => Ok(d / self.stride + 1),
            None => bail!("fast-conv2d: a {kernel}x{kernel} kernel does not fit an input of side {s}"),
        };
        let big = (x[2], x[3]);
        Ok(Patches {
            channels: x[1],
            big,
            small: (side(big.0)?, side(big.1)?),
            kernel,
            stride: self.stride,
            pad: self.pad,
        })
    }
}

impl CustomOp3 for Conv {
    fn name(&self) -> &'static str {
        "fast-conv2d"
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
        check(self.name(), xl, wl, bl, 0)?;
        let p = self.patches(xl.dims(), wl.dims()[2])?.indexable(self.name())?;
        if wl.dims()[1] != p.channels {
            bail!("fast-conv2d: input {:?} and weight {:?} do not fit", xl.dims(), wl.dims())
        }
        let (x, w, b) = (f32_slice(xs, xl, "input")?, f32_slice(ws, wl, "weight")?, f32_slice(bs, bl, "bias")?);
        let n = xl.dims()[0];
        let mut out = gather(&p, w, x, Some(b), n);
        relu_in_place(self.relu, &mut out);
        Ok((CpuStorage::F32(out), Shape::from((n, wl.dims()[0], p.small.0, p.small.1))))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _b: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Grads3> {
        let p = self.patches(x.dims(), w.dim(2)?)?;
        let grad = through_relu(self.relu, res, grad)?;
        let grad_x = if self.input_grad { Some(w.apply_op2_no_bwd(&grad, &Product::Scatter(p))?) } else { None };
        let grad_w = grad.apply_op2_no_bwd(x, &Product::WeightGrad(p))?;
        Ok((grad_x, Some(grad_w), Some(grad.apply_op1_no_bwd(&SumChannels)?)))
    }
}

type Grads3 = (Option<Tensor>, Option<Tensor>, Option<Tensor>);

fn relu_in_place(relu: bool, out: &mut [f32]) {
    if relu {
        out.iter_mut().for_each(|v| *v = v.max(0.0));
    }
}

/// The gradient before the op's ReLU (if it has one), from the gradient after it and the output.
fn through_relu(relu: bool, out: &Tensor, grad: &Tensor) -> Result<Tensor> {
    let grad = grad.contiguous()?;
    if relu { grad.apply_op2_no_bwd(out, &ReluBackward) } else { Ok(grad) }
}

/// A transposed convolution with square kernels, one group and no dilation.
struct ConvTranspose {
    stride: usize,
    pad: usize,
    output_pad: usize,
    relu: bool,
}

impl ConvTranspose {
    fn patches(&self, x: &[usize], w: &[usize]) -> Result<Patches> {
        let kernel = w[2];
        let side = |s: usize| match ((s.max(1) - 1) * self.stride + kernel + self.output_pad).checked_sub(2 * self.pad)
        {
            Some(side) if s > 0 && side > 0 => Ok(side),
            _ => bail!("fast-conv-transpose2d: an input of side {s} with padding {} gives no output", self.pad),
        };
        Ok(Patches {
            channels: w[1],
            big: (side(x[2])?, side(x[3])?),
            small: (x[2], x[3]),
            kernel,
            stride: self.stride,
            pad: self.pad,
        })
    }
}

impl CustomOp3 for ConvTranspose {
    fn name(&self) -> &'static str {
        "fast-conv-transpose2d"
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
        check(self.name(), xl, wl, bl, 1)?;
        if wl.dims()[0] != xl.dims()[1] {
            bail!("fast-conv-transpose2d: input {:?} and weight {:?} do not fit", xl.dims(), wl.dims())
        }
        let p = self.patches(xl.dims(), wl.dims())?.indexable(self.name())?;
        let (x, w, b) = (f32_slice(xs, xl, "input")?, f32_slice(ws, wl, "weight")?, f32_slice(bs, bl, "bias")?);
        let n = xl.dims()[0];
        let mut out = scatter(&p, w, x, Some(b), n);
        relu_in_place(self.relu, &mut out);
        Ok((CpuStorage::F32(out), Shape::from((n, p.channels, p.big.0, p.big.1))))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _b: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Grads3> {
        let p = self.patches(x.dims(), w.dims())?;
        let grad = through_relu(self.relu, res, grad)?;
        let grad_x = w.apply_op2_no_bwd(&grad, &Product::Gather(p))?;
        let grad_w = x.contiguous()?.apply_op2_no_bwd(&grad, &Product::WeightGrad(p))?;
        Ok((Some(grad_x), Some(grad_w), Some(grad.apply_op1_no_bwd(&SumChannels)?)))
    }
}

/// The layers these ops cover: one group, no dilation, a stride of at least 1.
fn plain_layer(op: &str, groups: usize, dilation: usize, stride: usize) -> Result<()> {
    if groups != 1 || dilation != 1 || stride == 0 {
        bail!("{op}: only one group, no dilation and a stride above 0 (got {groups}, {dilation}, {stride})")
    }
    Ok(())
}

/// candle's `ConvTranspose2d` has no groups.
const ONE_GROUP: usize = 1;

/// `layer.forward(x)` for a candle `Conv2d` with a bias; with `input_grad = false` no gradient
/// flows to `x` (use it when `x` is data).
pub fn conv2d(layer: &Conv2d, x: &Tensor, input_grad: bool) -> Result<Tensor> {
    conv2d_op(layer, x, input_grad, false)
}

/// `layer.forward(x)?.relu()` in one op.
pub fn conv2d_relu(layer: &Conv2d, x: &Tensor, input_grad: bool) -> Result<Tensor> {
    conv2d_op(layer, x, input_grad, true)
}

fn conv2d_op(layer: &Conv2d, x: &Tensor, input_grad: bool, relu: bool) -> Result<Tensor> {
    let c = layer.config();
    plain_layer("fast-conv2d", c.groups, c.dilation, c.stride)?;
    let Some(b) = layer.bias() else { bail!("fast-conv2d: the layer has no bias") };
    let op = Conv { stride: c.stride, pad: c.padding, input_grad, relu };
    x.contiguous()?.apply_op3(&layer.weight().contiguous()?, b, op)
}

/// `layer.forward(x)` for a candle `ConvTranspose2d` with a bias.
pub fn conv_transpose2d(layer: &ConvTranspose2d, x: &Tensor) -> Result<Tensor> {
    conv_transpose2d_op(layer, x, false)
}

/// `layer.forward(x)?.relu()` in one op.
pub fn conv_transpose2d_relu(layer: &ConvTranspose2d, x: &Tensor) -> Result<Tensor> {
    conv_transpose2d_op(layer, x, true)
}

fn conv_transpose2d_op(layer: &ConvTranspose2d, x: &Tensor, relu: bool) -> Result<Tensor> {
    let c = layer.config();
    plain_layer("fast-conv-transpose2d", ONE_GROUP, c.dilation, c.stride)?;
    let Some(b) = layer.bias() else { bail!("fast-conv-transpose2d: the layer has no bias") };
    let op = ConvTranspose { stride: c.stride, pad: c.padding, output_pad: c.output_padding, relu };
    x.contiguous()?.apply_op3(&layer.weight().contiguous()?, b, op)
}
