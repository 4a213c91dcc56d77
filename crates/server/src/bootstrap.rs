//! Start-up shared by the headless binary, the tests and (later) the desktop shell: the data
//! directory, the credentials, the database and the engine ([`open`]), and the demo upstream.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ondemand_core::config::Config;
use ondemand_core::control::{Control, ControlError, StartReport};
use ondemand_core::engine::Watch;
use ondemand_core::models::ModelCatalog;
use ondemand_core::pool::Pool;
use ondemand_core::store::live::LiveFeed;
use ondemand_core::store::writer::{UsageSink, UsageWriter};
use ondemand_core::store::{Store, StoreError};
use ondemand_core::upstream::UpstreamClient;
use ondemand_core::{Engine, Secret};

use crate::{AppState, Services};
use rand::Rng;
use rand::distr::Alphanumeric;

const TOKEN_FILE: &str = "client_token";
const ADMIN_PASSWORD_FILE: &str = "admin_password";

/// The OS data directory for the app (e.g. `~/.local/share/ondemand-proxy`).
pub fn default_data_dir() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("ondemand-proxy")
}

/// Creates the data directory, readable by its owner only.
pub fn ensure_data_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Makes `dir` (created if need be) readable by its owner only, also when it already
/// existed with a wider mode: the desktop app's data, config and cache directories hold
/// logs, preferences and the webview's storage.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    ensure_data_dir(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// A new random client token (`sk-odp-` and 40 alphanumerics).
pub fn generate_token() -> Secret {
    ondemand_core::client_tokens::generate_secret()
}

/// Where a stored secret (client token, admin password) came from, so start-up can say so
/// (and print it only the once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenOrigin {
    /// `api_access_token` from config, env or a flag.
    Configured,
    /// Generated on an earlier run and stored here.
    Stored(PathBuf),
    /// Generated now and stored here: the one time it is printed.
    Generated(PathBuf),
}

/// The configured token, else the stored one, else a new one written with mode 0600.
pub fn client_token(
    configured: Option<Secret>,
    data_dir: &Path,
) -> std::io::Result<(Secret, TokenOrigin)> {
    stored_secret(
        configured,
        &data_dir.join(TOKEN_FILE),
        data_dir,
        generate_token,
    )
}

/// The admin password: configured (`ADMIN_PASSWORD`), else stored, else generated like a
/// token and stored with mode 0600.
pub fn admin_password(
    configured: Option<Secret>,
    data_dir: &Path,
) -> std::io::Result<(Secret, TokenOrigin)> {
    stored_secret(
        configured,
        &data_dir.join(ADMIN_PASSWORD_FILE),
        data_dir,
        generate_password,
    )
}

/// A new admin password: 32 alphanumerics (~190 bits), with no `sk-` prefix so that it is
/// never mistaken for a client token.
pub fn generate_password() -> Secret {
    Secret::new(
        rand::rng()
            .sample_iter(&Alphanumeric)
            .take(32)
            .map(char::from)
            .collect::<String>(),
    )
}

fn stored_secret(
    configured: Option<Secret>,
    path: &Path,
    data_dir: &Path,
    generate: fn() -> Secret,
) -> std::io::Result<(Secret, TokenOrigin)> {
    if let Some(secret) = configured {
        return Ok((secret, TokenOrigin::Configured));
    }
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => {
            return Ok((
                Secret::new(text.trim()),
                TokenOrigin::Stored(path.to_owned()),
            ));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    ensure_data_dir(data_dir)?;
    let secret = generate();
    write_private(path, secret.expose().as_bytes())?;
    Ok((secret, TokenOrigin::Generated(path.to_owned())))
}

/// Writes `bytes` to `path` whole, readable by its owner only: into a temporary file beside
/// it, synced, then renamed over it, so a reader never sees half a file and a crash leaves
/// the old one.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temporary).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&temporary, path)) {
        Ok(()) => Ok(()),
        Err(error) => {
            let _ = std::fs::remove_file(&temporary);
            Err(error)
        }
    }
}

/// The database file in a data directory.
pub const DATABASE_FILE: &str = "ondemand-proxy.db";

/// Checks the data directory (created if need be) and the files in it that hold secrets
/// before any is trusted ([`ondemand_core::private`]): what other users own or can write is
/// refused; what they can only read is made private, with a line in the log.
pub fn secure(data_dir: &Path) -> Result<(), StartError> {
    use ondemand_core::private;
    ensure_data_dir(data_dir).map_err(|source| StartError::Secret {
        what: "data directory",
        dir: data_dir.display().to_string(),
        source,
    })?;
    let files = [
        TOKEN_FILE.to_owned(),
        ADMIN_PASSWORD_FILE.to_owned(),
        DATABASE_FILE.to_owned(),
        format!("{DATABASE_FILE}-wal"),
        format!("{DATABASE_FILE}-shm"),
    ];
    let checked = std::iter::once(private::dir(data_dir))
        .chain(files.iter().map(|name| private::file(&data_dir.join(name))));
    for outcome in checked {
        if let Some(repaired) = outcome? {
            tracing::warn!(%repaired, "a file in the data directory was not private");
        }
    }
    Ok(())
}

