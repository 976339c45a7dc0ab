//! A `.sops.yaml` in the repo is honoured by `mlsync secrets encrypt` the way the real `sops`
//! honours it: the same rule is chosen (path_regex on the path relative to the config, from
//! the current directory or a subdirectory, or `--config`), with the same recipients and the
//! same values left encrypted and in plaintext (a rule without a suffix or regex means sops'
//! default `unencrypted_suffix: _unencrypted` for both); both tools then read either file.
//! What sops would refuse, mlsync refuses; a rule that would leave every value in plaintext
//! mlsync refuses too (sops writes it).

mod secrets_common;

use std::collections::BTreeSet;
use std::path::Path;

use mlsync::secrets::sops::{Value, yaml};
use secrets_common::peer::{AgeKey, Out, Tool, age_keygen, encrypted_keys, write};

const PLAIN: &str = "DB_USER: admin\nDB_PASS: pw\nAPI_KEY: k\nHOST_PUBLIC: h\nTOKEN_SECRET: t\n\
                     HOST: db\nNOTE_unencrypted: n\n";

/// Every `secrets/<dir>/app.yaml` matches one rule.
fn config(alice: &str, bob: &str) -> String {
    format!(
        "keys:
  - &alice {alice}
  - &bob {bob}
creation_rules:
  - path_regex: secrets/prod/.*\\.yaml$
    age: [*alice, *bob]
    encrypted_regex: ^(DB_PASS|API_KEY)$
  - path_regex: ^secrets/mac/
    age: '{alice}, {bob}'
    unencrypted_suffix: _PUBLIC
    mac_only_encrypted: true
  - path_regex: ^secrets/sfx/
    key_groups:
      - age:
          - *alice
    encrypted_suffix: _SECRET
  - path_regex: ^secrets/re/
    age: *bob
    unencrypted_regex: ^HOST
  - path_regex: ^secrets/dev/
    age: *alice
  - path_regex: ^secrets/two/
    age: *alice
    encrypted_regex: ^DB_PASS$
    unencrypted_suffix: _PUBLIC
  - path_regex: ^secrets/none/
    age: *alice
    encrypted_regex: ^(data|stringData)$
"
    )
}

fn encrypt_both(cwd: &Path, file: &str, extra: &[&str]) -> (Out, Out) {
    let mut sops_args = vec!["--encrypt"];
    sops_args.extend_from_slice(extra);
    sops_args.push(file);
    let mut ours = vec!["secrets", "encrypt"];
    ours.extend_from_slice(extra);
    ours.push(file);
    (
        Tool::sops(cwd).run(&sops_args),
        Tool::mlsync(cwd).run(&ours),
    )
}

/// The recipients and the encryption rules a file's `sops:` block records.
fn recorded(text: &str) -> (BTreeSet<String>, Vec<(String, String)>) {
    let doc = yaml::parse(text).unwrap();
    let Some(Value::Map(meta)) = doc.get("sops") else {
        panic!("no sops block:\n{text}")
    };
    let mut recipients = BTreeSet::new();
    let mut rules = Vec::new();
    for (k, v) in meta {
        match (k.as_str(), v) {
            ("age", Value::Seq(items)) => {
                for item in items {
                    if let Some(Value::Str(r)) = item.get("recipient") {
                        recipients.insert(r.to_string());
                    }
                }
            }
            (k, Value::Str(s)) if k.ends_with("_suffix") || k.ends_with("_regex") => {
                rules.push((k.to_owned(), s.to_string()))
            }
            ("mac_only_encrypted", Value::Bool(b)) => rules.push((k.clone(), b.to_string())),
            _ => {}
        }
    }
    rules.sort();
    (recipients, rules)
}

fn readable_by_both(cwd: &Path, key: &AgeKey, text: &str, what: &str) {
    let file = write(cwd, "check.enc.yaml", text);
    let f = file.to_str().unwrap();
    let theirs = Tool::sops(cwd)
        .key(&key.file)
        .run(&["decrypt", f])
        .ok(&format!("sops decrypt of {what}"));
    let ours = Tool::mlsync(cwd)
        .key(&key.file)
        .run(&["secrets", "decrypt", f])
        .ok(&format!("mlsync secrets decrypt of {what}"));
    let want = yaml::parse(PLAIN).unwrap();
    assert!(yaml::parse(&theirs.stdout).unwrap() == want);
    assert!(yaml::parse(&ours.stdout).unwrap() == want);
}

