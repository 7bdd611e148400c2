//! Keeping freed memory in the process between training steps.
//!
//! Every candle op allocates its output, and a convolutional layer's activations for a batch of
//! 128 digits are several megabytes. glibc's `malloc` serves blocks that large with `mmap` and
//! returns them to the system on `free`, so each step pays for fresh zeroed pages from the kernel:
//! measured on the conv VAE, a quarter of an epoch went to page faults. Raising the two thresholds
//! keeps those blocks in the heap for the next step (9.5 s to 6.8 s per epoch of the conv VAE on
//! two cores). The memory a run has used stays with it until it exits.

/// Blocks below this size come from the heap, not from a fresh mapping (glibc's maximum).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 32 << 20;
/// Free memory at the top of the heap is returned to the system only beyond this.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 1 << 30;

/// Tells glibc's allocator to keep freed blocks for reuse (once per process; nothing elsewhere).
pub fn keep_freed_memory() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes the allocator's tuning parameters.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        }
    });
}
