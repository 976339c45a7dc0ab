//! `mlsync promote`: promotion by commit. Rewrites the overlay of one service in the `--to`
//! environment so that it runs what `--from` runs ([`crate::repo::promote`] computes it),
//! checks the result by loading the repo again, prints the diff and, with `--commit`, commits
//! that one file. Nothing is applied to any cluster: the daemon following the branch does that.

use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;

use super::{EXIT_CHANGES, EXIT_OK};
use crate::render::yaml;
use crate::repo::promote::{self, Field, Promotion};
use crate::repo::{self, ConfineError, Diagnostic, LoadedService, Repo};
use crate::spec::MLService;

/// The editor modeline that is kept when an overlay file is rewritten.
const MODELINE: &str = "# yaml-language-server:";

/// Arguments of `mlsync promote`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
What is promoted: spec.model, spec.image and spec.config (config as a whole: keys the --to \
overlay set itself are replaced), and spec.secrets with --secrets (the path of the encrypted \
file only: the --to environment then reads the same file). Everything else (replicas, \
autoscaling, resources, namespace, …) stays per environment. To change what every environment \
runs, edit the base spec instead.

The overlay file is rewritten in mlsync's own YAML style: its comments are not kept (a note says \
so), except a `# yaml-language-server: $schema=…` line, which stays on top. An overlay left \
empty is deleted.

Exit codes: 0 nothing to promote, 1 promoted (file written, and committed with --commit), \
2 error (nothing is written; only when the commit itself fails is the written file left, and the \
error says so).

--commit commits only the overlay file to the current branch (other staged changes stay staged \
and out of the commit), as user.name/user.email of the git config, unsigned and without running \
hooks; it refuses when the overlay file, the --from overlay or the base spec has uncommitted \
changes. Not to be confused with `mlsync rollout promote`, which finishes a canary rollout in \
the cluster.")]
pub struct PromoteArgs {
    /// The service to promote (metadata.name of its base spec).
    service: String,
    /// The environment whose model, image and config are promoted.
    #[arg(long, value_name = "ENV")]
    from: String,
    /// The environment whose overlay is rewritten.
    #[arg(long, value_name = "ENV")]
    to: String,
    /// Config repo directory (a checkout holding mlsync.yaml and MLService specs).
    #[arg(long, env = "MLSYNC_REPO", default_value = ".")]
    repo: PathBuf,
    /// Promote spec.secrets too (the path of the encrypted file, never its content).
    #[arg(long)]
    secrets: bool,
    /// Commit the overlay file (alone) to the current branch.
    #[arg(long)]
    commit: bool,
    /// Commit message (default: `promote SERVICE from FROM to TO: model NAME VERSION, …`).
    #[arg(short = 'm', long = "message", value_name = "MSG", requires = "commit")]
    message: Option<String>,
}

/// Promotes; exit 0 when there is nothing to promote, 1 when the overlay was rewritten.
pub fn run(args: &PromoteArgs) -> anyhow::Result<u8> {
    let root = args.repo.as_path();
    let (service, from, to) = (args.service.as_str(), args.from.as_str(), args.to.as_str());
    let from_repo = repo::load_env(root, Some(from))?;
    let to_repo = repo::load_env(root, Some(to))?;
    let known = from_repo
        .services
        .iter()
        .map(|s| s.spec.metadata.name.as_str())
        .chain(from_repo.invalid.iter().map(|s| s.name.as_str()));
    promote::check_request(service, from, to, known)?;

    let svc = source_service(&from_repo, service)?;
    let base = base_document(root, svc)?;
    let from_spec = from_repo
        .overlays
        .apply(&base)
        .unwrap_or_else(|| base.clone());
    let (file, to_overlay) = target_overlay(&to_repo, service)?;
    let mut fields = Field::RUNS.to_vec();
    if args.secrets {
        fields.push(Field::Secrets);
    }
    let Some(promotion) = promote::promote(&base, &from_spec, &to_overlay, &fields, &file)? else {
        println!("nothing to promote: {to} already runs what {from} runs");
        return Ok(EXIT_OK);
    };
    let message = args
        .message
        .clone()
        .unwrap_or_else(|| promote::summary(service, from, to, &promotion.changes));
    let git = if args.commit {
        let mut clean = vec![file.clone(), svc.file.clone()];
        clean.extend(
            from_repo
                .overlays
                .by_service
                .get(service)
                .map(|o| o.file.clone()),
        );
        Some(GitTarget::open(root, &file, &clean)?)
    } else {
        None
    };

    let path = root.join(&file);
    let old = match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => bail!("failed to read {}: {e}", path.display()),
    };
    let old_text = old
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let new_text = new_file_text(&old_text, &promotion);
    let created_dir = write(&path, new_text.as_deref(), old.is_some())?;
    if let Err(problem) = verify(root, service, to, &file, svc, &fields) {
        restore(&path, old.as_deref(), created_dir)?;
        if let Problem::Invalid(diagnostics) = &problem {
            let was = to_repo.overlays.by_service.get(service).map(|o| &o.doc);
            let written = new_text.as_deref().unwrap_or_default();
            for line in shown_where_written(diagnostics, &file, was, written) {
                eprintln!("{line}");
            }
        }
        return Err(problem.into_error(service, to, &file));
    }

    print_diff(&file, old.is_some(), &old_text, new_text.as_deref())?;
    notes(&file, from, to, &old_text, &promotion);
    match git {
        Some(git) => {
            let commit = git
                .commit(new_text.as_deref().map(str::as_bytes), &message)
                .with_context(|| format!("{} was written but not committed", file.display()))?;
            eprintln!("committed {commit}: {message}");
        }
        None => match &new_text {
            Some(_) => eprintln!("wrote {}: {message}", file.display()),
            None => eprintln!("deleted {}: {message}", file.display()),
        },
    }
    Ok(EXIT_CHANGES)
}

