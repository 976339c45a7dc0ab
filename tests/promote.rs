//! `mlsync promote`, as a user meets it: a git work tree with a base spec and the overlays of
//! staging and prod; the exact diff and file it writes, the render of prod afterwards, a second
//! run, `--commit` (one file, unrelated staged changes left alone), `--secrets`, the errors, and
//! a promotion that would leave prod invalid (the file is put back byte for byte).
//!
//! The commands of docs/environments.md are run here as written: see [`DOC_PROMOTE`],
//! [`DOC_RENDER`] and `the_review_flow_of_the_docs_commits_one_file_on_a_branch_and_pushes_it`.

use std::path::Path;
use std::process::Command;

const MLSYNC_YAML: &str = "\
paths: [services]
sourceId: iris-repo
environments:
  staging:
    namespace: ml-staging
  prod:
    namespace: ml-prod
";

const BASE: &str = "\
apiVersion: mlsync.dev/v1alpha1
kind: MLService
metadata:
  name: iris-classifier
spec:
  model:
    name: iris-classifier
    version: v1
  image: registry.example/iris:1.0.0
  config:
    LOG_LEVEL: info
    BATCH_SIZE: \"8\"
    FEATURE_FLAGS: none
  resources:
    requests:
      cpu: 100m
  autoscaling:
    minReplicas: 1
    maxReplicas: 3
    targetCPUUtilizationPercentage: 70
";

/// Staging: model v3, a new image, one config key changed and one removed, its own
/// autoscaling, and a secrets file of its own.
const STAGING: &str = "\
# Staging runs the release candidate.
spec:
  model: {version: v3}
  image: registry.example/iris:1.3.0
  config:
    BATCH_SIZE: \"32\"
    FEATURE_FLAGS: null
  secrets:
    file: secrets/iris-v3.sops.yaml
  autoscaling:
    maxReplicas: 2
";

/// Prod: model v2, its own autoscaling and a config key only prod has.
const PROD: &str = "\
# yaml-language-server: $schema=../../schema/mlservice-overlay.schema.json
# Prod runs the last release.
spec:
  model:
    version: v2
  image: registry.example/iris:1.2.0
  config:
    ALERTS: pagerduty # prod only
  autoscaling:
    minReplicas: 3
    maxReplicas: 10
";

/// Prod's overlay after `promote iris-classifier --from staging --to prod`.
const PROD_PROMOTED: &str = "\
# yaml-language-server: $schema=../../schema/mlservice-overlay.schema.json
spec:
  model:
    version: v3
  image: registry.example/iris:1.3.0
  config:
    BATCH_SIZE: \"32\"
    FEATURE_FLAGS: null
  autoscaling:
    minReplicas: 3
    maxReplicas: 10
";

/// What that promotion prints on stdout.
const PROD_DIFF: &str = "\
--- a/environments/prod/iris-classifier.yaml
+++ b/environments/prod/iris-classifier.yaml
@@ -1,11 +1,11 @@
 # yaml-language-server: $schema=../../schema/mlservice-overlay.schema.json
-# Prod runs the last release.
 spec:
   model:
-    version: v2
-  image: registry.example/iris:1.2.0
+    version: v3
+  image: registry.example/iris:1.3.0
   config:
-    ALERTS: pagerduty # prod only
+    BATCH_SIZE: \"32\"
+    FEATURE_FLAGS: null
   autoscaling:
     minReplicas: 3
     maxReplicas: 10
";

const PROD_FILE: &str = "environments/prod/iris-classifier.yaml";

const SUBJECT: &str = "promote iris-classifier from staging to prod: model iris-classifier v3, image registry.example/iris:1.3.0, config (3 keys)";

/// docs/environments.md: preview the promotion (run in the repo directory).
const DOC_PROMOTE: &str = "mlsync promote iris-classifier --from staging --to prod";
/// docs/environments.md: check what prod would run.
const DOC_RENDER: &str = "mlsync render --env prod --service iris-classifier";
/// docs/environments.md: the review flow, line by line.
const DOC_REVIEW_FLOW: [&str; 3] = [
    "git switch -c promote-iris-v3",
    "mlsync promote iris-classifier --from staging --to prod --commit",
    "git push -u origin promote-iris-v3",
];

