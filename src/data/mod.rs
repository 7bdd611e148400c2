//! Data sets: the IDX reader and MNIST-format images (embedded digits or clothes, or the full files from a
//! folder), and two
//! small tabular sets from scikit-learn for the theory chapters, Bach chorales as piano rolls, and
//! sentences from the State of the Union addresses, generated sprites with known factors, heartbeats
//! from an electrocardiogram, MedMNIST-format archives a reader has downloaded, and the frames of a
//! small game (the world model's).

pub mod catch;
pub mod chorales;
pub mod ecg;
pub mod idx;
pub mod images;
pub mod labelled;
pub mod medmnist;
pub mod mnist;
pub mod sequences;
pub mod sotu;
pub mod sprites;
pub mod tabular;
pub mod tokens;

pub use idx::{IdxError, IdxImages, IdxLabels};
pub use images::{BinarizedImages, Images};
pub use mnist::{Dataset, ImageSet, Mnist, Split};
