//! The TCP server: accepts connections (at most `max.connections`), reads
//! size-prefixed frames with bounded sizes, answers requests in order, and
//! shuts down gracefully: stop accepting, let each connection finish the
//! request it is in, close every log cleanly.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::broker::{Broker, BrokerConfig};
use crate::codec::{self, DecodeError, FRAME_SIZE_BYTES, ResponseBody};
use crate::frame::Frame;
use crate::handlers;

/// How long shutdown waits for connections to finish their request.
const DRAIN: Duration = Duration::from_secs(30);

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Binding or accepting failed.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The data directory could not be opened or closed.
    #[error(transparent)]
    Storage(#[from] logsync_storage::Error),
}

/// Runs a broker until `shutdown` resolves. `on_listening` is called with the
/// bound address once connections are accepted.
///
/// # Errors
/// [`ServeError`] when binding fails or the logs cannot be opened or closed.
pub async fn serve(
    config: BrokerConfig,
    on_listening: impl FnOnce(SocketAddr, Option<SocketAddr>),
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let addr = config.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Listen { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ServeError::Listen { addr, source })?;
    let broker = {
        let opening = config.clone();
        let advertised = opening.advertised.unwrap_or(bound);
        tokio::task::spawn_blocking(move || Broker::open(opening, advertised))
            .await
            .map_err(|e| {
                logsync_storage::Error::io("open", &config.data_dir, std::io::Error::other(e))
            })??
    };
    let broker = Arc::new(broker);
    let metrics_task = match config.metrics {
        Some(addr) => {
            let (listener, bound_metrics) = crate::metrics::bind(addr)
                .await
                .map_err(|source| ServeError::Listen { addr, source })?;
            tracing::info!(addr = %bound_metrics, "metrics on /metrics, health on /health");
            let _ = broker.admin_addr.set(bound_metrics);
            Some((
                tokio::spawn(crate::metrics::serve_http(listener, Arc::clone(&broker))),
                bound_metrics,
            ))
        }
        None => None,
    };
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    on_listening(bound, metrics_task.as_ref().map(|(_, a)| *a));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    broker.metrics.connections_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(%peer, limit = config.max_connections, "connection refused: max.connections reached");
                    drop(stream);
                    continue;
                };
                let broker = Arc::clone(&broker);
                let stop = stop_rx.clone();
                broker.metrics.connections_total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                broker.metrics.connections_open.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                connections.spawn(async move {
                    if let Err(e) = connection(&broker, stream, stop).await {
                        if matches!(e, ConnectionError::Decode(_) | ConnectionError::NotHandled(_)) {
                            broker.metrics.bad_requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        tracing::info!(%peer, error = %e, "connection closed");
                    }
                    broker.metrics.connections_open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                    drop(slot);
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    tracing::info!("shutting down: no new connections; finishing requests in flight");
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("connections still busy after {DRAIN:?}; closing anyway");
        connections.abort_all();
    }
    if let Some((task, _)) = metrics_task {
        task.abort();
    }
    let closing = Arc::clone(&broker);
    tokio::task::spawn_blocking(move || closing.close())
        .await
        .map_err(|e| {
            logsync_storage::Error::io("close", &config.data_dir, std::io::Error::other(e))
        })??;
    tracing::info!("all logs closed cleanly");
    Ok(())
}

/// Why a connection was closed by the server.
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad request: {0}")]
    Decode(#[from] DecodeError),
    #[error("request for api {0:?}, which this server does not answer")]
    NotHandled(ApiKey),
    #[error("encoding the response: {0}")]
    Encode(#[from] codec::EncodeError),
}

/// Requests of one connection that may be in flight at once (written,
/// waiting for their fsync) before the server stops reading from it.
const MAX_IN_FLIGHT: usize = 64;

/// A response on its way out, in request order.
enum Outgoing {
    /// Encoded already.
    Ready(Frame),
    /// A body still being completed (a Produce waiting for its fsync).
    Later {
        correlation_id: i32,
        version: i16,
        api: ApiKey,
        started: std::time::Instant,
        body: std::pin::Pin<Box<dyn std::future::Future<Output = Option<ResponseBody>> + Send>>,
    },
}

/// Serves one connection until the peer closes it, it misbehaves, or the
/// server stops (between requests). Requests are read and handled in order;
/// a Produce is written in order and its response waits for the fsync while
/// the next requests are read (their fsyncs overlap: group commit), and a
/// writer task sends the responses in request order.
async fn connection(
    broker: &Arc<Broker>,
    stream: TcpStream,
    stop: watch::Receiver<bool>,
) -> Result<(), ConnectionError> {
    stream.set_nodelay(true)?;
    let (mut reader, writer) = stream.into_split();
    let (tx, rx) = tokio::sync::mpsc::channel(MAX_IN_FLIGHT);
    let sending = tokio::spawn(send_responses(Arc::clone(broker), writer, rx));
    let read = read_requests(broker, &mut reader, &tx, stop).await;
    drop(tx);
    let sent = match sending.await {
        Ok(r) => r,
        Err(e) => Err(ConnectionError::Io(std::io::Error::other(e))),
    };
    read.and(sent)
}

async fn send_responses(
    broker: Arc<Broker>,
    mut writer: tokio::net::tcp::OwnedWriteHalf,
    mut rx: tokio::sync::mpsc::Receiver<Outgoing>,
) -> Result<(), ConnectionError> {
    while let Some(next) = rx.recv().await {
        let frame = match next {
            Outgoing::Ready(frame) => frame,
            Outgoing::Later {
                correlation_id,
                version,
                api,
                started,
                body,
            } => {
                let body = body.await;
                broker.metrics.request(api, started.elapsed());
                match body {
                    Some(body) => codec::encode_response_frame(correlation_id, version, &body)?,
                    None => continue,
                }
            }
        };
        write_frame(&mut writer, &frame).await?;
        broker
            .metrics
            .bytes_out
            .fetch_add(frame.len() as u64, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(())
}

/// Writes a whole frame with vectored writes: the encoded parts and the
/// record batches it references go out without being copied together.
async fn write_frame(
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
    frame: &Frame,
) -> std::io::Result<()> {
    /// `IOV_MAX` is 1024 on Linux; a Fetch has a few chunks per partition.
    const MAX_SLICES: usize = 256;
    let mut written = 0;
    while written < frame.len() {
        let slices = frame.io_slices(written, MAX_SLICES);
        let n = writer.write_vectored(&slices).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        written += n;
    }
    Ok(())
}

async fn read_requests(
    broker: &Arc<Broker>,
    stream: &mut tokio::net::tcp::OwnedReadHalf,
    tx: &tokio::sync::mpsc::Sender<Outgoing>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ConnectionError> {
    let mut first = true;
    let gone = || ConnectionError::Io(std::io::ErrorKind::BrokenPipe.into());
    loop {
        let mut prefix = [0u8; FRAME_SIZE_BYTES];
        tokio::select! {
            read = stream.read_exact(&mut prefix) => match read {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e.into()),
            },
            _ = stop.changed() => return Ok(()),
        }
        // Until a connection has sent one valid request it gets a much
        // smaller frame limit: a stray or hostile peer cannot make the
        // server buffer 100 MiB.
        let max = if first {
            broker.config.first_request_max_bytes
        } else {
            broker.config.max_request_bytes
        };
        let len = codec::read_frame_size(prefix, max)?;
        let mut frame = BytesMut::zeroed(len);
        stream.read_exact(&mut frame).await?;
        broker.metrics.bytes_in.fetch_add(
            (len + FRAME_SIZE_BYTES) as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        let started = std::time::Instant::now();
        let request = match codec::decode_request(frame.freeze()) {
            Ok(r) => r,
            Err(DecodeError::UnsupportedVersion {
                api_key: ApiKey::ApiVersions,
                correlation_id,
                ..
            }) => {
                // Answer in v0 with the versions we have, as Kafka does, so
                // the client can retry with one of them.
                let mut body = handlers::api_versions_body();
                body.error_code = ResponseError::UnsupportedVersion.code();
                let frame =
                    codec::encode_response_frame(correlation_id, 0, &ResponseBody::from(body))?;
                tx.send(Outgoing::Ready(frame)).await.map_err(|_| gone())?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let api_key = request.api_key();
        if request.trailing_bytes > 0 {
            tracing::debug!(
                ?api_key,
                version = request.api_version(),
                trailing = request.trailing_bytes,
                "ignoring bytes after the request body"
            );
        }
        if !handlers::is_handled(api_key) {
            return Err(ConnectionError::NotHandled(api_key));
        }
        first = false;
        let version = request.api_version();
        let correlation_id = request.correlation_id();
        let outgoing = match handlers::handle(broker, version, request.body).await {
            handlers::Reply::Now(None) => {
                broker.metrics.request(api_key, started.elapsed());
                continue;
            }
            handlers::Reply::Now(Some(body)) => {
                broker.metrics.request(api_key, started.elapsed());
                Outgoing::Ready(codec::encode_response_frame(
                    correlation_id,
                    version,
                    &body,
                )?)
            }
            handlers::Reply::Later(body) => Outgoing::Later {
                correlation_id,
                version,
                api: api_key,
                started,
                body,
            },
        };
        tx.send(outgoing).await.map_err(|_| gone())?;
    }
}
