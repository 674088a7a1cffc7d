//! A small blocking Kafka client for the CLI's `--broker` mode: one
//! connection, one request at a time, message types from `kafka-protocol`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

/// Largest response frame accepted (a fetch of the default sizes is far smaller).
const MAX_RESPONSE_BYTES: usize = 256 << 20;

/// A connection to a broker.
#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
    next_id: i32,
    addr: String,
}

impl Client {
    /// Connects to `addr` (`HOST:PORT`).
    pub fn connect(addr: &str) -> anyhow::Result<Client> {
        let stream =
            TcpStream::connect(addr).with_context(|| format!("connecting to broker {addr}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            next_id: 1,
            addr: addr.to_owned(),
        })
    }

    /// Sends `req` at `version` and reads its response.
    pub fn call<R: Request>(&mut self, version: i16, req: &R) -> anyhow::Result<R::Response> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(id)
            .with_client_id(Some(StrBytes::from_static_str("logsync-cli")));
        let mut frame = BytesMut::new();
        frame.put_i32(0);
        header.encode(&mut frame, R::header_version(version))?;
        req.encode(&mut frame, version)?;
        let size = i32::try_from(frame.len() - 4).context("request too large")?;
        frame[..4].copy_from_slice(&size.to_be_bytes());
        self.stream
            .write_all(&frame)
            .with_context(|| format!("sending to broker {}", self.addr))?;
        let mut size = [0u8; 4];
        self.stream
            .read_exact(&mut size)
            .with_context(|| format!("reading from broker {}", self.addr))?;
        let len = usize::try_from(i32::from_be_bytes(size)).context("negative response size")?;
        if len > MAX_RESPONSE_BYTES {
            bail!("response of {len} bytes from {} is too large", self.addr);
        }
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body)?;
        let mut body = Bytes::from(body);
        let header = ResponseHeader::decode(&mut body, R::Response::header_version(version))?;
        if header.correlation_id != id {
            bail!(
                "broker {} answered request {id} with correlation id {}",
                self.addr,
                header.correlation_id
            );
        }
        let response = R::Response::decode(&mut body, version)?;
        if body.has_remaining() {
            tracing::debug!(trailing = body.remaining(), "bytes after a response body");
        }
        Ok(response)
    }
}
