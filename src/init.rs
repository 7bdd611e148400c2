//! Seeded initial weights, the same rule as PyTorch's default for `nn.Linear` and `nn.Conv2d`:
//! weights and biases uniform in `[-1/sqrt(fan_in), 1/sqrt(fan_in)]`, where `fan_in` is the
//! number of inputs of one output unit (Kaiming-uniform with `a = sqrt(5)`).
//!
//! candle's own `linear` initialises from its unseedable device generator and about 2.4 times
//! wider, so models here are built first and then re-initialised from a [`SeededRng`].

use crate::prob::SeededRng;
use candle_core::{Result, Tensor};
use candle_nn::VarMap;

/// Re-initialises every `NAME.weight` / `NAME.bias` pair of `varmap` from `seed`, then every
/// recurrent layer (`NAME.weight_ih_l0`, ...).
///
/// Variables are visited in name order so that the result does not depend on hash-map order.
pub fn pytorch_default_init(varmap: &VarMap, seed: u64) -> Result<()> {
    let vars = varmap.data().lock().map_err(|_| candle_core::Error::Msg("VarMap lock poisoned".into()))?;
    let mut names: Vec<&String> = vars.keys().filter(|n| n.ends_with(".weight")).collect();
    names.sort();
    let mut rng = SeededRng::new(seed);
    for name in names {
        let weight = &vars[name];
        let dims = weight.dims();
        if dims.len() < 2 {
            candle_core::bail!("{name}: expected a weight with at least 2 dimensions, got {dims:?}");
        }
        let fan_in: usize = dims[1..].iter().product();
        let bound = 1.0 / (fan_in as f32).sqrt();
        let values = rng.uniform_vec(weight.elem_count(), -bound, bound)?;
        weight.set(&Tensor::from_vec(values, dims, weight.device())?.to_dtype(weight.dtype())?)?;
        let bias_name = format!("{}.bias", name.trim_end_matches(".weight"));
        if let Some(bias) = vars.get(&bias_name) {
            let values = rng.uniform_vec(bias.elem_count(), -bound, bound)?;
            bias.set(&Tensor::from_vec(values, bias.dims(), bias.device())?.to_dtype(bias.dtype())?)?;
        }
    }
    // Recurrent layers (candle's GRU/LSTM use PyTorch's names): every weight and bias uniform in
    // [-1/sqrt(hidden), 1/sqrt(hidden)], PyTorch's default for nn.GRU and nn.LSTM.
    let mut recurrent: Vec<&String> = vars.keys().filter(|n| n.ends_with("weight_hh_l0")).collect();
    recurrent.sort();
    for name in recurrent {
        let prefix = name.trim_end_matches("weight_hh_l0");
        let hidden = vars[name].dims().get(1).copied().unwrap_or(1);
        let bound = 1.0 / (hidden as f32).sqrt();
        for part in ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"] {
            if let Some(v) = vars.get(&format!("{prefix}{part}")) {
                let values = rng.uniform_vec(v.elem_count(), -bound, bound)?;
                v.set(&Tensor::from_vec(values, v.dims(), v.device())?.to_dtype(v.dtype())?)?;
            }
        }
    }
    Ok(())
}
