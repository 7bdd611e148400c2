//! Variational autoencoders with candle: the library behind the book and its notebooks.
//!
//! Modules are named after concepts, not chapters. Every figure, number and code listing in the
//! book comes from here.

pub use candle_core;
pub use candle_nn;

pub mod amortize;
pub mod anomaly;
pub mod bayes;
pub mod checkpoint;
pub mod cli;
pub mod conv_vae;
pub mod cvae;
pub mod data;
pub mod figures;
pub mod fused;
pub mod gmm;
pub mod importance;
pub mod init;
pub mod iwae;
pub mod latent;
pub mod logistic;
pub mod manual;
pub mod notebook;
pub mod optim;
pub mod pca;
pub mod plot;
pub mod prob;
pub mod quadrant;
pub mod report;
pub mod text_probe;
pub mod text_vae;
pub mod train;
pub mod vae;
pub mod vi;
pub mod vrnn;

/// The book's chapters, compiled and run as doctests so that text and code cannot drift.
#[cfg(doctest)]
pub mod book {
    #[doc = include_str!("../book/src/vae.md")]
    pub struct Vae;

    #[doc = include_str!("../book/src/bayes.md")]
    pub struct Bayes;

    #[doc = include_str!("../book/src/vi.md")]
    pub struct Vi;

    #[doc = include_str!("../book/src/amortized.md")]
    pub struct Amortized;

    #[doc = include_str!("../book/src/conv-vae.md")]
    pub struct ConvVae;

    #[doc = include_str!("../book/src/latent-space.md")]
    pub struct LatentSpace;

    #[doc = include_str!("../book/src/beta-vae.md")]
    pub struct BetaVae;

    #[doc = include_str!("../book/src/iwae.md")]
    pub struct Iwae;

    #[doc = include_str!("../book/src/cvae.md")]
    pub struct Cvae;

    #[doc = include_str!("../book/src/sequences.md")]
    pub struct Sequences;

    #[doc = include_str!("../book/src/text-vae.md")]
    pub struct TextVae;

    #[doc = include_str!("../book/src/compute-cost.md")]
    pub struct ComputeCost;
}
