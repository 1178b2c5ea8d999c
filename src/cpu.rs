//! CPU-heavy work (argon2 password hashing, demo data generation) runs on the runtime's
//! blocking threads, so the threads that serve requests never stall behind it. The one place
//! that knows how; database threading lives in `storage` alone.

use std::future::Future;

/// Starts `work` on a blocking thread at once; the future waits for its result (`Err` only if
/// it panicked).
pub fn run<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> impl Future<Output = Result<T, String>> {
    let handle = tokio::task::spawn_blocking(work);
    async move { handle.await.map_err(|e| e.to_string()) }
}
