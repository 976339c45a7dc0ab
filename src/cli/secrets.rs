//! `mlsync secrets …`: make age identities and encrypt, decrypt and rotate SOPS files.
//!
//! Only `decrypt` ever prints plaintext (to stdout, for humans). Files are written with
//! mode 0600 via a temporary file in the same directory and a rename.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use age::secrecy::ExposeSecret;
use anyhow::Context;
use clap::Subcommand;
use zeroize::Zeroizing;

use super::KeyArgs;
use crate::secrets::sops::{self, yaml};
use crate::secrets::sops_config::{self, Lookup};
use crate::secrets::{SecretsError, SopsSource, validate_secret_map};

/// The `mlsync secrets` subcommands.
#[derive(Debug, Subcommand)]
pub enum SecretsCmd {
    /// Generate an age identity; print its recipient (public key): on stderr, and on stdout
    /// when the identity goes to --output.
    Keygen {
        /// Write the identity to this new file (mode 0600, never overwritten) instead of stdout.
        #[arg(long, short = 'o', env = "MLSYNC_KEYGEN_OUTPUT")]
        output: Option<PathBuf>,
    },
    /// Encrypt a plaintext YAML map of KEY: value into a SOPS file (to stdout or in place),
    /// following the matching creation rule of .sops.yaml as sops does.
    Encrypt {
        /// Age recipients (age1…), comma-separated or repeated; default: the `age` list of the
        /// .sops.yaml creation rule that matches FILE.
        #[arg(long = "age", env = "SOPS_AGE_RECIPIENTS", value_delimiter = ',')]
        age: Vec<String>,
        /// The sops config file; default: .sops.yaml in the current directory or the nearest
        /// parent. Its matching rule's encrypted_regex/unencrypted_regex/…_suffix and
        /// mac_only_encrypted apply.
        #[arg(long = "config", env = "SOPS_CONFIG")]
        config: Option<PathBuf>,
        /// Replace FILE with the encrypted file.
        #[arg(long, env = "MLSYNC_IN_PLACE")]
        in_place: bool,
        /// The plaintext YAML file.
        file: PathBuf,
    },
    /// Decrypt a SOPS file to stdout (plaintext: for humans, not for pipelines to disk).
    Decrypt {
        /// Where the age identities come from.
        #[command(flatten)]
        keys: KeyArgs,
        /// The SOPS file.
        file: PathBuf,
    },
    /// Re-encrypt a SOPS file in place to a new recipient list with a fresh data key.
    Rotate {
        /// The new age recipients (age1…), comma-separated or repeated.
        #[arg(
            long = "age",
            env = "SOPS_AGE_RECIPIENTS",
            value_delimiter = ',',
            required = true
        )]
        age: Vec<String>,
        /// Where the age identities that decrypt the current file come from.
        #[command(flatten)]
        keys: KeyArgs,
        /// The SOPS file.
        file: PathBuf,
    },
}