/// The service in the `--from` environment: it must be valid there, and defined once.
fn source_service<'a>(repo: &'a Repo, name: &str) -> anyhow::Result<&'a LoadedService> {
    let env = repo.overlays.env.as_str();
    let found: Vec<&LoadedService> = repo
        .services
        .iter()
        .filter(|s| s.spec.metadata.name == name)
        .collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => {
            print_diagnostics(&repo.diagnostics);
            bail!(
                "failed to promote {name}: it is invalid in environment {env} (see the problems above, or run mlsync validate --env {env})"
            )
        }
        many => {
            let at: Vec<String> = many
                .iter()
                .map(|s| format!("{}/{name} in {}", s.namespace, s.file.display()))
                .collect();
            bail!(
                "failed to promote {name}: it is defined more than once ({}); promote works on a service defined once",
                at.join(", ")
            )
        }
    }
}

/// The base spec of `svc` as written (before any overlay), read again from its file.
fn base_document(root: &Path, svc: &LoadedService) -> anyhow::Result<Value> {
    let path = root.join(&svc.file);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    let docs = repo::yaml::parse_values(&text)
        .map_err(|e| anyhow::anyhow!("failed to read {}: {e}", svc.file.display()))?;
    let name = svc.spec.metadata.name.as_str();
    docs.into_iter()
        .find(|d| d.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
        .with_context(|| format!("failed to find service {name} in {}", svc.file.display()))
}

/// The `--to` overlay of `service` (file relative to the root, and its document; `{}` and the
/// path it will have when there is none yet).
fn target_overlay(repo: &Repo, service: &str) -> anyhow::Result<(PathBuf, Value)> {
    let env = repo.overlays.env.as_str();
    if repo.overlays.broken.contains(service) {
        print_diagnostics(&repo.diagnostics);
        bail!(
            "failed to promote {service}: its overlay in environment {env} cannot be read (see the problems above); fix it first"
        );
    }
    if let Some(o) = repo.overlays.by_service.get(service) {
        return Ok((o.file.clone(), o.doc.value.clone()));
    }
    let Some(e) = &repo.environment else {
        print_diagnostics(&repo.diagnostics);
        bail!(
            "failed to promote {service}: the overlay directory of environment {env} cannot be used (see the problems above)"
        );
    };
    let written = e.config.overlay_dir(&e.name);
    let dir = match repo::confine(&repo.root, &written) {
        Ok(rel) => rel,
        Err(ConfineError::NotFound)
            if Path::new(&written)
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir)) =>
        {
            PathBuf::from(&written)
        }
        Err(e) => bail!("failed to use the overlay directory {written} of environment {env}: {e}"),
    };
    Ok((
        dir.join(format!("{service}.yaml")),
        Value::Object(Default::default()),
    ))
}

/// The new file: the kept modeline, then the overlay; `None` when the overlay is empty.
fn new_file_text(old: &str, promotion: &Promotion) -> Option<String> {
    let overlay = promotion.overlay.as_ref()?;
    let mut out = String::new();
    if let Some(line) = modeline_of(old) {
        out.push_str(line);
        out.push('\n');
    }
    yaml::write_document(&mut out, overlay);
    Some(out)
}

fn modeline_of(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim_end)
        .find(|l| l.starts_with(MODELINE))
}