/// Starts the usage writer on the data directory's database (created, 0600, migrated);
/// committed rows go to `feed` (the live dashboard).
pub fn usage_writer(
    data_dir: &Path,
    feed: Arc<LiveFeed>,
) -> Result<(UsageWriter, UsageSink), StoreError> {
    ensure_data_dir(data_dir).map_err(|source| StoreError::Create {
        path: data_dir.display().to_string(),
        source,
    })?;
    UsageWriter::start(&data_dir.join(DATABASE_FILE), feed)
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("reading or creating the {what} in {dir}: {source}")]
    Secret {
        what: &'static str,
        dir: String,
        source: std::io::Error,
    },
    #[error("opening the database in {dir}: {source}")]
    Database { dir: String, source: StoreError },
    #[error("loading the stored accounts, tokens and settings: {0}")]
    Control(#[from] ControlError),
    #[error(transparent)]
    Unsafe(#[from] ondemand_core::private::Unsafe),
}

/// A server ready to serve: its state, the usage writer to close after serving, and what
/// start-up did (for the person at the terminal).
pub struct Opened {
    pub state: AppState,
    pub writer: UsageWriter,
    pub token_origin: TokenOrigin,
    pub admin_origin: TokenOrigin,
    pub report: StartReport,
}

/// Everything between a configuration and a server: the data directory, the credentials,
/// the database (config-managed entries synced), the engine with what the database holds.
/// The headless binary, the tests and the desktop shell all start this way.
pub fn open(config: &Config, data_dir: &Path) -> Result<Opened, StartError> {
    open_with(config, data_dir, Vec::new())
}

/// [`open`], allowing browsers at `allowed_origins` to call the API (the desktop webview).
pub fn open_with(
    config: &Config,
    data_dir: &Path,
    allowed_origins: Vec<String>,
) -> Result<Opened, StartError> {
    let dir = || data_dir.display().to_string();
    secure(data_dir)?;
    let (client_token, token_origin) = client_token(config.api_access_token.clone(), data_dir)
        .map_err(|source| StartError::Secret {
            what: "client token",
            dir: dir(),
            source,
        })?;
    let (admin_password, admin_origin) = admin_password(config.admin_password.clone(), data_dir)
        .map_err(|source| StartError::Secret {
            what: "admin password",
            dir: dir(),
            source,
        })?;
    let watch = Watch::default();
    let (writer, usage) = usage_writer(data_dir, watch.live.clone())
        .map_err(|source| StartError::Database { dir: dir(), source })?;
    let store = Arc::new(Store::new(&data_dir.join(DATABASE_FILE)));
    let engine = Engine::new(
        UpstreamClient::new(),
        Pool::default(),
        ModelCatalog::builtin(),
        config.settings.clone(),
        watch,
        Some(store.clone()),
    );
    let (control, report) = Control::start(
        store.clone(),
        config.pinned.clone(),
        &config.accounts,
        &client_token,
        &engine,
    )?;
    let state = AppState::new(Services {
        engine,
        control,
        allowed_origins,
        client_token,
        admin_password,
        metrics_token: config.metrics_token.clone(),
        usage,
        store,
    });
    Ok(Opened {
        state,
        writer,
        token_origin,
        admin_origin,
        report,
    })
}

#[cfg(test)]
mod tests {

    #[cfg(unix)]
    #[test]
    fn a_directory_made_private_is_so_even_if_it_existed_wider() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("app");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let fresh = root.path().join("new/nested");
        private_dir(&fresh).unwrap();
        assert_eq!(
            std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }

    use super::*;

    #[test]
    fn generated_tokens_are_random_and_long() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), "sk-odp-".len() + 40);
    }

    #[test]
    fn token_is_generated_once_then_reused_with_owner_only_mode() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("nested");
        let (first, origin) = client_token(None, &data).unwrap();
        assert_eq!(origin, TokenOrigin::Generated(data.join(TOKEN_FILE)));
        let (again, origin) = client_token(None, &data).unwrap();
        assert_eq!(origin, TokenOrigin::Stored(data.join(TOKEN_FILE)));
        assert_eq!(first, again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(data.join(TOKEN_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (configured, origin) = client_token(Some(Secret::new("mine")), &data).unwrap();
        assert_eq!(
            (configured.expose(), origin),
            ("mine", TokenOrigin::Configured)
        );
    }
}
