//! A compressing proxy for the benchmark: SecantusDB does not speak OP_COMPRESSED, so this stands
//! in front of a plain (no TLS, no auth) SecantusDB and does what mongod does, per the MongoDB
//! "Compression" specification:
//!
//! - to a `hello`/`isMaster` that lists `compression`, the reply gets `compression: [...]`: the
//!   client's names this proxy knows (zstd, zlib, snappy), in the client's order;
//! - an OP_COMPRESSED request is decompressed and forwarded as its original message;
//! - the reply to a compressed request is compressed with the same compressor; every other reply
//!   goes back as the server sent it.
//!
//! It runs as its own process so its CPU is not counted as the client's.
//!
//! Usage: `compress_proxy --upstream HOST:PORT`. It prints `READY <port> <stats-port>` on stdout
//! once both ports listen (each chosen by the OS). Every connection to the stats port gets one
//! line of cumulative counters and is closed: `requests=N requests_zstd=N ... replies=N ...
//! replies_zstd=N ... wire_bytes=N raw_bytes=N` (bytes of client-to-proxy traffic both ways, as
//! sent, and as they would have been uncompressed).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use bson::{Bson, Document};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const OP_REPLY: i32 = 1;
const OP_QUERY: i32 = 2004;
const OP_COMPRESSED: i32 = 2012;
const OP_MSG: i32 = 2013;
const MORE_TO_COME: u32 = 1 << 1;
const CHECKSUM_PRESENT: u32 = 1;
/// Compressor ids of the specification; 0 is "noop".
const NAMES: [&str; 4] = ["noop", "snappy", "zlib", "zstd"];
const MAX_MESSAGE: usize = 64 << 20;

#[derive(Default)]
struct Stats {
    requests: AtomicU64,
    requests_by: [AtomicU64; 4],
    replies: AtomicU64,
    replies_by: [AtomicU64; 4],
    wire_bytes: AtomicU64,
    raw_bytes: AtomicU64,
}

impl Stats {
    fn line(&self) -> String {
        let mut s = format!("requests={}", self.requests.load(Relaxed));
        for (i, n) in NAMES.iter().enumerate().skip(1) {
            s += &format!(" requests_{n}={}", self.requests_by[i].load(Relaxed));
        }
        s += &format!(" replies={}", self.replies.load(Relaxed));
        for (i, n) in NAMES.iter().enumerate().skip(1) {
            s += &format!(" replies_{n}={}", self.replies_by[i].load(Relaxed));
        }
        s += &format!(
            " wire_bytes={} raw_bytes={}\n",
            self.wire_bytes.load(Relaxed),
            self.raw_bytes.load(Relaxed)
        );
        s
    }
}

/// What the reply to one request needs: its compressor, and for a handshake the names to grant.
#[derive(Clone)]
struct Pending {
    compressor: u8,
    grant: Option<Vec<String>>,
}

type PendingMap = Arc<Mutex<HashMap<i32, Pending>>>;

fn err(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.into())
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Reads one whole message (header included); `None` at a clean end of stream.
async fn read_message(r: &mut (impl AsyncReadExt + Unpin)) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let n = i32::from_le_bytes(len) as usize;
    if !(16..=MAX_MESSAGE).contains(&n) {
        return Err(err(format!("message length {n}")));
    }
    let mut msg = vec![0u8; n];
    msg[..4].copy_from_slice(&len);
    r.read_exact(&mut msg[4..]).await?;
    Ok(Some(msg))
}

fn header(len: usize, request_id: i32, response_to: i32, op: i32) -> Vec<u8> {
    let mut h = Vec::with_capacity(len);
    h.extend_from_slice(&(len as i32).to_le_bytes());
    h.extend_from_slice(&request_id.to_le_bytes());
    h.extend_from_slice(&response_to.to_le_bytes());
    h.extend_from_slice(&op.to_le_bytes());
    h
}

fn decompress(id: u8, data: &[u8], size: usize) -> std::io::Result<Vec<u8>> {
    let out = match id {
        0 => data.to_vec(),
        1 => snap::raw::Decoder::new()
            .decompress_vec(data)
            .map_err(|e| err(e.to_string()))?,
        2 => {
            let mut out = Vec::with_capacity(size);
            flate2::read::ZlibDecoder::new(data).read_to_end(&mut out)?;
            out
        }
        3 => zstd::bulk::decompress(data, size)?,
        _ => return Err(err(format!("unknown compressor id {id}"))),
    };
    if out.len() != size {
        return Err(err("uncompressed size differs from the header's"));
    }
    Ok(out)
}

