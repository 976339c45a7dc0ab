//! `benches/reconcile.sh` end to end with 10 services: it builds the Flux peer
//! (`benches/peers/build.sh`, Go modules from the module proxy), starts one control plane of the
//! current release per tool and runs mlsync, Flux's apply engine and `kubectl apply --server-side
//! --prune` (ApplySet) through cold apply, no-op, a change in git, drift in the cluster and a
//! prune. The script itself checks the cluster after every step (object counts, images) and fails
//! when a tool did not do the work; this test reads the table it prints, as a user would: one
//! well-formed row per step and tool, with the requests each tool sent. Timings are printed, not
//! judged (they are the benchmark's figures, and move with the machine's load).
//!
//! Needs what the script needs: Go and the module proxy for the Flux peer, `/usr/bin/time`
//! (Debian package `time`, installed by `tests/run.sh`), the current control plane.

use std::collections::BTreeMap;
use std::process::Command;

const N: usize = 10;
const STEPS: [&str; 5] = ["cold", "no-op", "change", "drift", "prune"];
const TOOLS: [&str; 3] = ["mlsync", "flux", "kubectl"];
const HEADER: &str =
    "| step | tool | wall (s) | writes | dry-run writes | reads | peak RSS (MiB) | CPU (s) |";

/// One row of the table: writes, dry-run writes, reads.
#[derive(Debug, Clone, Copy)]
struct Row {
    writes: u64,
    dry_run: u64,
    reads: u64,
}

fn table(stdout: &str) -> BTreeMap<(String, String), Row> {
    let mut rows = BTreeMap::new();
    for line in stdout.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() != 8 || !STEPS.contains(&cells[0]) {
            continue;
        }
        let num = |i: usize| -> u64 {
            cells[i]
                .parse()
                .unwrap_or_else(|e| panic!("cell {i} of {line:?}: {e}"))
        };
        // Wall time, peak RSS and CPU time: numbers, whatever they are.
        for i in [2, 6, 7] {
            let v: f64 = cells[i]
                .parse()
                .unwrap_or_else(|e| panic!("cell {i} of {line:?}: {e}"));
            assert!(v.is_finite() && v >= 0.0, "{line}");
        }
        assert!(TOOLS.contains(&cells[1]), "unknown tool in {line}");
        let previous = rows.insert(
            (cells[0].to_owned(), cells[1].to_owned()),
            Row {
                writes: num(3),
                dry_run: num(4),
                reads: num(5),
            },
        );
        assert!(previous.is_none(), "row repeated: {line}");
    }
    rows
}

#[test]
fn three_tools_go_through_the_five_steps_and_the_table_shows_their_requests() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(format!("{root}/benches/reconcile.sh"))
        .arg(N.to_string())
        .env("MLSYNC", env!("CARGO_BIN_EXE_mlsync"))
        .env_remove("MLSYNC_BENCH_TOOLS")
        .env_remove("MLSYNC_BENCH_MLSYNC_ARGS")
        .env_remove("MLSYNC_BENCH_PAUSE_CONTROLLERS")
        .env_remove("MLSYNC_BENCH_OUT")
        .output()
        .expect("run benches/reconcile.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "benches/reconcile.sh {N} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains(&format!("{N} services ({} objects", N * 5)),
        "{stdout}"
    );
    assert!(
        stdout.contains("one fresh control plane per tool"),
        "{stdout}"
    );
    assert!(stdout.lines().any(|l| l == HEADER), "{stdout}");
    let rows = table(&stdout);
    assert_eq!(rows.len(), STEPS.len() * TOOLS.len(), "{stdout}");
    for step in STEPS {
        for tool in TOOLS {
            assert!(
                rows.contains_key(&(step.to_owned(), tool.to_owned())),
                "no row for {tool} {step}:\n{stdout}"
            );
        }
    }
    let row = |step: &str, tool: &str| rows[&(step.to_owned(), tool.to_owned())];
    let objects = (N * 5) as u64;
    for tool in TOOLS {
        // Every object and the 10 namespaces are written on the cold apply.
        assert!(row("cold", tool).writes >= objects + 10, "{tool}: {stdout}");
        // The git change and the drift are each repaired with at least one write.
        assert!(row("change", tool).writes >= 1, "{tool}: {stdout}");
        assert!(row("drift", tool).writes >= 1, "{tool}: {stdout}");
        // 10% of the services (5 objects each) are deleted.
        assert!(
            row("prune", tool).writes >= objects / 10,
            "{tool}: {stdout}"
        );
    }
    // The two GitOps engines write nothing when nothing changed; kubectl re-applies everything.
    assert_eq!(row("no-op", "mlsync").writes, 0, "{stdout}");
    assert_eq!(row("no-op", "flux").writes, 0, "{stdout}");
    assert!(row("no-op", "kubectl").writes >= objects, "{stdout}");
    // Flux's drift check is a server-side dry-run apply of every object; mlsync compares reads.
    assert!(row("no-op", "flux").dry_run >= objects, "{stdout}");
    assert_eq!(row("no-op", "mlsync").dry_run, 0, "{stdout}");
    assert!(row("no-op", "mlsync").reads > 0, "{stdout}");
}
