//! Variational autoencoders with candle: the library behind the book and its notebooks.
//!
//! Laid out by role: `models` (one model and its loss per file, in the book's order), `classic`
//! (Bayes, variational inference, mixtures, PCA and the tools used on trained codes), `data` (data
//! sets and batching), `train` (the one training loop), `cpu` (the fused kernels and hand-written
//! steps of the fast CPU path), `estimators` (importance-sampled likelihoods and active units), `cli` (the `vae`
//! program's models), `report` (the experiments that write the book's numbers and figures). Every
//! figure, number and code listing in the book comes from here.

pub use candle_core;
pub use candle_nn;

pub mod checkpoint;
pub mod classic;
pub mod cli;
pub mod cpu;
pub mod data;
pub mod diagram;
pub mod estimators;
pub mod figures;
pub mod init;
pub mod models;
pub mod notebook;
pub mod optim;
pub mod plot;
pub mod prob;
pub mod report;
pub mod train;

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

    #[doc = include_str!("../book/src/likelihoods.md")]
    pub struct Likelihoods;

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

    #[doc = include_str!("../book/src/vq-vae.md")]
    pub struct VqVae;

    #[doc = include_str!("../book/src/blur.md")]
    pub struct Blur;

    #[doc = include_str!("../book/src/ecg.md")]
    pub struct Ecg;

    #[doc = include_str!("../book/src/world-model.md")]
    pub struct WorldModel;

    #[doc = include_str!("../book/src/compute-cost.md")]
    pub struct ComputeCost;

    #[doc = include_str!("../book/src/challenges.md")]
    pub struct Challenges;
}
