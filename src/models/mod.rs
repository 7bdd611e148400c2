//! The models of the book, one per file with its loss. The chapters teach them in this order:
//! `vae`, `likelihood`, `conv_vae`, `iwae`, `cvae` and `quadrant`, `vrnn`, `text_vae`, `vqvae`
//! (with `vq_prior`), `vae_gan` (with `classifier`, whose features measure blur), `ecg_vae`, and `world` (V and M of a world
//! model; its controller is in [`crate::train::es`]).

pub mod classifier;
pub mod controller;
pub mod conv_vae;
pub mod cvae;
pub mod ecg_vae;
pub mod iwae;
pub mod likelihood;
pub mod m2;
pub mod quadrant;
pub mod tcvae;
pub mod text_vae;
pub mod vae;
pub mod vae_gan;
pub mod vq_prior;
pub mod vqvae;
pub mod vrnn;
pub mod world;
