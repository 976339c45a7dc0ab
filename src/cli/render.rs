//! `mlsync render`.

use std::io::Write;

use anyhow::{Context, bail};

use super::{EXIT_CHANGES, EXIT_ERROR, EXIT_OK, KeyArgs, RepoArgs};
use crate::render::{self, HpaVersion, RenderOptions, output};
use crate::secrets::SopsSource;
use crate::source_id::{Origin, SourceIdPolicy};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Multi-document YAML (`kubectl apply -f -` reads it).
    Yaml,
    /// A JSON `v1/List`.
    Json,
}

/// HPA API version to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HpaArg {
    /// autoscaling/v2 (Kubernetes ≥ 1.23).
    V2,
    /// autoscaling/v2beta2 (Kubernetes < 1.23).
    V2beta2,
}

/// Arguments of `mlsync render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    #[command(flatten)]
    repo: RepoArgs,
    /// Render only this service (metadata.name).
    #[arg(long, env = "MLSYNC_SERVICE")]
    service: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "yaml")]
    output: Format,
    /// Ownership label value (mlsync.dev/source); default: sourceId in mlsync.yaml, else derived
    /// from the git remote URL (and subdirectory) of the repo, else the directory name.
    #[arg(long, env = "MLSYNC_SOURCE_ID")]
    source_id: Option<String>,
    /// HorizontalPodAutoscaler API version.
    #[arg(long, value_enum, default_value = "v2")]
    hpa_version: HpaArg,
    /// Print decrypted Secret values instead of `<redacted>` (only to stdout, never to a file of ours).
    #[arg(long)]
    show_secrets: bool,
    #[command(flatten)]
    keys: KeyArgs,
}

/// Renders every valid service; exit 0 when all specs are valid, 1 when some are invalid (their
/// problems go to stderr), 2 on errors such as a secrets file that cannot be decrypted.
pub fn run(args: &RenderArgs) -> anyhow::Result<u8> {
    let repo = args.repo.load()?;
    for d in &repo.diagnostics {
        eprintln!("{d}");
    }
    let policy = SourceIdPolicy::for_dir(args.source_id.clone(), &args.repo.repo);
    let source_id = policy.resolve_for(&repo)?;
    // Render output feeds other tools: only the directory-name fallback is worth a line.
    if source_id.origin == Origin::DirectoryName {
        policy.log(&source_id);
    }
    let opts = RenderOptions {
        source_id: source_id.id,
        hpa: match args.hpa_version {
            HpaArg::V2 => HpaVersion::V2,
            HpaArg::V2beta2 => HpaVersion::V2beta2,
        },
    };
    let selected: Vec<_> = repo
        .services
        .iter()
        .filter(|s| {
            args.service
                .as_deref()
                .is_none_or(|n| n == s.spec.metadata.name)
        })
        .collect();
    if let Some(name) = &args.service
        && selected.is_empty()
    {
        let have: Vec<&str> = repo
            .services
            .iter()
            .map(|s| s.spec.metadata.name.as_str())
            .collect();
        bail!(
            "failed to find a valid service named {name} in {} (valid services: {})",
            repo.root.display(),
            have.join(", ")
        );
    }
    let source = SopsSource::from_options(&args.keys.options())?;
    // YAML streams service by service (memory stays flat for large repos); JSON is one List.
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut json_objects = Vec::new();
    let mut failed = false;
    for svc in selected {
        let objects = match render::render_service(&repo, svc, &source, &opts) {
            Ok(objects) => objects,
            Err(e) => {
                eprintln!("error: {}/{}: {e}", svc.namespace, svc.spec.metadata.name);
                failed = true;
                continue;
            }
        };
        match args.output {
            Format::Yaml => stdout
                .write_all(output::to_yaml(&objects, args.show_secrets).as_bytes())
                .context("failed to write to stdout")?,
            Format::Json => json_objects.extend(objects),
        }
    }
    if args.output == Format::Json {
        let text = output::to_json(&json_objects, args.show_secrets)?;
        stdout
            .write_all(text.as_bytes())
            .context("failed to write to stdout")?;
    }
    stdout.flush().context("failed to write to stdout")?;
    Ok(if failed {
        EXIT_ERROR
    } else if repo.is_valid() {
        EXIT_OK
    } else {
        EXIT_CHANGES
    })
}
