//! `logsync serve`: the broker on the data dir until SIGTERM or SIGINT.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use logsync_broker::broker::BrokerConfig;
use logsync_broker::server;

use crate::Outcome;
use crate::cli::ServeArgs;

pub fn run(data_dir: &Path, args: &ServeArgs) -> anyhow::Result<Outcome> {
    if args.num_partitions == 0 {
        anyhow::bail!("--num-partitions must be at least 1");
    }
    let mut config = BrokerConfig::new(data_dir);
    config.listen = args.listen;
    config.advertised = args.advertised_listener;
    config.metrics = args.metrics;
    config.maintenance_interval =
        std::time::Duration::from_millis(args.log_cleaner_backoff_ms.max(1));
    config.auto_create_topics = args.auto_create_topics;
    config.default_partitions = args.num_partitions;
    config.max_connections = args.max_connections;
    config.max_request_bytes = args.socket_request_max_bytes;
    config.first_request_max_bytes = config
        .first_request_max_bytes
        .min(args.socket_request_max_bytes);
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
