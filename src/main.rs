//! The `mlsync` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

/// mimalloc: `render` of 1,000 services runs about a quarter faster than with glibc's malloc
/// (see `benches/validate_render.rs`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    mlsync::cli::Args::parse_and_run()
}

/// Commit arena memory on demand instead of up front (mimalloc's default on Linux): the idle
/// daemon then holds less resident memory than with glibc's malloc (measured with
/// `benches/daemon_latency.rs`). It must be set before the first allocation creates the first
/// arena, so it runs as an ELF constructor (what the `ctor` crate expands to), not from `main`.
/// As a default only: `MIMALLOC_ARENA_EAGER_COMMIT` in the environment still wins.
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static TUNE_ALLOCATOR: extern "C" fn() = {
    extern "C" fn tune() {
        /// `mi_option_arena_eager_commit` in mimalloc 3.x (libmimalloc-sys exports no constant).
        const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
        // SAFETY: FFI calls without pointers, before any thread exists; the option number is
        // only used with the mimalloc major version it belongs to.
        unsafe {
            if libmimalloc_sys::mi_version() / 10_000 == 3 {
                libmimalloc_sys::mi_option_set_default(ARENA_EAGER_COMMIT, 0);
            }
        }
    }
    tune
};
