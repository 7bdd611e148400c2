//! Methods around the VAE: Bayesian updating and evidence, variational inference with known
//! posteriors, a Gaussian mixture by EM, Bayesian logistic regression (HMC and VI), PCA, the
//! amortization gap, and what is done with trained codes (interpolation, neighbours, anomaly
//! scores, linear probes), the Fréchet distance and sharpness that measure blur, and the mutual
//! information gap that measures disentanglement.

pub mod amortize;
pub mod anomaly;
pub mod bayes;
pub mod frechet;
pub mod gmm;
pub mod latent;
pub mod logistic;
pub mod mig;
pub mod pca;
pub mod rpeaks;
pub mod text_probe;
pub mod vi;
