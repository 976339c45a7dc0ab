use super::*;

const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti";

fn parse(text: &str) -> Result<AllowedSigners, String> {
    AllowedSigners::parse(Path::new("/etc/mlsync/signers"), text, &TimeZone::UTC)
        .map_err(|e| e.to_string())
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[test]
fn reads_keys_options_comments_and_quotes() {
    let text = format!(
        "# team keys\n\n  alice@example.com {ED} alice laptop\n\
         \"bob@example.com,carol@example.com\" NameSpaces=\"git,file\",valid-after=\"20240102Z\",valid-before=\"202501021530\" {ED}\n"
    );
    let s = parse(&text).unwrap();
    let [a, b] = s.entries() else {
        panic!("{:?}", s.entries())
    };
    assert_eq!((a.line, a.principals.as_str()), (3, "alice@example.com"));
    assert_eq!(a.namespaces, None);
    assert!(a.allows_namespace("git"));
    assert_eq!(b.line, 4);
    assert_eq!(b.principals, "bob@example.com,carol@example.com");
    assert_eq!(b.namespaces.as_deref(), Some("git,file"));
    assert_eq!(b.valid_after, Some(ts("2024-01-02T00:00:00Z")));
    assert_eq!(b.valid_before, Some(ts("2025-01-02T15:30:00Z")));
    assert_eq!(s.entries_for(&a.key).count(), 2);
}

#[test]
fn times_without_z_are_in_the_given_zone() {
    let text = format!("a valid-after=\"20240102030405\" {ED}\n");
    let tz = TimeZone::get("Europe/Berlin").unwrap();
    let s = AllowedSigners::parse(Path::new("f"), &text, &tz).unwrap();
    assert_eq!(s.entries()[0].valid_after, Some(ts("2024-01-02T02:04:05Z")));
}

#[test]
fn validity_bounds_are_inclusive_like_ssh_keygen() {
    let text = format!("a valid-after=\"20240101Z\",valid-before=\"20250101Z\" {ED}\n");
    let s = parse(&text).unwrap();
    let e = &s.entries()[0];
    let after = ts("2024-01-01T00:00:00Z");
    let before = ts("2025-01-01T00:00:00Z");
    assert_eq!(e.validity_at(after), Validity::Valid);
    assert_eq!(e.validity_at(before), Validity::Valid);
    assert_eq!(
        e.validity_at(ts("2023-12-31T23:59:59Z")),
        Validity::NotYetValid(after)
    );
    assert_eq!(
        e.validity_at(ts("2025-01-01T00:00:01Z")),
        Validity::Expired(before)
    );
}

#[test]
fn namespace_pattern_lists() {
    assert!(match_pattern_list("git", "git"));
    assert!(match_pattern_list("git", "file,g*"));
    assert!(match_pattern_list("git", "g?t"));
    assert!(!match_pattern_list("git", "file"));
    assert!(!match_pattern_list("git", "*,!git"));
    assert!(!match_pattern_list("git", ""));
    assert!(!match_pattern_list("git", "gi"));
}

#[test]
fn bad_lines_name_file_and_line() {
    let cases = [
        (
            format!("a cert-authority {ED}"),
            "cert-authority is not supported: mlsync verifies signatures by plain keys only, not by certificates; list the signers' keys instead",
        ),
        (format!("a foo=\"x\" {ED}"), "unknown option \"foo\""),
        (
            format!("a namespaces=git {ED}"),
            "the value of option namespaces must be in double quotes (namespaces=\"…\")",
        ),
        (
            format!("a namespaces=\"git\",namespaces=\"x\" {ED}"),
            "option namespaces is given twice",
        ),
        (
            format!("a namespaces=\"git\", {ED}"),
            "options end with a comma",
        ),
        (
            format!("a valid-before=\"2024-01-01\" {ED}"),
            "invalid valid-before time \"2024-01-01\" (use YYYYMMDD or YYYYMMDDHHMM[SS], Z for UTC)",
        ),
        (
            format!("a valid-after=\"20241301\" {ED}"),
            "invalid valid-after time \"20241301\" (use YYYYMMDD or YYYYMMDDHHMM[SS], Z for UTC)",
        ),
        ("a".to_string(), "missing key after the principals"),
        (
            "a namespaces=\"git\"".to_string(),
            "missing key after the options",
        ),
        (
            "a ssh-ed25519".to_string(),
            "missing base64 data of the ssh-ed25519 key",
        ),
        (
            "a ssh-ed25519 AAAAnot-base64".to_string(),
            "invalid ssh-ed25519 key: Base64 encoding error: invalid Base64 encoding",
        ),
        (
            "a ssh-ed25519-cert-v01@openssh.com AAAA".to_string(),
            "key type ssh-ed25519-cert-v01@openssh.com is a certificate; mlsync verifies plain keys only",
        ),
        (format!("\"a {ED}"), "unterminated quote"),
    ];
    for (line, problem) in cases {
        let text = format!("# ok\nok@example.com {ED}\n{line}\n");
        assert_eq!(
            parse(&text).unwrap_err(),
            format!("failed to read allowed-signers file /etc/mlsync/signers:3: {problem}"),
            "{line}"
        );
    }
    // The key type inside the base64 data must match the one written.
    let rsa_named = ED.replace("ssh-ed25519", "ssh-rsa");
    let err = parse(&format!("a {rsa_named}\n")).unwrap_err();
    assert!(
        err.starts_with(
            "failed to read allowed-signers file /etc/mlsync/signers:1: invalid ssh-rsa key"
        ),
        "{err}"
    );
}

#[test]
fn unreadable_file_is_an_error_naming_it() {
    let err = AllowedSigners::load(Path::new("/nonexistent/signers")).unwrap_err();
    assert!(matches!(err, AllowedSignersError::Read { .. }));
    assert!(
        err.to_string()
            .starts_with("failed to read allowed-signers file /nonexistent/signers: "),
        "{err}"
    );
}