/// Runs `git` in `dir` with a fixed identity and no user or system config; returns stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("run git (install the `git` package)");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `line` split on spaces: the arguments of one command.
fn words(line: &str) -> Vec<&str> {
    line.split(' ').collect()
}

/// What one run of mlsync showed: exit code, stdout, stderr.
struct Run {
    code: i32,
    out: String,
    err: String,
}

/// Runs mlsync with `args` in `cwd`; HOME is an empty directory, so the git identity is the
/// work tree's own config.
fn mlsync_in(cwd: &Path, args: &[&str]) -> Run {
    let home = cwd.parent().unwrap_or(cwd).join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .args(args)
        .current_dir(cwd)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", &home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("RUST_LOG")
        .env_remove("MLSYNC_REPO")
        .env_remove("MLSYNC_ENV")
        .env_remove("MLSYNC_SOURCE_ID")
        .output()
        .expect("run mlsync");
    Run {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs a command line as written in the docs (`mlsync …` or `git …`, words split on spaces).
fn doc_line(cwd: &Path, line: &str) -> Run {
    match words(line).as_slice() {
        ["mlsync", args @ ..] => mlsync_in(cwd, args),
        ["git", args @ ..] => Run {
            code: 0,
            out: git(cwd, args),
            err: String::new(),
        },
        _ => panic!("not a command of the docs: {line}"),
    }
}

/// A temp dir holding `repo/` (a committed git work tree with the fixture) and `home/`.
struct Fixture {
    _tmp: tempfile::TempDir,
    repo: std::path::PathBuf,
}

impl Fixture {
    fn new() -> Self {
        Self::with(&[])
    }

    /// The fixture with some files replaced (path, content).
    fn with(changes: &[(&str, &str)]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        let mut files = vec![
            ("mlsync.yaml", MLSYNC_YAML),
            ("services/iris-classifier.yaml", BASE),
            ("environments/staging/iris-classifier.yaml", STAGING),
            (PROD_FILE, PROD),
            (
                "secrets/iris-v3.sops.yaml",
                "# stands for an encrypted file: promote never reads it\n",
            ),
            ("README.md", "iris config repo\n"),
        ];
        for (path, content) in changes {
            files.retain(|(p, _)| p != path);
            files.push((path, content));
        }
        for (path, content) in files {
            let p = repo.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        git(&repo, &["init", "-q", "-b", "main"]);
        git(&repo, &["config", "user.name", "Promo Ter"]);
        git(&repo, &["config", "user.email", "promoter@example.invalid"]);
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", "initial"]);
        Self { _tmp: tmp, repo }
    }

    fn mlsync(&self, args: &[&str]) -> Run {
        mlsync_in(&self.repo, args)
    }

    /// `mlsync ARGS --repo DIR`, run from the temp dir (not the repo).
    fn mlsync_repo(&self, args: &[&str]) -> Run {
        let mut all: Vec<&str> = args.to_vec();
        let repo = self.repo.to_str().unwrap();
        all.extend(["--repo", repo]);
        mlsync_in(self.repo.parent().unwrap(), &all)
    }

    fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.repo.join(path)).unwrap()
    }

    fn git(&self, args: &[&str]) -> String {
        git(&self.repo, args)
    }
}

/// The rendered object of `kind` (one document of the stream).
fn object<'a>(rendered: &'a str, kind: &str) -> &'a str {
    rendered
        .split("---\n")
        .find(|d| {
            d.contains(&format!("\nkind: {kind}\n")) || d.starts_with(&format!("kind: {kind}\n"))
        })
        .unwrap_or("")
}

