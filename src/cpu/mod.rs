//! The fast CPU path: fused kernels and the MLP VAE's hand-written backward pass, each tested
//! equal to the plain candle code the chapters show.

pub mod fused;
pub mod manual;