#[test]
fn creation_rules_are_chosen_and_applied_like_sops() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let (alice, bob, carol) = (
        age_keygen(repo, "alice.txt"),
        age_keygen(repo, "bob.txt"),
        age_keygen(repo, "carol.txt"),
    );
    write(
        repo,
        ".sops.yaml",
        &config(&alice.recipient, &bob.recipient),
    );
    let sub = repo.join("secrets");
    // (cwd, file, extra flags, a key that must be able to read the result)
    let cases: Vec<(&Path, &str, Vec<&str>, &AgeKey)> = vec![
        (repo, "secrets/prod/app.yaml", vec![], &bob),
        (&sub, "prod/app.yaml", vec![], &alice),
        (repo, "secrets/mac/app.yaml", vec![], &bob),
        (repo, "secrets/sfx/app.yaml", vec![], &alice),
        (repo, "./secrets/re/../re/app.yaml", vec![], &bob),
        (repo, "secrets/dev/app.yaml", vec![], &alice),
        // --age on the command line replaces the rule's keys; its encryption rule still applies.
        (
            repo,
            "secrets/prod/app.yaml",
            vec!["--age", &carol.recipient],
            &carol,
        ),
    ];
    for (cwd, file, extra, reader) in cases {
        let plain = cwd.join(file);
        std::fs::create_dir_all(plain.parent().unwrap()).unwrap();
        std::fs::write(&plain, PLAIN).unwrap();
        let (theirs, ours) = encrypt_both(cwd, file, &extra);
        let (theirs, ours) = (
            theirs.ok("sops --encrypt"),
            ours.ok("mlsync secrets encrypt"),
        );
        let (their_keys, their_rules) = recorded(&theirs.stdout);
        let (our_keys, our_rules) = recorded(&ours.stdout);
        let mut their_encrypted = encrypted_keys(&theirs.stdout);
        assert_eq!(our_keys, their_keys, "{file} {extra:?}: recipients");
        assert_eq!(our_rules, their_rules, "{file} {extra:?}: rules");
        let mut ours_enc = encrypted_keys(&ours.stdout);
        ours_enc.sort();
        their_encrypted.sort();
        assert_eq!(
            ours_enc, their_encrypted,
            "{file} {extra:?}: encrypted keys"
        );
        assert!(
            ours.stderr.contains("using creation rule"),
            "{}",
            ours.stderr
        );
        let what = format!("{file} {extra:?}");
        readable_by_both(repo, reader, &theirs.stdout, &format!("sops' {what}"));
        readable_by_both(repo, reader, &ours.stdout, &format!("mlsync's {what}"));
    }
}

#[test]
fn what_sops_refuses_mlsync_refuses_and_it_never_writes_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let (alice, bob) = (age_keygen(repo, "alice.txt"), age_keygen(repo, "bob.txt"));
    write(
        repo,
        ".sops.yaml",
        &config(&alice.recipient, &bob.recipient),
    );
    for dir in ["two", "none", "nomatch"] {
        write(repo, &format!("secrets/{dir}/app.yaml"), PLAIN);
    }

    // Two encryption rules in one creation rule: both refuse.
    let (theirs, ours) = encrypt_both(repo, "secrets/two/app.yaml", &[]);
    assert_ne!(theirs.code, 0, "sops accepted two encryption rules");
    assert_eq!(ours.code, 2);
    assert!(
        ours.stderr.contains("creation rule 6: use only one of"),
        "{}",
        ours.stderr
    );

    // No rule matches: both refuse, even with --age.
    let age = ["--age", alice.recipient.as_str()];
    let (theirs, ours) = encrypt_both(repo, "secrets/nomatch/app.yaml", &age);
    assert_ne!(theirs.code, 0, "sops encrypted a file no rule matches");
    assert_eq!(ours.code, 2);
    assert!(
        ours.stderr
            .contains("no creation rule matches `secrets/nomatch/app.yaml`"),
        "{}",
        ours.stderr
    );

    // A rule whose encrypted_regex matches no key: sops writes every value in plaintext,
    // mlsync refuses and names the keys (never values).
    let (theirs, ours) = encrypt_both(repo, "secrets/none/app.yaml", &[]);
    let theirs = theirs.ok("sops --encrypt");
    assert!(encrypted_keys(&theirs.stdout).is_empty() && theirs.stdout.contains("DB_PASS: pw"));
    assert_eq!(ours.code, 2);
    assert!(
        ours.stderr.contains("creation rule 7 of")
            && ours
                .stderr
                .contains("encrypted_regex `^(data|stringData)$`")
            && ours.stderr.contains("DB_PASS"),
        "{}",
        ours.stderr
    );
    assert!(!ours.stderr.contains("pw") && ours.stdout.is_empty());

    // An explicit --config outside the tree, as `sops --config`.
    let other = write(
        repo,
        "elsewhere/sops.yaml",
        &format!(
            "creation_rules:\n  - age: {}\n    encrypted_suffix: _SECRET\n",
            bob.recipient
        ),
    );
    let cfg = ["--config", other.to_str().unwrap()];
    let (theirs, ours) = encrypt_both(repo, "secrets/nomatch/app.yaml", &cfg);
    let (theirs, ours) = (theirs.ok("sops --config"), ours.ok("mlsync --config"));
    assert_eq!(recorded(&ours.stdout), recorded(&theirs.stdout));
    assert_eq!(encrypted_keys(&ours.stdout), ["TOKEN_SECRET"]);
    assert_eq!(encrypted_keys(&theirs.stdout), ["TOKEN_SECRET"]);

    // No .sops.yaml and no --age: mlsync says where it looked.
    std::fs::remove_file(repo.join(".sops.yaml")).unwrap();
    let ours = Tool::mlsync(repo).run(&["secrets", "encrypt", "secrets/two/app.yaml"]);
    assert_eq!(ours.code, 2);
    assert!(
        ours.stderr.contains("no age recipients") && ours.stderr.contains("no .sops.yaml in"),
        "{}",
        ours.stderr
    );
}
