//! Benchmark: validate + render 1,000 generated services.
//!
//! `cargo bench --bench validate_render` prints in-process timings (median of several runs) and
//! the process's peak RSS. `cargo bench --bench validate_render -- --write-repo DIR` only writes
//! the generated repo, so the whole `mlsync validate` / `mlsync render` process can be measured
//! from outside, e.g. `/usr/bin/time -v target/release/mlsync render --repo DIR >/dev/null`.
//! In-process figures use the system allocator; the `mlsync` binary uses mimalloc (see
//! `src/main.rs`), so the whole-process figure is the one to quote for the binary.

use std::path::Path;
use std::time::Instant;

use mlsync::render::{HpaVersion, RenderOptions, render};

const SERVICES: usize = 1000;

fn spec(i: usize) -> String {
    format!(
        "apiVersion: mlsync.dev/v1alpha1
kind: MLService
metadata:
  name: model-{i}
  namespace: team-{ns}
  labels:
    team: t{ns}
spec:
  model:
    name: model-{i}
    version: v{v}
    uri: s3://models/model-{i}/v{v}
  image: registry.example.com/models/model-{i}:v{v}
  port: 8080
  config:
    MODEL_NAME: model-{i}
    BATCH_SIZE: \"{batch}\"
  resources:
    requests:
      cpu: 250m
      memory: 512Mi
    limits:
      cpu: \"1\"
      memory: 1Gi
  service:
    type: ClusterIP
  autoscaling:
    minReplicas: 2
    maxReplicas: 10
    targetCPUUtilizationPercentage: 60
  probes:
    startup:
      path: /healthz
      failureThreshold: 30
    readiness:
      path: /ready
",
        ns = i % 10,
        v = i % 7 + 1,
        batch = 8 << (i % 4)
    )
}

/// Writes a config repo with `SERVICES` specs, ten per file.
pub fn write_repo(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("services"))?;
    std::fs::write(
        dir.join("mlsync.yaml"),
        "sourceId: bench\npaths: [services]\n",
    )?;
    for f in 0..SERVICES / 10 {
        let text: Vec<String> = (f * 10..f * 10 + 10).map(spec).collect();
        std::fs::write(
            dir.join(format!("services/file-{f:03}.yaml")),
            text.join("---\n"),
        )?;
    }
    Ok(())
}

fn peak_rss_kib() -> i64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc_rusage::Rusage = unsafe { std::mem::zeroed() };
    unsafe { libc_rusage::getrusage(0, &mut usage) };
    usage.ru_maxrss
}

/// Minimal binding to getrusage(2), to report peak RSS without another dependency.
mod libc_rusage {
    /// struct rusage on Linux x86_64/aarch64: two timevals then 14 longs.
    #[repr(C)]
    pub struct Rusage {
        pub ru_utime: [i64; 2],
        pub ru_stime: [i64; 2],
        pub ru_maxrss: i64,
        pub rest: [i64; 13],
    }
    unsafe extern "C" {
        pub fn getrusage(who: i32, usage: *mut Rusage) -> i32;
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--write-repo") {
        let dir = args.get(i + 1).ok_or("--write-repo needs a directory")?;
        write_repo(Path::new(dir))?;
        println!("wrote {SERVICES} services to {dir}");
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    write_repo(dir.path())?;
    let opts = RenderOptions {
        source_id: "bench".into(),
        hpa: HpaVersion::V2,
    };
    let (mut load_t, mut render_t, mut yaml_t, mut total_t) = (vec![], vec![], vec![], vec![]);
    let mut objects = 0;
    for _ in 0..7 {
        let start = Instant::now();
        let repo = mlsync::repo::load(dir.path())?;
        assert!(repo.is_valid(), "{:?}", repo.diagnostics.first());
        let loaded = Instant::now();
        objects = 0;
        let (mut bytes, mut in_yaml) = (0, std::time::Duration::ZERO);
        for svc in &repo.services {
            let objs = render(svc, None, &opts)?;
            let y = Instant::now();
            bytes += mlsync::render::output::to_yaml(&objs, false).len();
            in_yaml += y.elapsed();
            objects += objs.len();
        }
        std::hint::black_box(bytes);
        load_t.push(loaded - start);
        yaml_t.push(in_yaml);
        render_t.push(loaded.elapsed() - in_yaml);
        total_t.push(start.elapsed());
    }
    let median = |v: &mut Vec<std::time::Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1e3
    };
    println!(
        "validate+render {SERVICES} services ({objects} objects, YAML output): median {:.1} ms \
         (load+validate {:.1} ms, render {:.1} ms, YAML {:.1} ms); peak RSS {:.1} MiB",
        median(&mut total_t),
        median(&mut load_t),
        median(&mut render_t),
        median(&mut yaml_t),
        peak_rss_kib() as f64 / 1024.0
    );
    Ok(())
}
