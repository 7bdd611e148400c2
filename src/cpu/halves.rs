//! The two-core split the fast kernels share: a batch cut into two halves that run side by side
//! (rayon's `join`), or kept whole on one thread or for a single row.

use std::ops::Range;

/// `0..n` in two halves when there are two threads and at least two rows, else whole.
pub(crate) fn halves(n: usize) -> Vec<Range<usize>> {
    if n >= 2 && candle_core::utils::get_num_threads() > 1 {
        vec![0..n / 2, n / 2..n]
    } else {
        std::iter::once(0..n).collect()
    }
}

/// `f` on each part of [`halves`], the two halves side by side.
pub(crate) fn per_half<T: Send>(parts: &[Range<usize>], f: impl Fn(Range<usize>) -> T + Sync) -> Vec<T> {
    match parts {
        [a, b] => {
            let (x, y) = rayon::join(|| f(a.clone()), || f(b.clone()));
            vec![x, y]
        }
        _ => parts.iter().map(|r| f(r.clone())).collect(),
    }
}
