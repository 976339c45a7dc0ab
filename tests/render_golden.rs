//! Golden test: rendering the example `iris-classifier` gives the objects the tutorial creates
//! by hand (`tests/data/seed/iris-by-hand.yaml`), field by field, names aside.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `mlsync render` on the example repo, with the demo key, secrets shown.
fn render(extra: &[&str]) -> (i32, String, String) {
    let key = std::fs::read_to_string(root().join("example-repo/demo-age-key.txt")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .args(["render", "--repo"])
        .arg(root().join("example-repo"))
        .args(extra)
        .env("SOPS_AGE_KEY", key)
        .env_remove("SOPS_AGE_KEY_FILE")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn docs(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml).unwrap()
}

/// Flattens a value into `path → leaf`, e.g. `spec.template.spec.containers[0].image`.
fn flatten(v: &Value, path: String, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) => m
            .iter()
            .for_each(|(k, v)| flatten(v, format!("{path}.{k}"), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| flatten(v, format!("{path}[{i}]"), out)),
        leaf => {
            out.insert(path, leaf.clone());
        }
    }
}

/// Paths that are names, labels or the namespace (which the seed left to kubectl), or mlsync's documented
/// deviations: replicas belong to the HPA when autoscaling is on.
fn is_naming(path: &str) -> bool {
    path.contains(".labels.")
        || path.contains(".annotations.")
        || path.contains(".matchLabels.")
        || path.contains(".selector.")
        || path == ".metadata.namespace"
        || path.ends_with(".name")
            && (path.contains(".metadata.") || path.contains("containers[0].name"))
}

