use super::*;

const A: &str = "age1se5ghfycr4n8kcwc3qwf234ymvmr2lex2a99wh8gpfx97glwt9hqch4569";

fn pick(config: &str, path: &str) -> Result<Option<CreationRule>, CreationError> {
    select(config, path, false)
}

#[test]
fn first_matching_rule_wins_and_keys_take_both_shapes() {
    let config = format!(
        "keys:\n  - &a {A}\ncreation_rules:\n  - path_regex: ^prod/\n    age: [*a, *a]\n    \
         encrypted_regex: ^DB_\n  - age: ' {A} , {A},'\n    mac_only_encrypted: true\n"
    );
    let prod = pick(&config, "prod/x.yaml").unwrap().unwrap();
    assert_eq!(prod.number, 1);
    assert_eq!(prod.age, [A, A]);
    assert_eq!(prod.rules.describe(), "encrypted_regex `^DB_`");
    let other = pick(&config, "dev/prod/x.yaml").unwrap().unwrap();
    assert_eq!((other.number, other.path_regex), (2, None));
    assert_eq!(
        other.age,
        [A, A],
        "comma-separated, trimmed, empty items dropped"
    );
    assert!(other.rules.mac_only_encrypted && !other.rules.has_selector());
}

#[test]
fn a_config_without_rules_is_no_config_and_no_match_is_an_error() {
    assert!(
        pick("stores:\n  yaml:\n    indent: 2\n", "x")
            .unwrap()
            .is_none()
    );
    assert!(pick("", "x").unwrap().is_none());
    let err = pick(
        "creation_rules:\n  - path_regex: ^a/\n    age: x\n",
        "b/c.yaml",
    )
    .unwrap_err();
    assert!(
        matches!(err, CreationError::NoMatch(ref p) if p == "b/c.yaml"),
        "{err}"
    );
}

#[test]
fn what_mlsync_cannot_write_is_refused_naming_the_rule() {
    let refused =
        |rule: &str| pick(&format!("creation_rules:\n  - age: {A}\n{rule}"), "x").unwrap_err();
    for (rule, field) in [
        ("    pgp: ABCDEF\n", "pgp"),
        ("    kms: [arn:aws:kms:x]\n", "kms"),
        (
            "    hc_vault_transit_uri: https://v/x\n",
            "hc_vault_transit_uri",
        ),
        (
            "    encrypted_comment_regex: sops\n",
            "encrypted_comment_regex",
        ),
        (
            "    key_groups:\n      - age: [a]\n      - age: [b]\n",
            "key_groups",
        ),
        (
            "    key_groups:\n      - age: [a]\n        pgp: [B]\n",
            "key_groups",
        ),
    ] {
        let err = refused(rule);
        assert!(
            matches!(&err, CreationError::Unsupported { rule: 1, field: f, .. } if f == field),
            "{rule}: {err}"
        );
    }
    assert!(matches!(
        refused("    encrypted_regex: a\n    unencrypted_suffix: b\n"),
        CreationError::Conflict(1)
    ));
    assert!(matches!(
        refused("    encrypted_regex: '('\n"),
        CreationError::Regex {
            field: "encrypted_regex",
            ..
        }
    ));
    assert!(matches!(
        refused("    mac_only_encrypted: sometimes\n"),
        CreationError::Field { .. }
    ));
    assert!(matches!(
        pick("creation_rules: {}\n", "x").unwrap_err(),
        CreationError::Yaml(_)
    ));
}

#[test]
fn with_age_from_the_command_line_the_rules_keys_are_ignored() {
    let config = "creation_rules:\n  - pgp: ABC\n    key_groups:\n      - age: [a]\n      \
                  - age: [b]\n    unencrypted_suffix: _pub\n";
    let rule = select(config, "x", true).unwrap().unwrap();
    assert!(rule.age.is_empty());
    assert_eq!(rule.rules.unencrypted_suffix.as_deref(), Some("_pub"));
    let single = "creation_rules:\n  - key_groups:\n      - age: [a, b]\n";
    assert_eq!(pick(single, "x").unwrap().unwrap().age, ["a", "b"]);
}
