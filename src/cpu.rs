//! CPU-heavy work (argon2 password hashing, demo data generation) runs on the runtime's
//! blocking threads, so the threads that serve requests never stall behind it. The one place
//! that knows how; database threading lives in `storage` alone.

/// Runs `work` on a blocking thread and waits for it; `Err` only if it panicked.
pub async fn run<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| e.to_string())
}
