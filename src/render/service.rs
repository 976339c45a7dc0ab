//! The one render path of every command: a service of a loaded repo, its secrets decrypted
//! through a [`SecretSource`], rendered with resolved [`RenderOptions`]. `render`, `plan`,
//! `diff`, `apply` and the daemon (rollbacks included: they re-apply objects this function
//! rendered for an earlier revision) all go through [`render_service`].
//!
//! The only I/O is the [`SecretSource`] reading the service's secrets file.

use super::{Object, RenderError, RenderOptions, render};
use crate::repo::{LoadedService, Repo};
use crate::secrets::SecretSource;

/// Renders `svc` of `repo`, decrypting its `spec.secrets` file (if any) with `secrets`.
pub fn render_service(
    repo: &Repo,
    svc: &LoadedService,
    secrets: &dyn SecretSource,
    opts: &RenderOptions,
) -> Result<Vec<Object>, RenderError> {
    let data = match &svc.spec.spec.secrets {
        None => None,
        Some(r) => {
            let path = repo
                .resolve(&r.file)
                .map_err(|cause| RenderError::SecretsPath {
                    file: r.file.clone(),
                    cause,
                })?;
            Some(secrets.load(&path).map_err(RenderError::Secrets)?)
        }
    };
    render(svc, data.as_ref(), opts)
}