fn compress(id: u8, data: &[u8]) -> std::io::Result<Vec<u8>> {
    Ok(match id {
        1 => snap::raw::Encoder::new()
            .compress_vec(data)
            .map_err(|e| err(e.to_string()))?,
        2 => {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            z.write_all(data)?;
            z.finish()?
        }
        3 => zstd::bulk::compress(data, 0)?,
        _ => data.to_vec(),
    })
}

/// The command document of an OP_MSG (its kind-0 section) or an OP_QUERY, as (start, end).
fn command_span(msg: &[u8]) -> Option<(usize, usize)> {
    let at = match i32_at(msg, 12) {
        OP_MSG => {
            let mut at = 20;
            loop {
                if at + 5 > msg.len() {
                    return None;
                }
                let kind = msg[at];
                if kind == 0 {
                    break at + 1;
                }
                at += 1 + i32_at(msg, at + 1) as usize;
            }
        }
        OP_QUERY => {
            let name_end = msg[20..].iter().position(|&b| b == 0)? + 20;
            name_end + 1 + 8
        }
        _ => return None,
    };
    if at + 4 > msg.len() {
        return None;
    }
    let len = i32_at(msg, at) as usize;
    (at + len <= msg.len()).then_some((at, at + len))
}

/// For a handshake (`hello`/`isMaster` with `compression`), the names to grant.
fn handshake_grant(msg: &[u8]) -> Option<Vec<String>> {
    let (a, b) = command_span(msg)?;
    // Only the first key, without decoding the whole command.
    let (first, _) = bson::RawDocument::from_bytes(&msg[a..b])
        .ok()?
        .iter()
        .next()?
        .ok()?;
    if !first.eq_ignore_ascii_case("hello") && !first.eq_ignore_ascii_case("ismaster") {
        return None;
    }
    let doc = Document::from_reader(&msg[a..b]).ok()?;
    let asked = doc.get_array("compression").ok()?;
    Some(
        asked
            .iter()
            .filter_map(Bson::as_str)
            .filter(|n| NAMES[1..].contains(n))
            .map(str::to_owned)
            .collect(),
    )
}

/// The reply with `compression: grant` added to its document (OP_MSG or OP_REPLY).
fn add_grant(msg: &[u8], grant: &[String]) -> std::io::Result<Vec<u8>> {
    let op = i32_at(msg, 12);
    // OP_MSG: flags, then the kind-0 section's byte; OP_REPLY: flags, cursor id, starting from,
    // number returned.
    let (body_at, flags_cleared) = match op {
        OP_MSG if msg.get(20) == Some(&0) => (21, true),
        OP_REPLY => (36, false),
        _ => return Ok(msg.to_vec()),
    };
    let len = msg
        .get(body_at..body_at + 4)
        .map_or(0, |_| i32_at(msg, body_at) as usize);
    let body = msg
        .get(body_at..body_at + len)
        .ok_or_else(|| err("reply document out of bounds"))?;
    let mut doc = Document::from_reader(body).map_err(|e| err(e.to_string()))?;
    doc.insert("compression", grant.to_vec());
    let mut out = msg[..body_at].to_vec();
    if flags_cleared {
        // The document changes, so a checksum would be wrong: drop it.
        let flags = u32::from_le_bytes(out[16..20].try_into().unwrap()) & !CHECKSUM_PRESENT;
        out[16..20].copy_from_slice(&flags.to_le_bytes());
    }
    doc.to_writer(&mut out).map_err(|e| err(e.to_string()))?;
    let rest_end = if op == OP_MSG && i32_at(msg, 16) as u32 & CHECKSUM_PRESENT != 0 {
        msg.len() - 4
    } else {
        msg.len()
    };
    out.extend_from_slice(&msg[body_at + len..rest_end]);
    let n = out.len() as i32;
    out[..4].copy_from_slice(&n.to_le_bytes());
    Ok(out)
}

