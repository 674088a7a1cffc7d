//! `logsync serve`: the broker on the data dir until SIGTERM or SIGINT.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use logsync_broker::broker::BrokerConfig;
use logsync_broker::server;

use crate::Outcome;
use crate::cli::ServeArgs;

/// Whether `--data-dir` (or its environment variable) was given, so that it
/// overrides the file's `log.dirs`.
fn data_dir_given() -> bool {
    std::env::var_os("LOGSYNC_DATA_DIR").is_some()
        || std::env::args().any(|a| a == "--data-dir" || a.starts_with("--data-dir="))
}

pub fn run(data_dir: &Path, args: &ServeArgs) -> anyhow::Result<Outcome> {
    let mut config = BrokerConfig::new(data_dir);
    if let Some(file) = &args.config {
        let pairs = super::serve_config::read(file)?;
        if let Some(dir) = super::serve_config::apply(&mut config, &pairs)?
            && !data_dir_given()
        {
            config.data_dir = dir;
        }
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(a) = args.advertised_listener {
        config.advertised = Some(a);
    }
    if let Some(m) = args.metrics {
        config.metrics = Some(m);
    }
    if let Some(v) = args.auto_create_topics {
        config.auto_create_topics = v;
    }
    if let Some(n) = args.num_partitions {
        if n == 0 {
            anyhow::bail!("--num-partitions must be at least 1");
        }
        config.default_partitions = n;
    }
    if let Some(n) = args.max_connections {
        config.max_connections = n;
    }
    if let Some(ms) = args.log_cleaner_backoff_ms {
        config.maintenance_interval = std::time::Duration::from_millis(ms.max(1));
    }
    if let Some(b) = args.socket_request_max_bytes {
        config.max_request_bytes = b;
    }
    config.first_request_max_bytes = config.first_request_max_bytes.min(config.max_request_bytes);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("logsync-io")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let shutdown = async {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot watch SIGTERM; stop with SIGINT");
                        let _ = tokio::signal::ctrl_c().await;
                        return;
                    }
                };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        };
        server::serve(
            config,
            |addr, metrics| {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "listening on {addr}");
                if let Some(m) = metrics {
                    let _ = writeln!(out, "metrics on {m}");
                }
                let _ = out.flush();
            },
            shutdown,
        )
        .await
    })?;
    Ok(Outcome::Done)
}