/// Runs one `mlsync secrets` subcommand; errors go to the caller (exit code 2).
pub fn run(cmd: SecretsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        SecretsCmd::Keygen { output } => keygen(output.as_deref()),
        SecretsCmd::Encrypt {
            age,
            config,
            in_place,
            file,
        } => encrypt(&age, config.as_deref(), in_place, &file),
        SecretsCmd::Decrypt { keys, file } => {
            let dec = SopsSource::from_options(&keys.options())?.decrypt_file(&file)?;
            let text = yaml::emit(&dec.tree);
            std::io::stdout()
                .write_all(text.as_bytes())
                .context("failed to write to stdout")?;
            Ok(ExitCode::SUCCESS)
        }
        SecretsCmd::Rotate { age, keys, file } => {
            let recipients = parse_recipients(&age, "--age")?;
            let dec = SopsSource::from_options(&keys.options())?.decrypt_file(&file)?;
            let out =
                sops::reencrypt(&dec, &recipients).map_err(|cause| SecretsError::Encrypt {
                    file: file.clone(),
                    cause,
                })?;
            write_private(&file, out.as_bytes(), true)?;
            eprintln!(
                "rotated {} to {} recipient(s) with a new data key",
                file.display(),
                recipients.len()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn keygen(output: Option<&Path>) -> anyhow::Result<ExitCode> {
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let text = Zeroizing::new(format!(
        "# created: {}\n# public key: {recipient}\n{}\n",
        sops::time::now_rfc3339(),
        identity.to_string().expose_secret()
    ));
    match output {
        Some(path) => {
            write_private(path, text.as_bytes(), false)?;
            eprintln!("wrote age identity to {} (mode 0600)", path.display());
            println!("{recipient}");
        }
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .context("failed to write to stdout")?,
    }
    eprintln!("Public key: {recipient}");
    Ok(ExitCode::SUCCESS)
}

fn encrypt(
    age: &[String],
    config: Option<&Path>,
    in_place: bool,
    file: &Path,
) -> anyhow::Result<ExitCode> {
    let from_flag = parse_recipients(age, "--age")?;
    let lookup = sops_config::creation_rule(config, file, !from_flag.is_empty())?;
    let (recipients, rules, applied) = match lookup {
        Lookup::Found(applied) if from_flag.is_empty() => {
            let origin = format!(
                "creation rule {} of {}",
                applied.rule.number,
                applied.config.display()
            );
            let recipients = parse_recipients(&applied.rule.age, &origin)?;
            if recipients.is_empty() {
                return Err(SecretsError::NoRecipients {
                    file: file.to_owned(),
                    why: format!("{origin} has none"),
                }
                .into());
            }
            (recipients, applied.rule.rules.clone(), Some(applied))
        }
        Lookup::Found(applied) => (from_flag, applied.rule.rules.clone(), Some(applied)),
        _ if !from_flag.is_empty() => (from_flag, sops::Rules::default(), None),
        Lookup::NoConfig { from } => {
            return Err(SecretsError::NoRecipients {
                file: file.to_owned(),
                why: format!("no .sops.yaml in {} or its parents", from.display()),
            }
            .into());
        }
        Lookup::NoRules { config } => {
            return Err(SecretsError::NoRecipients {
                file: file.to_owned(),
                why: format!("{} has no creation_rules", config.display()),
            }
            .into());
        }
    };
    let plain_text =
        Zeroizing::new(
            std::fs::read_to_string(file).map_err(|cause| SecretsError::Read {
                file: file.to_owned(),
                cause,
            })?,
        );
    let enc_err = |cause| SecretsError::Encrypt {
        file: file.to_owned(),
        cause,
    };
    let tree = yaml::parse(&plain_text).map_err(enc_err)?;
    if tree.get("sops").is_some() {
        return Err(enc_err(sops::SopsError::Metadata(
            "it already has a `sops` block (already encrypted?)".to_owned(),
        ))
        .into());
    }
    validate_secret_map(&tree).map_err(|reason| SecretsError::Content {
        file: file.to_owned(),
        reason,
    })?;
    let rules = rules.or_sops_default();
    let (encrypted, plaintext) = sops::tree::encryption_plan(&tree, &rules);
    let rule_name = applied.as_ref().map_or_else(
        || "sops' default rule".to_owned(),
        |a| format!("creation rule {} of {}", a.rule.number, a.config.display()),
    );
    if encrypted == 0 && !plaintext.is_empty() {
        return Err(SecretsError::NothingEncrypted {
            file: file.to_owned(),
            rule: rule_name,
            selector: rules.describe(),
            keys: plaintext.join(", "),
        }
        .into());
    }
    if let Some(applied) = &applied {
        eprintln!(
            "using {rule_name}{}",
            applied
                .rule
                .path_regex
                .as_ref()
                .map(|r| format!(" (path_regex `{r}`)"))
                .unwrap_or_default()
        );
    }
    if !plaintext.is_empty() {
        eprintln!(
            "left unencrypted by {}: {}",
            rules.describe(),
            plaintext.join(", ")
        );
    }
    let out = sops::encrypt_with_rules(&tree, &recipients, rules).map_err(enc_err)?;
    if in_place {
        write_private(file, out.as_bytes(), true)?;
        eprintln!(
            "encrypted {} in place to {} recipient(s)",
            file.display(),
            recipients.len()
        );
    } else {
        std::io::stdout()
            .write_all(out.as_bytes())
            .context("failed to write to stdout")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Parses recipients; `origin` (`--age`, or the creation rule) names where they came from.
fn parse_recipients(
    age: &[String],
    origin: &str,
) -> Result<Vec<age::x25519::Recipient>, SecretsError> {
    age.iter()
        .filter(|r| !r.trim().is_empty())
        .map(|r| {
            sops::parse_recipient(r).map_err(|cause| SecretsError::Encrypt {
                file: PathBuf::from(format!("({origin})")),
                cause,
            })
        })
        .collect()
}

/// Writes `bytes` to a new file with mode 0600: directly (`replace == false`, refusing to
/// overwrite) or via a temporary file in the same directory renamed over `path`.
fn write_private(path: &Path, bytes: &[u8], replace: bool) -> Result<(), SecretsError> {
    let werr = |file: &Path| {
        let file = file.to_owned();
        move |cause| SecretsError::Write { file, cause }
    };
    let target = if replace {
        let name = path
            .file_name()
            .map_or_else(|| "secrets".into(), |n| n.to_string_lossy().into_owned());
        let mut suffix = [0u8; 6];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut suffix);
        let hex: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
        path.with_file_name(format!(".{name}.mlsync-{hex}.tmp"))
    } else {
        path.to_owned()
    };
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&target)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        if replace {
            std::fs::rename(&target, path)?;
        }
        Ok(())
    })();
    if result.is_err() && replace {
        let _ = std::fs::remove_file(&target);
    }
    result.map_err(werr(path))
}
