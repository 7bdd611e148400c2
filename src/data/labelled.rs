//! Semi-supervised data: every training image, and the labels of only a few of them.
//!
//! The labelled rows are drawn at random, the same number from every class (as Kingma et al.
//! 2014 draw their 100 labels); the rest of the training images are used without their labels.
//! Each gradient step of [`crate::models::m2`] takes a batch of unlabelled rows (the epoch's
//! shuffle) and a batch of labelled ones ([`FewLabels::labelled_batch`]).

use super::Images;
use crate::prob::SeededRng;
use std::fmt;

/// Why a draw of labels cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawError(String);

impl fmt::Display for DrawError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DrawError {}

/// Training images of which only the rows in `labelled` keep their labels.
pub struct FewLabels {
    pub images: Images,
    /// Training rows whose labels a model may read, the same number from each class, in the order drawn.
    pub labelled: Vec<u32>,
    /// Every other training row, read without its label, in the data's order.
    pub unlabelled: Vec<u32>,
}

impl FewLabels {
    /// Keeps the labels of `per_class` training images of each class, drawn with `seed`.
    pub fn draw(images: Images, per_class: usize, seed: u64) -> Result<Self, DrawError> {
        let labels = &images.train_labels;
        let classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
        if per_class == 0 || classes == 0 {
            return Err(DrawError(format!("cannot draw {per_class} labels per class from {} images", labels.len())));
        }
        let mut left = vec![per_class; classes];
        let mut labelled = Vec::with_capacity(per_class * classes);
        for row in SeededRng::derived(seed, "labelled-draw", 0).permutation(labels.len()) {
            let class = labels[row as usize] as usize;
            if left[class] > 0 {
                left[class] -= 1;
                labelled.push(row);
            }
        }
        if let Some(class) = left.iter().position(|&n| n > 0) {
            return Err(DrawError(format!("class {class} has fewer than the {per_class} images to label")));
        }
        let mut is_labelled = vec![false; labels.len()];
        labelled.iter().for_each(|&r| is_labelled[r as usize] = true);
        let unlabelled: Vec<u32> = (0..labels.len() as u32).filter(|&r| !is_labelled[r as usize]).collect();
        if unlabelled.is_empty() {
            return Err(DrawError(format!("labelling {per_class} per class leaves no unlabelled images")));
        }
        Ok(Self { images, labelled, unlabelled })
    }

    /// The labelled rows of gradient step `step`: all of them if there are at most `size`, else
    /// the next `size` in a fixed cycle through them (so a resumed run reads the same rows).
    pub fn labelled_batch(&self, step: u64, size: usize) -> Vec<u32> {
        let n = self.labelled.len();
        if size >= n {
            return self.labelled.clone();
        }
        let start = (step as usize).wrapping_mul(size) % n;
        (0..size).map(|i| self.labelled[(start + i) % n]).collect()
    }

    /// The labels of the labelled rows, in their order.
    pub fn labels(&self) -> Vec<u8> {
        self.images.batch_labels(&self.labelled)
    }
}
