//! Waits and sizes a hostile or stalled server must not stretch: writes bounded like reads
//! (`socketTimeoutMS`, `timeoutMS`), and a message size claimed in `hello` capped.

use super::*;
use crate::conn::IoLimit;
use crate::wire::{DocumentSequence, MAX_MESSAGE_SIZE_CEILING};

/// A server that completes the handshake, answers `stopReading` and then reads nothing more:
/// its socket buffers fill and the client's writes stall.
async fn stalling_server() -> FakeServer {
    FakeServer::after_hello(|cmd| {
        if cmd.contains_key("stopReading") {
            Reply::DocThenStopReading(doc! {"ok": 1})
        } else {
            Reply::Doc(doc! {"ok": 1})
        }
    })
    .await
}

/// About 15 MB of documents, in one insert's document sequence.
fn big_insert() -> Vec<DocumentSequence> {
    let chunk = "x".repeat(1 << 20);
    let docs: Vec<_> = (0..15)
        .map(|i| doc! {"_id": i, "pad": chunk.clone()})
        .collect();
    vec![DocumentSequence::from_documents("documents", &docs).unwrap()]
}

async fn stalled_insert_error(
    limit: Option<IoLimit>,
    socket_timeout: Duration,
) -> (Error, Duration) {
    let server = stalling_server().await;
    let mut conn = establish_plain(&server, 30).await.unwrap();
    conn.set_read_timeout(Some(socket_timeout));
    conn.command("test", doc! {"stopReading": 1}).await.unwrap();
    if let Some(limit) = limit {
        conn.set_io_limit(limit);
    }
    let started = Instant::now();
    let err = conn
        .command_with_sequences("test", doc! {"insert": "c"}, &big_insert(), None)
        .await
        .unwrap_err();
    assert!(
        conn.is_broken(),
        "a half-written request must not be reused"
    );
    (err, started.elapsed())
}

#[tokio::test]
async fn a_write_to_a_server_that_stopped_reading_times_out_with_socket_timeout() {
    bounded(async {
        let (err, elapsed) = stalled_insert_error(None, Duration::from_millis(200)).await;
        let message = timeout_message(&err);
        assert!(
            message.contains("could not write") && message.contains("socketTimeoutMS"),
            "{message}"
        );
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    })
    .await
}

#[tokio::test]
async fn a_write_under_an_operation_deadline_ends_by_the_deadline() {
    bounded(async {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
        let (err, elapsed) =
            stalled_insert_error(Some(IoLimit::Until(deadline)), Duration::from_secs(3600)).await;
        let message = timeout_message(&err);
        assert!(message.contains("timeoutMS"), "{message}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    })
    .await
}

#[tokio::test]
async fn a_huge_max_message_size_in_hello_is_capped() {
    bounded(async {
        // A later reply header claims 1 GiB: refused at once, nothing reserved for it.
        let mut header = Vec::new();
        header.extend_from_slice(&(1_i32 << 30).to_le_bytes());
        header.extend_from_slice(&[0; 8]);
        header.extend_from_slice(&OP_MSG.to_le_bytes());
        let hello =
            hello_with(doc! {"maxMessageSizeBytes": i64::MAX, "maxBsonObjectSize": i64::MAX});
        let server = FakeServer::with_hello(hello, move |_| Reply::Raw(header.clone())).await;
        let mut conn = establish_plain(&server, 31).await.unwrap();
        assert_eq!(conn.hello().max_message_size(), MAX_MESSAGE_SIZE_CEILING);
        let err = conn.command("test", doc! {"ping": 1}).await.unwrap_err();
        assert_invalid_response(&err, "exceeds the maximum message size");
    })
    .await
}

#[test]
fn an_error_code_out_of_range_is_not_saturated_into_a_code() {
    use crate::conn::connection::check_ok;
    for (code, expected) in [
        (bson::Bson::Double(1e300), 0),
        (bson::Bson::Double(f64::NAN), 0),
        (bson::Bson::Double(11600.0), 11600),
        (bson::Bson::Int64(i64::MAX), 0),
    ] {
        let reply = doc! {"ok": 0, "code": code.clone(), "errmsg": "x"};
        let err = check_ok(&bson::RawDocumentBuf::from_document(&reply).unwrap()).unwrap_err();
        let ErrorKind::Command { code: got, .. } = &*err.kind else {
            panic!("{err:?}")
        };
        assert_eq!(*got, expected, "{code}");
    }
}