#[test]
fn promote_writes_the_prod_overlay_prints_its_diff_and_prod_renders_staging_s_release() {
    let f = Fixture::new();
    let r = f.mlsync_repo(&words("promote iris-classifier --from staging --to prod"));
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    assert_eq!(r.out, PROD_DIFF);
    assert_eq!(
        r.err,
        format!(
            "note: environments/prod/iris-classifier.yaml was rewritten: its comments are not kept\n\
             note: spec.config is promoted as a whole: prod's own setting of ALERTS is replaced by staging's config\n\
             wrote environments/prod/iris-classifier.yaml: {SUBJECT}\n"
        )
    );
    assert_eq!(f.read(PROD_FILE), PROD_PROMOTED);
    // Nothing else changed in the work tree, and nothing was committed.
    assert_eq!(
        f.git(&["status", "--porcelain"]),
        format!(" M {PROD_FILE}\n")
    );
    assert_eq!(f.git(&["log", "--format=%s"]), "initial\n");

    // The docs' check: prod runs staging's model, image and config, with its own autoscaling.
    let r = doc_line(&f.repo, DOC_RENDER);
    assert_eq!(r.code, 0, "{}", r.err);
    let dep = object(&r.out, "Deployment");
    for line in [
        "image: registry.example/iris:1.3.0",
        "app.kubernetes.io/version: v3",
        "namespace: ml-prod",
    ] {
        assert!(dep.contains(line), "{line} missing in\n{dep}");
    }
    let cm = object(&r.out, "ConfigMap");
    assert!(
        cm.contains("  BATCH_SIZE: \"32\"\n  LOG_LEVEL: info\n"),
        "{cm}"
    );
    assert!(
        !cm.contains("FEATURE_FLAGS") && !cm.contains("ALERTS"),
        "{cm}"
    );
    let hpa = object(&r.out, "HorizontalPodAutoscaler");
    assert!(
        hpa.contains("maxReplicas: 10\n") && hpa.contains("minReplicas: 3\n"),
        "{hpa}"
    );
    // Staging's secrets file is not promoted without --secrets.
    assert!(object(&r.out, "Secret").is_empty(), "{}", r.out);
    assert!(!dep.contains("secretRef"), "{dep}");
}

#[test]
fn a_second_run_has_nothing_to_promote() {
    let f = Fixture::new();
    let first = doc_line(&f.repo, DOC_PROMOTE);
    assert_eq!(
        (first.code, first.out.as_str()),
        (1, PROD_DIFF),
        "{}",
        first.err
    );
    let r = doc_line(&f.repo, DOC_PROMOTE);
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(
        r.out,
        "nothing to promote: prod already runs what staging runs\n"
    );
    assert_eq!(r.err, "");
    assert_eq!(f.read(PROD_FILE), PROD_PROMOTED);
}

#[test]
fn commit_commits_exactly_the_overlay_file_and_leaves_other_staged_changes_staged() {
    let f = Fixture::new();
    let before = f.git(&["rev-parse", "HEAD"]);
    // Someone's unrelated work: one staged change, one unstaged.
    std::fs::write(f.repo.join("notes.txt"), "staged, not promoted\n").unwrap();
    f.git(&["add", "notes.txt"]);
    std::fs::write(f.repo.join("README.md"), "edited\n").unwrap();

    let r = f.mlsync(&words(
        "promote iris-classifier --from staging --to prod --commit",
    ));
    assert_eq!(r.code, 1, "{}", r.err);
    assert_eq!(r.out, PROD_DIFF);
    let sha = f.git(&["rev-parse", "--short=7", "HEAD"]);
    assert!(
        r.err
            .ends_with(&format!("committed {}: {SUBJECT}\n", sha.trim())),
        "{}",
        r.err
    );
    assert_eq!(
        f.git(&["show", "--stat", "--format=%s", "HEAD"]),
        format!(
            "{SUBJECT}\n\n environments/prod/iris-classifier.yaml | 8 ++++----\n 1 file changed, 4 insertions(+), 4 deletions(-)\n"
        )
    );
    assert_eq!(f.git(&["rev-parse", "HEAD~1"]), before);
    assert_eq!(
        f.git(&["log", "-1", "--format=%an <%ae>|%cn <%ce>"]),
        "Promo Ter <promoter@example.invalid>|Promo Ter <promoter@example.invalid>\n"
    );
    assert_eq!(
        f.git(&["show", &format!("HEAD:{PROD_FILE}")]),
        PROD_PROMOTED
    );
    // The overlay is clean; the unrelated changes are as they were (staged stays staged).
    assert_eq!(
        f.git(&["status", "--porcelain"]),
        " M README.md\nA  notes.txt\n"
    );
    assert_eq!(f.git(&["diff", "--cached", "--name-only"]), "notes.txt\n");
}

