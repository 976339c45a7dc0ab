//! SIGTERM/SIGINT for `mlsync run`: the first asks for a graceful shutdown, the second exits
//! at once with code 130.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::oneshot;

/// Exit code after a second signal.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Installs the handlers (inside the runtime) and returns a future that completes on the first
/// SIGTERM or SIGINT. A second signal of either kind ends the process with exit code 130.
pub fn shutdown_on_signals() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let (first_tx, first_rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut first = Some(first_tx);
        loop {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            match first.take() {
                Some(tx) => {
                    tracing::info!(
                        signal = name,
                        "shutdown requested; a second signal exits at once"
                    );
                    let _ = tx.send(());
                }
                None => {
                    tracing::warn!(signal = name, "second signal: exiting now");
                    std::process::exit(EXIT_INTERRUPTED);
                }
            }
        }
    });
    Ok(async move {
        // A dropped sender (the task ended) also means: shut down.
        let _ = first_rx.await;
    })
}