async fn client_to_server(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    pending: PendingMap,
    stats: Arc<Stats>,
) -> std::io::Result<()> {
    while let Some(msg) = read_message(&mut from).await? {
        stats.requests.fetch_add(1, Relaxed);
        stats.wire_bytes.fetch_add(msg.len() as u64, Relaxed);
        let request_id = i32_at(&msg, 4);
        let (msg, compressor) = if i32_at(&msg, 12) == OP_COMPRESSED {
            let (op, size, id) = (i32_at(&msg, 16), i32_at(&msg, 20) as usize, msg[24]);
            let body = decompress(id, &msg[25..], size)?;
            stats.requests_by[id.min(3) as usize].fetch_add(1, Relaxed);
            let mut m = header(16 + body.len(), request_id, i32_at(&msg, 8), op);
            m.extend_from_slice(&body);
            (m, id)
        } else {
            (msg, 0)
        };
        stats.raw_bytes.fetch_add(msg.len() as u64, Relaxed);
        let grant = handshake_grant(&msg);
        if compressor != 0 || grant.is_some() {
            pending
                .lock()
                .unwrap()
                .insert(request_id, Pending { compressor, grant });
        }
        to.write_all(&msg).await?;
    }
    Ok(())
}

async fn server_to_client(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    pending: PendingMap,
    stats: Arc<Stats>,
) -> std::io::Result<()> {
    while let Some(mut msg) = read_message(&mut from).await? {
        stats.replies.fetch_add(1, Relaxed);
        let response_to = i32_at(&msg, 8);
        let op = i32_at(&msg, 12);
        let more = op == OP_MSG && i32_at(&msg, 16) as u32 & MORE_TO_COME != 0;
        let p = {
            let mut map = pending.lock().unwrap();
            let p = map.remove(&response_to);
            // An exhaust stream: the next reply answers this one.
            if let (true, Some(p)) = (more, &p) {
                map.insert(i32_at(&msg, 4), p.clone());
            }
            p
        };
        let Some(p) = p else {
            stats.wire_bytes.fetch_add(msg.len() as u64, Relaxed);
            stats.raw_bytes.fetch_add(msg.len() as u64, Relaxed);
            to.write_all(&msg).await?;
            continue;
        };
        if let Some(grant) = &p.grant {
            msg = add_grant(&msg, grant)?;
        }
        stats.raw_bytes.fetch_add(msg.len() as u64, Relaxed);
        if p.compressor != 0 {
            stats.replies_by[p.compressor as usize].fetch_add(1, Relaxed);
            let body = compress(p.compressor, &msg[16..])?;
            let mut m = header(25 + body.len(), i32_at(&msg, 4), response_to, OP_COMPRESSED);
            m.extend_from_slice(&op.to_le_bytes());
            m.extend_from_slice(&((msg.len() - 16) as i32).to_le_bytes());
            m.push(p.compressor);
            m.extend_from_slice(&body);
            msg = m;
        }
        stats.wire_bytes.fetch_add(msg.len() as u64, Relaxed);
        to.write_all(&msg).await?;
    }
    Ok(())
}

async fn serve(client: TcpStream, upstream: String, stats: Arc<Stats>) -> std::io::Result<()> {
    let server = TcpStream::connect(&upstream).await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let pending = PendingMap::default();
    let up = client_to_server(BufReader::new(cr), sw, pending.clone(), stats.clone());
    let down = server_to_client(BufReader::new(sr), cw, pending, stats);
    // Either side closing ends the connection.
    tokio::select! {
        r = up => r,
        r = down => r,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let upstream = match args.iter().position(|a| a == "--upstream") {
        Some(i) if i + 1 < args.len() => args[i + 1].clone(),
        _ => {
            eprintln!("usage: compress_proxy --upstream HOST:PORT");
            std::process::exit(2);
        }
    };
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let stats_listener = TcpListener::bind("127.0.0.1:0").await?;
    println!(
        "READY {} {}",
        listener.local_addr()?.port(),
        stats_listener.local_addr()?.port()
    );
    std::io::stdout().flush()?;
    let stats = Arc::new(Stats::default());
    let s = stats.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = stats_listener.accept().await {
            let _ = conn.write_all(s.line().as_bytes()).await;
        }
    });
    loop {
        let (conn, _) = listener.accept().await?;
        let (upstream, stats) = (upstream.clone(), stats.clone());
        tokio::spawn(async move {
            match serve(conn, upstream, stats).await {
                // A client dropping its connection is how connections end here.
                Err(e) if e.kind() != std::io::ErrorKind::ConnectionReset => {
                    eprintln!("compress_proxy: connection ended: {e}")
                }
                _ => {}
            }
        });
    }
}
