use super::*;
use jiff::tz::TimeZone;
use ssh_key::{Algorithm, LineEnding, PrivateKey};

fn key() -> PrivateKey {
    PrivateKey::random(&mut rand::rngs::OsRng, Algorithm::Ed25519).unwrap()
}

fn sign(key: &PrivateKey, namespace: &str, data: &[u8]) -> Vec<u8> {
    let sig = SshSig::sign(key, namespace, HashAlg::Sha512, data).unwrap();
    sig.to_pem(LineEnding::LF).unwrap().into_bytes()
}

fn signers(lines: &str) -> AllowedSigners {
    AllowedSigners::parse(Path::new("signers"), lines, &TimeZone::UTC).unwrap()
}

fn line(principal: &str, options: &str, key: &PrivateKey) -> String {
    let public = key.public_key().to_openssh().unwrap();
    format!("{principal} {options} {public}\n")
}

const T: &str = "2025-06-01T12:00:00Z";

fn check(sig: &[u8], data: &[u8], file: &AllowedSigners) -> Result<Verified, &'static str> {
    verify_signature(sig, data, T.parse().unwrap(), file).map_err(|e| e.reason())
}

#[test]
fn good_signature_names_principal_and_fingerprint() {
    let k = key();
    let file = signers(&line("alice@example.com", "", &k));
    let got = check(&sign(&k, "git", b"tree 1\n"), b"tree 1\n", &file).unwrap();
    assert_eq!(got.principal, "alice@example.com");
    assert_eq!(
        got.fingerprint,
        k.public_key().fingerprint(HashAlg::Sha256).to_string()
    );
    assert!(got.fingerprint.starts_with("SHA256:"));
}

#[test]
fn every_refusal_has_its_reason() {
    let k = key();
    let other = key();
    let data = b"tree 1\n";
    let good = sign(&k, "git", data);
    let file = signers(&line("a", "", &k));
    assert_eq!(check(b"", data, &file), Err("unsigned"));
    let pgp = b"-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n";
    assert_eq!(check(pgp, data, &file), Err("openPgp"));
    let x509 = b"-----BEGIN SIGNED MESSAGE-----\nabc\n";
    assert_eq!(check(x509, data, &file), Err("x509"));
    assert_eq!(check(b"hello", data, &file), Err("malformed"));
    let cut = &good[..good.len() / 2];
    assert_eq!(check(cut, data, &file), Err("malformed"));
    assert_eq!(
        check(&sign(&k, "file", data), data, &file),
        Err("wrongNamespace")
    );
    assert_eq!(
        check(&sign(&other, "git", data), data, &file),
        Err("unknownKey")
    );
    assert_eq!(check(&good, b"tree 2\n", &file), Err("badSignature"));
    let file_only = signers(&line("a", "namespaces=\"file\"", &k));
    assert_eq!(check(&good, data, &file_only), Err("notAllowedForGit"));
    let later = signers(&line("a", "valid-after=\"20250602Z\"", &k));
    assert_eq!(check(&good, data, &later), Err("notYetValid"));
    let past = signers(&line("a", "valid-before=\"20250601\"", &k));
    assert_eq!(check(&good, data, &past), Err("expired"));
    // Several lines for one key: any that allows git at the commit time accepts it.
    let two = format!(
        "{}{}",
        line("old", "valid-before=\"20250101Z\"", &k),
        line(
            "new",
            "namespaces=\"git,file\",valid-after=\"20250101Z\"",
            &k
        )
    );
    assert_eq!(check(&good, data, &signers(&two)).unwrap().principal, "new");
    let err = verify_signature(&good, data, T.parse().unwrap(), &past).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "it is signed by key {} of a, which signers:1 allows only up to \
             2025-06-01T00:00:00Z, before the commit time 2025-06-01T12:00:00Z",
            k.public_key().fingerprint(HashAlg::Sha256)
        )
    );
}

#[test]
fn reasons_are_listed() {
    let all = [
        VerifyError::Unsigned,
        VerifyError::OpenPgp,
        VerifyError::X509,
        VerifyError::Malformed { detail: "x".into() },
        VerifyError::WrongNamespace {
            namespace: "x".into(),
        },
        VerifyError::UnknownKey {
            fingerprint: "x".into(),
            path: "f".into(),
        },
        VerifyError::NotAllowedForGit {
            fingerprint: "x".into(),
            principal: "p".into(),
            path: "f".into(),
            line: 1,
            namespaces: "file".into(),
        },
        VerifyError::NotYetValid {
            fingerprint: "x".into(),
            principal: "p".into(),
            path: "f".into(),
            line: 1,
            valid_after: Timestamp::UNIX_EPOCH,
            commit_time: Timestamp::UNIX_EPOCH,
        },
        VerifyError::Expired {
            fingerprint: "x".into(),
            principal: "p".into(),
            path: "f".into(),
            line: 1,
            valid_before: Timestamp::UNIX_EPOCH,
            commit_time: Timestamp::UNIX_EPOCH,
        },
        VerifyError::BadSignature {
            fingerprint: "x".into(),
        },
        VerifyError::AllowedSignersFile {
            error: AllowedSignersError::Line {
                path: "f".into(),
                line: 1,
                problem: "x".into(),
            },
        },
    ];
    let reasons: Vec<&str> = all.iter().map(VerifyError::reason).collect();
    assert_eq!(reasons, VerifyError::REASONS);
}