#[test]
fn example_iris_matches_the_hand_written_manifests() {
    let (code, stdout, stderr) = render(&["--service", "iris-classifier", "--show-secrets"]);
    assert_eq!(code, 0, "{stderr}");
    let ours = docs(&stdout);
    let seed =
        docs(&std::fs::read_to_string(root().join("tests/data/seed/iris-by-hand.yaml")).unwrap());
    let kinds = |d: &[Value]| {
        d.iter()
            .map(|o| o["kind"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(&ours),
        kinds(&seed),
        "same objects, same (apply) order"
    );

    let renames = [
        ("ml-config", "iris-classifier-config"),
        ("ml-secret", "iris-classifier-secrets"),
        ("ml-model-deployment", "iris-classifier"),
    ];
    // Fields mlsync adds on purpose beyond the tutorial.
    let allowed_extra = [
        "spec.template.spec.containers[0].env",
        "spec.template.spec.containers[0].ports[0].name",
        "spec.template.spec.containers[0].ports[0].protocol",
        "spec.ports[0].name",
    ];
    for (o, s) in ours.iter().zip(&seed) {
        let kind = s["kind"].as_str().unwrap();
        let (mut fo, mut fs) = (BTreeMap::new(), BTreeMap::new());
        flatten(o, String::new(), &mut fo);
        flatten(s, String::new(), &mut fs);
        for (path, want) in &fs {
            let path = path.trim_start_matches('.');
            if is_naming(&format!(".{path}")) {
                continue;
            }
            if kind == "Deployment" && path == "spec.replicas" {
                assert!(
                    o["spec"].get("replicas").is_none(),
                    "the HPA owns replicas: none in the Deployment"
                );
                continue;
            }
            let mut want = want.clone();
            if let Value::String(text) = &want {
                let renamed = renames
                    .iter()
                    .find(|(a, _)| a == text)
                    .map(|(_, b)| b.to_string());
                want = Value::String(renamed.unwrap_or_else(|| text.clone()));
            }
            assert_eq!(
                fo.get(&format!(".{path}")),
                Some(&want),
                "{kind} field {path}"
            );
        }
        for path in fo.keys() {
            let bare = path.trim_start_matches('.');
            let known = fs.contains_key(path)
                || is_naming(path)
                || allowed_extra.iter().any(|a| bare.starts_with(a));
            assert!(
                known,
                "{kind} has a field the tutorial does not set: {bare}"
            );
        }
    }

    // Names aside, the wiring must hold: selectors match the pod labels.
    let dep = &ours[2];
    let pod_labels = dep["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .unwrap();
    for (k, v) in dep["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(pod_labels.get(k), Some(v));
    }
    assert_eq!(
        ours[3]["spec"]["selector"],
        dep["spec"]["selector"]["matchLabels"]
    );
    assert_eq!(
        dep["spec"]["template"]["metadata"]["annotations"]["mlsync.dev/config-hash"]
            .as_str()
            .map(str::len),
        Some(32)
    );
}

#[test]
fn example_repo_renders_ten_objects_with_secrets_masked() {
    let (code, stdout, stderr) = render(&[]);
    assert_eq!(code, 0, "{stderr}");
    let objects = docs(&stdout);
    assert_eq!(objects.len(), 10);
    for secret in objects.iter().filter(|o| o["kind"] == "Secret") {
        for v in secret["data"].as_object().unwrap().values() {
            assert_eq!(v, "<redacted>");
        }
    }
    assert!(!stdout.contains("c2VjdXJlMTIz") && !stdout.contains("secure123"));
}

#[test]
fn v2beta2_and_json_output() {
    let (code, stdout, _) = render(&["--hpa-version", "v2beta2", "-o", "json"]);
    assert_eq!(code, 0);
    let list: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(list["kind"], "List");
    let hpas: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "HorizontalPodAutoscaler")
        .collect();
    assert_eq!(hpas.len(), 2);
    assert!(
        hpas.iter()
            .all(|h| h["apiVersion"] == "autoscaling/v2beta2")
    );
}

/// Values that a YAML reader could take for a bool, a number, a date, a comment or a block.
const TRICKY_VALUES: &[&str] = &[
    // A noncharacter YAML allows only escaped (found by fuzzing: render printed it raw).
    "nonchar\u{ffff}",
    "yes",
    "No",
    "on",
    "OFF",
    "y",
    "n",
    "true",
    "null",
    "~",
    "",
    " ",
    "007",
    "0x1F",
    "0o17",
    "1_000",
    "1e3",
    ".5",
    "-1",
    "+1",
    ".inf",
    "-.inf",
    ".NaN",
    "1:20",
    "190:20:30",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "2.1.0",
    "500m",
    "1Gi",
    "s3://models/a/b",
    "a: b",
    "a:",
    "a #b",
    "#a",
    "- a",
    "--port",
    "? a",
    "[a]",
    "{a}",
    "a, b",
    "&a",
    "*a",
    "!a",
    "|a",
    ">a",
    "'a'",
    "\"a\"",
    "%a",
    "@a",
    "`a",
    "a  b",
    " a",
    "a ",
    "<<",
    "=",
    "a\\b",
    "tab\there",
    "cr\rlf",
    "del\u{7f}",
    "nel\u{85}x",
    "ls\u{2028}x",
    "é",
    "日本語",
    "line1\nline2",
    "line1\nline2\n",
    "line1\nline2\n\n",
    "\nleading",
    "  indented\nx",
    "a\n\nb",
    "trail \nx",
    "---",
    "...",
    // Written plain (the shared rule of src/yaml_scalar.rs): flow indicators and `=` after the
    // first character, as in base64 and SOPS values.
    "a,b",
    "a, b",
    "a[0]",
    "ZGVtbw==",
    "ENC[AES256_GCM,data:3q2+7w==,iv:abc/def=,type:str]",
    "0=1",
];

/// The YAML that `render` prints reads, in an independent YAML 1.1 reader (PyYAML, the strictest
/// about `yes`/`on`/`1:20`/dates, like Kubernetes' go-yaml), as exactly the objects of
/// `render -o json`.
#[test]
fn yaml_output_reads_back_in_pyyaml_as_the_json_output() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("services")).unwrap();
    std::fs::write(dir.path().join("mlsync.yaml"), "sourceId: peer\n").unwrap();
    let mut spec = serde_json::json!({
        "apiVersion": "mlsync.dev/v1alpha1",
        "kind": "MLService",
        "metadata": { "name": "tricky", "annotations": {} },
        "spec": {
            "model": { "name": "tricky", "version": "v1" },
            "image": "registry.example.com/tricky:1.0",
            "port": 8080,
            "config": {},
        }
    });
    for (i, v) in TRICKY_VALUES.iter().enumerate() {
        spec["spec"]["config"][format!("VALUE_{i}")] = Value::from(*v);
        spec["metadata"]["annotations"][format!("example.com/value-{i}")] = Value::from(*v);
    }
    // The spec itself is written as JSON, which is YAML: the emitter under test is not involved.
    // serde_json leaves DEL and U+FFFF unescaped, which YAML does not allow in a file.
    let text = serde_json::to_string_pretty(&spec).unwrap();
    std::fs::write(
        dir.path().join("services/tricky.yaml"),
        text.replace('\u{7f}', "\\u007f")
            .replace('\u{ffff}', "\\uffff"),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_mlsync"))
            .args(["render", "--repo"])
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let yaml = run(&[]);
    let json: Value = serde_json::from_slice(&run(&["-o", "json"])).unwrap();
    let mut py = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml\n\
             docs = [d for d in yaml.safe_load_all(sys.stdin.buffer) if d is not None]\n\
             json.dump(docs, sys.stdout)",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with PyYAML is required (tests/run.sh installs it)");
    std::io::Write::write_all(&mut py.stdin.take().unwrap(), &yaml).unwrap();
    let out = py.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "PyYAML could not read render's output"
    );
    let read: Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = json["items"].as_array().unwrap();
    assert_eq!(read.as_array().unwrap().len(), items.len());
    for (got, want) in read.as_array().unwrap().iter().zip(items) {
        let mut diffs = BTreeMap::new();
        let (mut g, mut w) = (BTreeMap::new(), BTreeMap::new());
        flatten(got, String::new(), &mut g);
        flatten(want, String::new(), &mut w);
        for (path, value) in &w {
            if g.get(path) != Some(value) {
                diffs.insert(path.clone(), (g.get(path).cloned(), value.clone()));
            }
        }
        assert!(diffs.is_empty(), "PyYAML read something else: {diffs:#?}");
        assert_eq!(g.len(), w.len());
    }
}