#[test]
fn commit_takes_a_message_and_refuses_uncommitted_changes_of_the_files_it_reads() {
    let f = Fixture::new();
    let r = f.mlsync(&[
        "promote",
        "iris-classifier",
        "--from",
        "staging",
        "--to",
        "prod",
        "--commit",
        "-m",
        "release iris v3",
    ]);
    assert_eq!(r.code, 1, "{}", r.err);
    assert_eq!(f.git(&["log", "-1", "--format=%B"]), "release iris v3\n\n");

    for (file, content) in [
        (PROD_FILE, "spec:\n  replicas: 2\n  autoscaling: null\n"),
        (
            "environments/staging/iris-classifier.yaml",
            "spec:\n  image: registry.example/iris:1.4.0\n",
        ),
    ] {
        let f = Fixture::new();
        std::fs::write(f.repo.join(file), content).unwrap();
        let r = f.mlsync(&words(
            "promote iris-classifier --from staging --to prod --commit",
        ));
        assert_eq!(r.code, 2, "{}{}", r.out, r.err);
        assert_eq!(r.out, "");
        assert_eq!(
            r.err,
            format!(
                "error: failed to commit: {file} has uncommitted changes; commit or stash them first, or promote without --commit\n"
            )
        );
        assert_eq!(f.read(file), content);
        assert_eq!(f.git(&["log", "--format=%s"]), "initial\n");
    }
}

#[test]
fn commit_needs_a_git_identity() {
    let f = Fixture::new();
    f.git(&["config", "--unset", "user.name"]);
    f.git(&["config", "--unset", "user.email"]);
    let r = f.mlsync(&words(
        "promote iris-classifier --from staging --to prod --commit",
    ));
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    assert_eq!(
        r.err,
        "error: failed to commit: no git identity; set one with git config user.name \"Your Name\" and git config user.email you@example.com\n"
    );
    assert_eq!(f.read(PROD_FILE), PROD);
}

#[test]
fn the_review_flow_of_the_docs_commits_one_file_on_a_branch_and_pushes_it() {
    let f = Fixture::new();
    let origin = f.repo.parent().unwrap().join("origin.git");
    git(
        f.repo.parent().unwrap(),
        &["init", "-q", "--bare", "origin.git"],
    );
    f.git(&["remote", "add", "origin", origin.to_str().unwrap()]);
    for line in DOC_REVIEW_FLOW {
        let r = doc_line(&f.repo, line);
        let want = if line.starts_with("mlsync") { 1 } else { 0 };
        assert_eq!(r.code, want, "{line}: {}{}", r.out, r.err);
    }
    assert_eq!(
        git(&origin, &["log", "--format=%s", "promote-iris-v3"]),
        format!("{SUBJECT}\ninitial\n")
    );
    assert_eq!(
        git(
            &origin,
            &["show", "--name-only", "--format=", "promote-iris-v3"]
        ),
        format!("{PROD_FILE}\n")
    );
    assert_eq!(f.git(&["status", "--porcelain"]), "");
    assert_eq!(f.git(&["log", "-1", "--format=%s", "main"]), "initial\n");
}

