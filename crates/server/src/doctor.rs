//! `ondemand-proxy doctor`: the real on-demand.io checked from this machine with the
//! configured accounts ([`ondemand_core::upstream::doctor`]), the report printed and kept in
//! the data directory for a bug report.

use std::path::{Path, PathBuf};

use ondemand_core::config::Config;
use ondemand_core::upstream::doctor::Report;

use crate::bootstrap;

/// The file in the data directory that holds the last report.
pub const REPORT_FILE: &str = "doctor-report.json";

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct Asked {
    pub account: Option<String>,
    pub media: bool,
    pub force: bool,
}

/// Opens the data directory as `serve` does (its accounts, and the dashboard's settings over
/// the configuration), runs the checkup, and keeps the reports in [`REPORT_FILE`].
pub async fn run(config: &Config, data_dir: &Path, asked: &Asked) -> anyhow::Result<Vec<Report>> {
    let opened = bootstrap::open(config, data_dir)?;
    let engine = opened.state.engine();
    let reports = match engine.doctor_accounts(asked.account.as_deref(), asked.force) {
        Ok(accounts) => Ok(engine.doctor(&accounts, asked.media, &|_, _| {}).await),
        Err(refusal) => Err(refusal),
    };
    opened.writer.close().await;
    let reports = reports?;
    keep(data_dir, &reports)?;
    Ok(reports)
}

/// Writes the reports (owner-only) for a user to attach later.
pub(crate) fn keep(data_dir: &Path, reports: &[Report]) -> std::io::Result<PathBuf> {
    let path = data_dir.join(REPORT_FILE);
    let mut json = serde_json::to_vec_pretty(reports)?;
    json.push(b'\n');
    bootstrap::write_private(&path, &json)?;
    Ok(path)
}

/// The process's exit status for these reports: the worst of them (0 clean, 1 deviations or
/// failures, 2 on-demand.io not reached).
pub fn exit_code(reports: &[Report]) -> u8 {
    let codes: Vec<u8> = reports.iter().map(Report::exit_code).collect();
    // Not reached anywhere is 2; reached, but not clean somewhere, is 1.
    if !codes.is_empty() && codes.iter().all(|&c| c == 2) {
        2
    } else {
        codes.into_iter().map(|c| c.min(1)).max().unwrap_or(0)
    }
}