/// Whether `text` has a comment other than the modeline (a line starting with `#`, or ` #`
/// after a value; a `#` inside a quoted string counts too: the note is only a note).
fn has_comments(text: &str) -> bool {
    text.lines().any(|l| {
        let t = l.trim_start();
        (t.starts_with('#') && !t.starts_with(MODELINE)) || l.contains(" #") || l.contains("\t#")
    })
}

/// Writes `text` to `path` through a temporary file and a rename (or deletes `path` when
/// `text` is `None`). Returns whether the directory was created for it.
fn write(path: &Path, text: Option<&str>, existed: bool) -> anyhow::Result<bool> {
    let Some(text) = text else {
        if existed {
            std::fs::remove_file(path)
                .with_context(|| format!("failed to delete {}", path.display()))?;
        }
        return Ok(false);
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let created = !dir.exists();
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.mlsync-promote.tmp"));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        if existed {
            let perms = std::fs::metadata(path)?.permissions();
            std::fs::set_permissions(&tmp, perms)?;
        }
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        bail!("failed to write {}: {e}", path.display());
    }
    Ok(created)
}

/// Puts back what was at `path` before (its bytes, or nothing).
fn restore(path: &Path, old: Option<&[u8]>, created_dir: bool) -> anyhow::Result<()> {
    match old {
        Some(bytes) => std::fs::write(path, bytes),
        None => match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => {
                if created_dir && let Some(dir) = path.parent() {
                    let _ = std::fs::remove_dir(dir);
                }
                Ok(())
            }
        },
    }
    .with_context(|| format!("failed to restore {}", path.display()))
}

/// Why the promoted overlay was not kept.
enum Problem {
    /// The service is invalid in `--to` with it: the problems of its files.
    Invalid(Vec<Diagnostic>),
    /// Loading failed, or these fields still differ (a bug).
    Other(anyhow::Error),
}

impl Problem {
    fn into_error(self, service: &str, to: &str, file: &Path) -> anyhow::Error {
        match self {
            Problem::Invalid(_) => anyhow::anyhow!(
                "failed to promote {service}: environment {to} would be invalid (see the problems above); {} is unchanged",
                file.display()
            ),
            Problem::Other(e) => e,
        }
    }
}

/// Loads the repo again for `--to`: the service must be valid there and run what `--from` runs.
fn verify(
    root: &Path,
    service: &str,
    to: &str,
    file: &Path,
    from: &LoadedService,
    fields: &[Field],
) -> Result<(), Problem> {
    let after = repo::load_env(root, Some(to)).map_err(|e| Problem::Other(e.into()))?;
    let found = after
        .services
        .iter()
        .find(|s| s.spec.metadata.name == service);
    let Some(now) = found else {
        let mine: Vec<Diagnostic> = after
            .diagnostics
            .iter()
            .filter(|d| d.file == file || d.file == from.file)
            .cloned()
            .collect();
        return Err(Problem::Invalid(if mine.is_empty() {
            after.diagnostics
        } else {
            mine
        }));
    };
    let differs: Vec<&str> = fields
        .iter()
        .filter(|f| runs(&now.spec, **f) != runs(&from.spec, **f))
        .map(|f| f.key())
        .collect();
    if !differs.is_empty() {
        return Err(Problem::Other(anyhow::anyhow!(
            "failed to promote {service}: after writing {}, spec.{} in {to} still differs (a bug: please report it); the file is unchanged",
            file.display(),
            differs.join(", spec.")
        )));
    }
    Ok(())
}

/// The problems found with the promoted overlay, as lines to print once the file is back as it
/// was: a problem in the overlay is shown at the same field of the file as it is now, or, for
/// a field only the promotion wrote, marked `(as promoted)` without a position.
fn shown_where_written(
    diagnostics: &[Diagnostic],
    file: &Path,
    was: Option<&repo::yaml::Document>,
    written: &str,
) -> Vec<String> {
    let promoted = repo::yaml::parse_documents(written)
        .ok()
        .and_then(|mut docs| (!docs.is_empty()).then(|| docs.swap_remove(0)));
    let mut lines = Vec::new();
    for d in diagnostics {
        let Some(new) = promoted.as_ref().filter(|_| d.file == file) else {
            lines.push(d.to_string());
            continue;
        };
        let mut all = Vec::new();
        pointers(&new.value, String::new(), &mut all);
        let at = all
            .iter()
            .filter(|p| new.positions.locate(p) == d.pos)
            .max_by_key(|p| p.len());
        let old_pos = at.and_then(|p| {
            was.filter(|w| w.value.pointer(p).is_some())
                .map(|w| w.positions.locate(p))
        });
        match old_pos {
            Some(pos) => lines.push(Diagnostic { pos, ..d.clone() }.to_string()),
            None => {
                let field = if d.field.is_empty() {
                    String::new()
                } else {
                    format!(" {}:", d.field)
                };
                lines.push(format!(
                    "{} (as promoted):{field} {}",
                    file.display(),
                    d.message
                ));
            }
        }
    }
    lines
}