#[test]
fn secrets_are_promoted_only_with_the_flag() {
    let f = Fixture::new();
    let args = words("promote iris-classifier --from staging --to prod");
    assert_eq!(f.mlsync(&args).code, 1);
    assert!(!f.read(PROD_FILE).contains("secrets"));

    let with = words("promote iris-classifier --from staging --to prod --secrets");
    let r = f.mlsync(&with);
    assert_eq!(r.code, 1, "{}", r.err);
    assert_eq!(
        r.out,
        "--- a/environments/prod/iris-classifier.yaml
+++ b/environments/prod/iris-classifier.yaml
@@ -9,3 +9,5 @@
   autoscaling:
     minReplicas: 3
     maxReplicas: 10
+  secrets:
+    file: secrets/iris-v3.sops.yaml
"
    );
    assert_eq!(
        r.err,
        "wrote environments/prod/iris-classifier.yaml: promote iris-classifier from staging to prod: secrets secrets/iris-v3.sops.yaml\n"
    );
    let r = f.mlsync(&with);
    assert_eq!(
        (r.code, r.out.as_str()),
        (
            0,
            "nothing to promote: prod already runs what staging runs\n"
        )
    );
    // Without the flag, the secrets prod has now are left alone.
    assert_eq!(f.mlsync(&args).code, 0);
}

#[test]
fn a_new_overlay_is_created_and_an_empty_one_deleted() {
    // No prod overlay yet: promotion writes one (no modeline: the original had none).
    let f = Fixture::new();
    f.git(&["rm", "-q", PROD_FILE]);
    f.git(&["commit", "-q", "-m", "no prod overlay"]);
    let r = f.mlsync(&words(
        "promote iris-classifier --from staging --to prod --commit",
    ));
    assert_eq!(r.code, 1, "{}", r.err);
    let created = "\
spec:
  model:
    version: v3
  image: registry.example/iris:1.3.0
  config:
    BATCH_SIZE: \"32\"
    FEATURE_FLAGS: null
";
    assert_eq!(f.read(PROD_FILE), created);
    assert!(
        r.out.starts_with(&format!(
            "--- /dev/null\n+++ b/{PROD_FILE}\n@@ -0,0 +1,7 @@\n"
        )),
        "{}",
        r.out
    );
    assert_eq!(
        f.git(&["show", "--name-status", "--format=", "HEAD"]),
        format!("A\t{PROD_FILE}\n")
    );

    // Prod runs the base's model, image and config; staging's overlay only changes the image:
    // promoting prod into staging leaves staging's overlay empty, so it goes.
    let f = Fixture::with(&[
        (PROD_FILE, "spec:\n  autoscaling: {minReplicas: 3}\n"),
        (
            "environments/staging/iris-classifier.yaml",
            "metadata: {name: iris-classifier}\nspec:\n  image: registry.example/iris:1.1.0\n",
        ),
    ]);
    let r = f.mlsync(&words(
        "promote iris-classifier --from prod --to staging --commit",
    ));
    assert_eq!(r.code, 1, "{}", r.err);
    assert_eq!(
        r.out,
        "--- a/environments/staging/iris-classifier.yaml\n+++ /dev/null\n@@ -1,3 +0,0 @@\n\
         -metadata: {name: iris-classifier}\n-spec:\n-  image: registry.example/iris:1.1.0\n"
    );
    assert!(
        !f.repo
            .join("environments/staging/iris-classifier.yaml")
            .exists()
    );
    assert_eq!(
        f.git(&["show", "--name-status", "--format=%s", "HEAD"]),
        "promote iris-classifier from prod to staging: image registry.example/iris:1.0.0\n\n\
         D\tenvironments/staging/iris-classifier.yaml\n"
    );
    assert_eq!(f.git(&["status", "--porcelain"]), "");
}

#[test]
fn errors_name_the_problem() {
    let f = Fixture::new();
    for (args, want) in [
        (
            words("promote iris-clasifier --from staging --to prod"),
            "error: failed to promote iris-clasifier: no service named iris-clasifier in the base specs (did you mean iris-classifier?)\n",
        ),
        (
            words("promote iris-classifier --from staging --to prd"),
            "error: failed to use environment \"prd\": mlsync.yaml declares only: prod, staging\n",
        ),
        (
            words("promote iris-classifier --from prod --to prod"),
            "error: failed to promote iris-classifier: --from and --to are both prod\n",
        ),
    ] {
        let r = f.mlsync(&args);
        assert_eq!(
            (r.code, r.out.as_str(), r.err.as_str()),
            (2, "", want),
            "{args:?}"
        );
    }
    assert_eq!(f.read(PROD_FILE), PROD);
    assert_eq!(f.git(&["status", "--porcelain"]), "");
}

