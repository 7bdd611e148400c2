//! Data sets: the IDX reader and MNIST (embedded subset or the full files from a folder).

pub mod idx;
pub mod mnist;

pub use idx::{IdxError, IdxImages, IdxLabels};
pub use mnist::{Dataset, Mnist, Split};
