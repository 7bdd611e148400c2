//! The fast CPU path: fused kernels, fast convolutions and the MLP VAE's hand-written backward
//! pass, each tested equal to the plain candle code the chapters show.

pub mod conv;
pub mod fused;
pub mod gru;
mod halves;
pub mod manual;
pub mod memory;
