use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;

use super::*;

/// A file with `content` and `mode` that lives as long as the returned handle.
fn file_with(content: &str, mode: u32) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(content.as_bytes()).unwrap();
    std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(mode)).unwrap();
    file
}

fn parse(yaml: &str) -> Result<Vec<ReceiverConfig>, String> {
    serde_saphyr::from_str(yaml).map_err(|e| e.to_string())
}

fn config(name: &str, kind: ReceiverType) -> ReceiverConfig {
    ReceiverConfig {
        name: name.to_owned(),
        kind,
        address: None,
        address_file: None,
        secret_file: None,
        events: None,
    }
}

fn load_err(configs: &[ReceiverConfig]) -> String {
    load(configs).unwrap_err().to_string()
}

#[test]
fn reads_the_documented_yaml() {
    let key = file_with("k3y\n", 0o600);
    let url = file_with("https://hooks.slack.com/services/T0/B0/XYZ\n", 0o600);
    let yaml = format!(
        "- name: team-hook\n  type: generic-hmac\n  address: https://hooks.example.com/mlsync\n  \
         secretFile: {}\n  events: [revisionApplied, reconcileFailed]\n\
         - name: team-slack\n  type: slack\n  addressFile: {}\n",
        key.path().display(),
        url.path().display()
    );
    let receivers = load(&parse(&yaml).unwrap()).unwrap();
    assert_eq!(receivers.len(), 2);
    assert_eq!(receivers[0].name(), "team-hook");
    assert!(receivers[0].accepts(NoticeType::ReconcileFailed));
    assert!(!receivers[0].accepts(NoticeType::DriftCorrected));
    assert!(
        receivers[1].accepts(NoticeType::DriftCorrected),
        "no filter: every kind"
    );
    let shown = format!("{receivers:?}");
    assert!(
        shown.contains("https://hooks.example.com/mlsync"),
        "{shown}"
    );
    assert!(!shown.contains("XYZ") && !shown.contains("k3y"), "{shown}");
}

#[test]
fn refuses_unknown_fields_types_and_kinds() {
    let unknown_field = parse("- name: a\n  type: generic\n  address: http://h/\n  token: x\n");
    assert!(unknown_field.unwrap_err().contains("token"));
    assert!(parse("- name: a\n  type: teams\n").is_err());
    let kind = parse("- name: a\n  type: generic\n  events: [revisionApplied, deployed]\n");
    assert!(kind.unwrap_err().contains("deployed"));
}

#[test]
fn slack_address_is_refused() {
    let mut slack = config("chat", ReceiverType::Slack);
    slack.address = Some("https://hooks.slack.com/services/T0/B0/XYZ".to_owned());
    assert_eq!(
        load_err(&[slack]),
        "failed to load notification receiver chat: address is refused for type slack: a Slack \
         webhook URL holds a token; write it to a file readable only by mlsync and name that \
         file in addressFile"
    );
}

#[test]
fn fields_must_fit_the_type() {
    let hmac = {
        let mut c = config("hook", ReceiverType::GenericHmac);
        c.address = Some("https://h.example/".to_owned());
        c
    };
    assert_eq!(
        load_err(std::slice::from_ref(&hmac)),
        "failed to load notification receiver hook: type generic-hmac needs secretFile"
    );
    let mut generic = hmac.clone();
    generic.kind = ReceiverType::Generic;
    generic.secret_file = Some("/etc/key".into());
    assert_eq!(
        load_err(&[generic]),
        "failed to load notification receiver hook: secretFile is not used by type generic; \
         remove it"
    );
    assert_eq!(
        load_err(&[config("hook", ReceiverType::Generic)]),
        "failed to load notification receiver hook: type generic needs address"
    );
    assert_eq!(
        load_err(&[config("chat", ReceiverType::Slack)]),
        "failed to load notification receiver chat: type slack needs addressFile"
    );
    let mut none = config("hook", ReceiverType::Generic);
    none.address = Some("http://h.example/".to_owned());
    none.events = Some(vec![]);
    assert_eq!(
        load_err(&[none]),
        "failed to load notification receiver hook: events is empty; omit it to send notices \
         of every kind"
    );
}

#[test]
fn addresses_are_http_urls_with_a_host_and_no_credentials() {
    let with = |address: &str| {
        let mut c = config("hook", ReceiverType::Generic);
        c.address = Some(address.to_owned());
        load(&[c]).map(|_| ()).map_err(|e| e.to_string())
    };
    assert!(with("http://127.0.0.1:8080/hook?team=ml").is_ok());
    assert_eq!(
        with("ftp://h.example/x").unwrap_err(),
        "failed to load notification receiver hook: address ftp://h.example/x is not usable: \
         the scheme must be http:// or https://"
    );
    assert_eq!(
        with("hooks.example.com").unwrap_err(),
        "failed to load notification receiver hook: address hooks.example.com is not usable: \
         relative URL without a base"
    );
    assert_eq!(
        with("https://u:p@h.example/").unwrap_err(),
        "failed to load notification receiver hook: address https://u:p@h.example/ is not \
         usable: credentials in the URL are refused; use type generic-hmac"
    );
}

#[test]
fn a_bad_slack_url_file_is_named_but_never_quoted() {
    let url = file_with("hooks.slack.com/services/T0/B0/XYZ\n", 0o600);
    let mut slack = config("chat", ReceiverType::Slack);
    slack.address_file = Some(url.path().to_owned());
    assert_eq!(
        load_err(&[slack]),
        format!(
            "failed to read {} (notification receiver chat): it does not hold an http(s) URL \
             with a host: relative URL without a base",
            url.path().display()
        )
    );
}

#[test]
fn secret_files_readable_by_others_are_refused() {
    let key = file_with("k3y\n", 0o644);
    let mut hmac = config("hook", ReceiverType::GenericHmac);
    hmac.address = Some("https://h.example/".to_owned());
    hmac.secret_file = Some(key.path().to_owned());
    let path = key.path().display();
    assert_eq!(
        load_err(&[hmac]),
        format!(
            "failed to read {path} (notification receiver hook): its permissions 0644 let group \
             or others access it; fix with `chmod 600 {path}`"
        )
    );
}

#[test]
fn names_are_unique_and_not_empty() {
    let mut a = config("hook", ReceiverType::Generic);
    a.address = Some("http://h.example/".to_owned());
    assert_eq!(
        load_err(&[a.clone(), a.clone()]),
        "failed to load notification receivers: the name hook is used more than once"
    );
    let mut unnamed = a.clone();
    unnamed.name = " ".to_owned();
    assert_eq!(
        load_err(&[a, unnamed]),
        "failed to load notification receivers: notifications[1] has an empty name"
    );
}