#[test]
fn a_promotion_that_leaves_prod_invalid_puts_the_file_back() {
    // Prod's own autoscaling targets memory, which has no request: whatever is promoted, prod
    // stays invalid, and the file is not left rewritten.
    let prod = "\
# Prod: {flow: style} and comments, kept byte for byte when the promotion is refused.
spec:
  model: {version: v2}   # last release
  autoscaling: {minReplicas: 3, maxReplicas: 10, targetMemoryUtilizationPercentage: 80}
";
    let f = Fixture::with(&[(PROD_FILE, prod)]);
    let r = f.mlsync(&words(
        "promote iris-classifier --from staging --to prod --commit",
    ));
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    assert_eq!(r.out, "");
    assert_eq!(
        r.err,
        "environments/prod/iris-classifier.yaml:4:50: spec.autoscaling.targetMemoryUtilizationPercentage: needs spec.resources.requests.memory: utilization is measured against the memory request (environment prod)\n\
         error: failed to promote iris-classifier: environment prod would be invalid (see the problems above); environments/prod/iris-classifier.yaml is unchanged\n"
    );
    assert_eq!(
        std::fs::read(f.repo.join(PROD_FILE)).unwrap(),
        prod.as_bytes()
    );
    assert_eq!(f.git(&["status", "--porcelain"]), "");
    assert_eq!(f.git(&["log", "--format=%s"]), "initial\n");
}

/// The command lines this file runs "as written" are the ones docs/environments.md shows.
#[test]
fn the_commands_run_here_are_those_of_the_docs() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/environments.md"))
            .unwrap();
    let lines: Vec<&str> = doc.lines().collect();
    for cmd in [DOC_PROMOTE, DOC_RENDER]
        .iter()
        .chain(DOC_REVIEW_FLOW.iter())
    {
        assert!(
            lines.contains(cmd),
            "docs/environments.md does not show `{cmd}`"
        );
    }
}

/// A repo is untrusted: a prod overlay committed as a link to a file outside the repo is
/// neither read (its content would be printed in the diff) nor written through, and a link
/// named like promote's temporary file is not followed either.
#[test]
fn an_overlay_that_is_a_link_is_neither_read_nor_written_through() {
    let f = Fixture::new();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("private.txt");
    std::fs::write(&target, "TOP SECRET outside the repo\n").unwrap();
    let overlay = f.repo.join(PROD_FILE);
    std::fs::remove_file(&overlay).unwrap();
    std::os::unix::fs::symlink(&target, &overlay).unwrap();
    let r = f.mlsync(&[
        "promote",
        "iris-classifier",
        "--from",
        "staging",
        "--to",
        "prod",
    ]);
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    assert!(!r.out.contains("TOP SECRET") && !r.err.contains("TOP SECRET"));
    assert!(
        r.err
            .contains("environments/prod/iris-classifier.yaml is not a regular file"),
        "{}",
        r.err
    );
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "TOP SECRET outside the repo\n"
    );

    // The overlay back as a file, and a link where promote writes its temporary file.
    std::fs::remove_file(&overlay).unwrap();
    std::fs::write(&overlay, PROD).unwrap();
    let tmp_link = overlay.with_file_name(".iris-classifier.yaml.mlsync-promote.tmp");
    std::os::unix::fs::symlink(&target, &tmp_link).unwrap();
    let r = f.mlsync(&[
        "promote",
        "iris-classifier",
        "--from",
        "staging",
        "--to",
        "prod",
    ]);
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "TOP SECRET outside the repo\n"
    );
    assert_eq!(f.read(PROD_FILE), PROD);
}
