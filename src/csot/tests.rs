use std::time::Duration;

use tokio::time::Instant;

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn is_operation_timeout(e: &Error) -> bool {
    matches!(&*e.kind, ErrorKind::OperationTimeout { .. })
}

#[test]
fn unset_keeps_legacy_timeouts_and_zero_means_no_limit() {
    assert_eq!(Deadline::start(None), None);
    let t0 = Instant::now();
    let d = Deadline::starting_at(Duration::ZERO, t0);
    assert_eq!(d.expires(), None);
    assert_eq!(d.remaining(t0 + ms(10_000)), None);
    assert!(!d.is_expired(t0 + ms(10_000)));
    assert_eq!(d.max_time_ms(t0, ms(5)).unwrap(), None);
}

#[test]
fn remaining_counts_down_to_zero() {
    let t0 = Instant::now();
    let d = Deadline::starting_at(ms(300), t0);
    assert_eq!(d.expires(), Some(t0 + ms(300)));
    assert_eq!(d.remaining(t0 + ms(100)), Some(ms(200)));
    assert_eq!(d.remaining(t0 + ms(400)), Some(Duration::ZERO));
    assert!(!d.is_expired(t0 + ms(299)));
    assert!(d.is_expired(t0 + ms(300)));
}

#[test]
fn max_time_ms_is_the_time_left_minus_the_round_trip() {
    let t0 = Instant::now();
    let d = Deadline::starting_at(ms(300), t0);
    assert_eq!(d.max_time_ms(t0, Duration::ZERO).unwrap(), Some(300));
    assert_eq!(d.max_time_ms(t0 + ms(100), ms(20)).unwrap(), Some(180));
    // Sub-millisecond rest rounds down, and never to 0 (the server's "no limit").
    assert_eq!(
        d.max_time_ms(t0 + ms(100), Duration::from_micros(20_500))
            .unwrap(),
        Some(179)
    );
    let half_ms_left = Duration::from_micros(299_500);
    assert_eq!(d.max_time_ms(t0 + ms(299), ms(0)).unwrap(), Some(1));
    for (at, rtt) in [
        (ms(290), ms(10)),
        (half_ms_left, ms(0)),
        (ms(350), ms(0)),
        (ms(0), ms(400)),
    ] {
        let e = d.max_time_ms(t0 + at, rtt).unwrap_err();
        assert!(is_operation_timeout(&e), "{e}");
        assert!(e.to_string().contains("timeoutMS (300 ms)"), "{e}");
    }
}

#[test]
fn server_selection_takes_the_earlier_deadline() {
    let t0 = Instant::now();
    let d = Deadline::starting_at(ms(300), t0);
    assert_eq!(d.earlier_than(t0, ms(30_000)), t0 + ms(300));
    assert_eq!(d.earlier_than(t0, ms(100)), t0 + ms(100));
    let unlimited = Deadline::starting_at(Duration::ZERO, t0);
    assert_eq!(unlimited.earlier_than(t0, ms(100)), t0 + ms(100));
}

#[test]
fn timeouts_of_every_kind_become_the_typed_error_quoting_the_cause() {
    let t0 = Instant::now();
    let d = Deadline::starting_at(ms(300), t0);
    let socket = Error::new(ErrorKind::Timeout {
        message: "no reply from h:1".into(),
    });
    let e = d.transform(socket, t0);
    assert!(
        is_operation_timeout(&e) && e.to_string().contains("no reply from h:1"),
        "{e}"
    );
    let max_time = Error::new(ErrorKind::Command {
        code: 50,
        code_name: "MaxTimeMSExpired".into(),
        message: "operation exceeded time limit".into(),
    });
    assert!(is_operation_timeout(&d.transform(max_time, t0)));
    let wait = Error::new(ErrorKind::WaitQueueTimeout {
        message: "x".into(),
    });
    assert!(is_operation_timeout(&d.transform(wait, t0)));
    // Other errors stay what they are while time is left, and become the timeout after.
    let other = Error::invalid_response("bad");
    assert!(!is_operation_timeout(&d.transform(other.clone(), t0)));
    assert!(is_operation_timeout(&d.transform(other, t0 + ms(300))));
}

#[test]
fn get_more_carries_no_max_time_ms_kill_cursors_does() {
    assert!(!takes_max_time_ms("getMore"));
    assert!(takes_max_time_ms("killCursors"));
    assert!(takes_max_time_ms("find"));
    assert!(takes_max_time_ms("insert"));
}

#[test]
fn a_deadline_without_max_time_ms_keeps_its_expiry() {
    let t0 = Instant::now();
    let d = Deadline::starting_at(ms(100), t0);
    let quiet = d.without_max_time_ms();
    assert!(d.sends_max_time_ms());
    assert!(!quiet.sends_max_time_ms());
    assert_eq!(quiet.expires(), d.expires());
    assert!(quiet.is_expired(t0 + ms(100)));
}

#[test]
fn a_write_concern_max_time_ms_expired_is_the_timeout() {
    let t0 = Instant::now();
    let d = Deadline::starting_at(ms(100), t0);
    let write = |write_concern_error: Option<&str>| {
        Error::new(ErrorKind::Write {
            message: "write concern error".into(),
            write_errors: Vec::new(),
            write_concern_error: write_concern_error.map(str::to_owned),
            inserted_ids: Default::default(),
        })
    };
    assert!(is_operation_timeout(
        &d.transform(write(Some("maxTimeMS expired (code 50)")), t0)
    ));
    assert!(!is_operation_timeout(&d.transform(
        write(Some("waiting for replication timed out (code 64)")),
        t0
    )));
}