/// Every JSON pointer in `v` (below `prefix`), the root included.
fn pointers(v: &Value, prefix: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = format!("{prefix}/{}", crate::spec::names::escape_segment(k));
                pointers(child, p, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                pointers(child, format!("{prefix}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(prefix);
}

/// One promoted field of a typed spec, for comparison.
fn runs(s: &MLService, f: Field) -> Value {
    let spec = &s.spec;
    let v = match f {
        Field::Model => serde_json::to_value(&spec.model),
        Field::Image => serde_json::to_value(&spec.image),
        Field::Config => serde_json::to_value(&spec.config),
        Field::Secrets => serde_json::to_value(&spec.secrets),
    };
    v.unwrap_or(Value::Null)
}

fn print_diagnostics(diagnostics: &[Diagnostic]) {
    for d in diagnostics {
        eprintln!("{d}");
    }
}

/// The unified diff of the overlay file, with `a/` and `b/` paths relative to the repo root.
fn print_diff(file: &Path, existed: bool, old: &str, new: Option<&str>) -> anyhow::Result<()> {
    let shown = file.display().to_string();
    let a = if existed {
        format!("a/{shown}")
    } else {
        "/dev/null".to_owned()
    };
    let b = if new.is_some() {
        format!("b/{shown}")
    } else {
        "/dev/null".to_owned()
    };
    let text = similar::TextDiff::from_lines(old, new.unwrap_or_default())
        .unified_diff()
        .context_radius(3)
        .header(&a, &b)
        .to_string();
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("failed to write to stdout")
}

/// What the user should know beyond the diff.
fn notes(file: &Path, from: &str, to: &str, old: &str, promotion: &Promotion) {
    if has_comments(old) {
        eprintln!(
            "note: {} was rewritten: its comments are not kept",
            file.display()
        );
    }
    if !promotion.replaced_config.is_empty() {
        eprintln!(
            "note: spec.config is promoted as a whole: {to}'s own {} replaced by {from}'s config",
            match promotion.replaced_config.as_slice() {
                [one] => format!("setting of {one} is"),
                many => format!("settings of {} are", many.join(", ")),
            }
        );
    }
}

/// The git side of `--commit`, checked before anything is written.
struct GitTarget {
    repo: git2::Repository,
    /// The overlay file, relative to the work tree's root.
    path: PathBuf,
    signature: git2::Signature<'static>,
    parent: git2::Oid,
}

impl GitTarget {
    /// Opens the work tree holding `root`; refuses when any of `clean` (relative to `root`)
    /// has uncommitted changes, when there is no commit yet, or no identity to commit as.
    fn open(root: &Path, file: &Path, clean: &[PathBuf]) -> anyhow::Result<Self> {
        let fail = |e: git2::Error| anyhow::anyhow!("failed to commit: {}", e.message());
        let repo = git2::Repository::discover(root).map_err(|_| {
            anyhow::anyhow!(
                "failed to commit: {} is not inside a git work tree",
                root.display()
            )
        })?;
        let Some(work) = repo.workdir() else {
            bail!(
                "failed to commit: {} is a bare git repository",
                root.display()
            );
        };
        let work = std::fs::canonicalize(work)
            .with_context(|| format!("failed to read {}", work.display()))?;
        let top = std::fs::canonicalize(root)
            .with_context(|| format!("failed to read {}", root.display()))?;
        let in_git = |rel: &Path| -> anyhow::Result<PathBuf> {
            Ok(top
                .join(rel)
                .strip_prefix(&work)
                .with_context(|| {
                    format!(
                        "failed to commit: {} is outside the git work tree",
                        rel.display()
                    )
                })?
                .to_owned())
        };
        for rel in clean {
            let status = match repo.status_file(&in_git(rel)?) {
                Ok(s) => s,
                Err(e) if e.code() == git2::ErrorCode::NotFound => git2::Status::CURRENT,
                Err(e) => return Err(fail(e)),
            };
            if !status.is_empty() {
                bail!(
                    "failed to commit: {} has uncommitted changes; commit or stash them first, or promote without --commit",
                    rel.display()
                );
            }
        }
        let signature = repo.signature().map_err(|_| {
            anyhow::anyhow!(
                "failed to commit: no git identity; set one with git config user.name \"Your Name\" and git config user.email you@example.com"
            )
        })?;
        let parent = repo
            .head()
            .and_then(|h| h.peel_to_commit())
            .map_err(|_| anyhow::anyhow!("failed to commit: the git repository has no commit yet"))?
            .id();
        let path = in_git(file)?;
        Ok(Self {
            repo,
            path,
            signature: signature.to_owned(),
            parent,
        })
    }

    /// Commits HEAD's tree with the overlay file set to `content` (deleted when `None`) on the
    /// current branch, and stages the same in the index (nothing else in it changes).
    fn commit(&self, content: Option<&[u8]>, message: &str) -> anyhow::Result<String> {
        let fail = |e: git2::Error| anyhow::anyhow!("failed to commit: {}", e.message());
        let repo = &self.repo;
        let parent = repo.find_commit(self.parent).map_err(fail)?;
        let tree = parent.tree().map_err(fail)?;
        let mut update = git2::build::TreeUpdateBuilder::new();
        match content {
            Some(bytes) => {
                let blob = repo.blob(bytes).map_err(fail)?;
                let executable = tree
                    .get_path(&self.path)
                    .is_ok_and(|e| e.filemode() == i32::from(git2::FileMode::BlobExecutable));
                let mode = if executable {
                    git2::FileMode::BlobExecutable
                } else {
                    git2::FileMode::Blob
                };
                update.upsert(&self.path, blob, mode);
            }
            None => {
                update.remove(&self.path);
            }
        }
        let tree = update
            .create_updated(repo, &tree)
            .and_then(|id| repo.find_tree(id))
            .map_err(fail)?;
        let sig = &self.signature;
        let message = git2::message_prettify(message, None).map_err(fail)?;
        let id = repo
            .commit(Some("HEAD"), sig, sig, &message, &tree, &[&parent])
            .map_err(fail)?;
        let mut index = repo.index().map_err(fail)?;
        match content {
            Some(_) => index.add_path(&self.path),
            None => index.remove_path(&self.path),
        }
        .and_then(|()| index.write())
        .map_err(|e| {
            anyhow::anyhow!(
                "committed {id}, but failed to update the git index: {}",
                e.message()
            )
        })?;
        let mut short = id.to_string();
        short.truncate(7);
        Ok(short)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::yaml::{Pos, parse_documents};

    fn diag(file: &str, line: usize, column: usize, field: &str) -> Diagnostic {
        Diagnostic {
            file: file.into(),
            pos: Pos { line, column },
            field: field.into(),
            message: "bad (environment prod)".into(),
        }
    }

    #[test]
    fn problems_of_the_promoted_file_are_shown_where_they_are_in_the_restored_one() {
        let was =
            "# c\nspec:\n  autoscaling: {maxReplicas: 10, targetMemoryUtilizationPercentage: 80}\n";
        let written = "spec:\n  image: x\n  autoscaling:\n    maxReplicas: 10\n    targetMemoryUtilizationPercentage: 80\n";
        let was = parse_documents(was).unwrap_or_default().into_iter().next();
        let file = Path::new("environments/prod/iris.yaml");
        let lines = shown_where_written(
            &[
                diag(
                    "environments/prod/iris.yaml",
                    5,
                    5,
                    "spec.autoscaling.targetMemoryUtilizationPercentage",
                ),
                diag("environments/prod/iris.yaml", 2, 3, "spec.image"),
                diag("services/iris.yaml", 9, 3, "spec.image"),
            ],
            file,
            was.as_ref(),
            written,
        );
        assert_eq!(
            lines,
            [
                "environments/prod/iris.yaml:3:34: spec.autoscaling.targetMemoryUtilizationPercentage: bad (environment prod)",
                "environments/prod/iris.yaml (as promoted): spec.image: bad (environment prod)",
                "services/iris.yaml:9:3: spec.image: bad (environment prod)",
            ]
        );
    }

    #[test]
    fn comments_other_than_the_modeline_are_noticed() {
        let modeline = "# yaml-language-server: $schema=x.json\nspec: {}\n";
        assert!(!has_comments(modeline));
        assert_eq!(
            modeline_of(modeline),
            Some("# yaml-language-server: $schema=x.json")
        );
        assert!(has_comments("spec:\n  # why\n  image: x\n"));
        assert!(has_comments("spec:\n  image: x # why\n"));
        assert!(!has_comments("spec:\n  image: x#y\n"));
    }
}
