use super::*;
use bson::doc;

fn address(port: u16) -> ServerAddress {
    ServerAddress::Tcp {
        host: "mongos".into(),
        port: Some(port),
    }
}

fn message(e: &Error) -> String {
    match &*e.kind {
        ErrorKind::Transaction { message } => message.clone(),
        other => panic!("not a transaction error: {other:?}"),
    }
}

fn started() -> Transaction {
    started_with(TransactionOptions::default())
}

/// Committed on a mongos (pinned to it) that handed out a recovery token.
fn committed_pinned_with_recovery_token() -> Transaction {
    let mut t = in_progress();
    t.set_pin(Pin::Mongos(address(1)));
    t.observe_recovery_token(doc! { "shard": 1 });
    t.commit().unwrap();
    t
}

fn started_with(options: TransactionOptions) -> Transaction {
    let mut t = Transaction::default();
    t.start(options).unwrap();
    t
}

fn in_progress() -> Transaction {
    let mut t = started();
    t.first_command_sent();
    t
}

fn network() -> Error {
    Error::new(ErrorKind::Io(Arc::new(std::io::Error::from(
        std::io::ErrorKind::ConnectionReset,
    ))))
}

fn command(code: i32) -> Error {
    Error::new(ErrorKind::Command {
        code,
        code_name: String::new(),
        message: "x".into(),
    })
}

fn write_concern(code: i32) -> Error {
    Error::new(ErrorKind::WriteConcern {
        code,
        code_name: String::new(),
        message: "x".into(),
    })
}

/// Options with this read concern.
fn reading(read_concern: ReadConcern) -> TransactionOptions {
    TransactionOptions::builder()
        .read_concern(read_concern)
        .build()
}

fn unacknowledged() -> TransactionOptions {
    TransactionOptions::builder()
        .write_concern(WriteConcern {
            w: Some(Acknowledgment::Nodes(0)),
            ..WriteConcern::default()
        })
        .build()
}

#[test]
fn a_transaction_starts_then_is_in_progress_after_its_first_command() {
    let mut t = Transaction::default();
    assert_eq!(t.state(), TransactionState::None);
    assert!(!t.is_active());
    t.start(TransactionOptions::default()).unwrap();
    assert_eq!(t.state(), TransactionState::Starting);
    assert!(t.is_active() && t.is_starting());
    t.first_command_sent();
    assert_eq!(t.state(), TransactionState::InProgress);
    assert!(t.is_active() && !t.is_starting());
    // Only the first command moves it.
    t.first_command_sent();
    assert_eq!(t.state(), TransactionState::InProgress);
}

#[test]
fn starting_twice_is_refused_and_changes_nothing() {
    for mut t in [started(), in_progress()] {
        let before = t.state();
        t.observe_recovery_token(doc! { "shard": 1 });
        t.set_pin(Pin::Mongos(address(1)));
        let e = t
            .start(
                TransactionOptions::builder()
                    .max_commit_time(Duration::from_secs(1))
                    .build(),
            )
            .unwrap_err();
        assert!(
            message(&e).contains("Transaction already in progress"),
            "{e}"
        );
        assert_eq!(t.state(), before);
        assert!(t.pin().is_some() && t.recovery_token().is_some());
        assert_eq!(
            t.options().max_commit_time,
            None,
            "the options are unchanged"
        );
    }
}

#[test]
fn an_unacknowledged_write_concern_is_refused_whatever_the_state() {
    let mut t = Transaction::default();
    let e = t.start(unacknowledged()).unwrap_err();
    assert!(
        message(&e).contains("transactions do not support unacknowledged write concerns"),
        "{e}"
    );
    assert_eq!(t.state(), TransactionState::None);
    let mut t = in_progress();
    t.commit().unwrap();
    t.start(unacknowledged()).unwrap_err();
    assert_eq!(t.state(), TransactionState::Committed, "unchanged");
    // w: 0 with j: true is acknowledged.
    let mut journaled = unacknowledged();
    journaled.write_concern.as_mut().unwrap().journal = Some(true);
    Transaction::default().start(journaled).unwrap();
}

#[test]
fn a_new_transaction_after_a_commit_or_an_abort_forgets_the_old_one() {
    let mut t = committed_pinned_with_recovery_token();
    assert!(
        t.pin().is_some(),
        "a commit keeps the pin (it may be retried)"
    );
    let options = reading(ReadConcern::snapshot());
    t.start(options.clone()).unwrap();
    assert_eq!(t.state(), TransactionState::Starting);
    assert!(t.pin().is_none() && t.recovery_token().is_none());
    assert_eq!(t.options(), &options);

    let mut t = in_progress();
    assert!(t.abort().unwrap());
    t.start(TransactionOptions::default()).unwrap();
    assert_eq!(t.state(), TransactionState::Starting);
}

#[test]
fn commit_and_abort_misuse_is_refused_without_a_state_change() {
    let committed = |mut t: Transaction| {
        t.commit().unwrap();
        t
    };
    let aborted = |mut t: Transaction| {
        t.abort().unwrap();
        t
    };
    type Step = fn(&mut Transaction) -> Result<()>;
    let commit: Step = |t| t.commit().map(drop);
    let abort: Step = |t| t.abort().map(drop);
    for (what, mut t, step, refusal, state) in [
        (
            "commit without a transaction",
            Transaction::default(),
            commit,
            "No transaction started",
            TransactionState::None,
        ),
        (
            "commit after abort",
            aborted(in_progress()),
            commit,
            "Cannot call commitTransaction after calling abortTransaction",
            TransactionState::Aborted,
        ),
        (
            "abort without a transaction",
            Transaction::default(),
            abort,
            "No transaction started",
            TransactionState::None,
        ),
        (
            "abort after commit",
            committed(in_progress()),
            abort,
            "Cannot call abortTransaction after calling commitTransaction",
            TransactionState::Committed,
        ),
        (
            "abort after an empty commit",
            committed(started()),
            abort,
            "Cannot call abortTransaction after calling commitTransaction",
            TransactionState::Committed,
        ),
        (
            "abort twice",
            aborted(in_progress()),
            abort,
            "Cannot call abortTransaction twice",
            TransactionState::Aborted,
        ),
    ] {
        let e = step(&mut t).unwrap_err();
        assert!(message(&e).contains(refusal), "{what}: {e}");
        assert_eq!(t.state(), state, "{what}");
    }
}

#[test]
fn commit_sends_once_then_again_with_majority_and_an_empty_one_sends_nothing() {
    let mut t = in_progress();
    assert_eq!(t.commit().unwrap(), Commit::Send);
    assert_eq!(t.state(), TransactionState::Committed);
    assert_eq!(t.commit().unwrap(), Commit::SendAgain);
    assert_eq!(t.commit().unwrap(), Commit::SendAgain);
    assert_eq!(t.state(), TransactionState::Committed);

    // Committed-empty: no command ran, none is sent, ever.
    let mut t = started();
    assert_eq!(t.commit().unwrap(), Commit::Nothing);
    assert_eq!(t.state(), TransactionState::Committed);
    assert_eq!(t.commit().unwrap(), Commit::Nothing);
}

#[test]
fn abort_sends_only_when_a_command_ran_and_an_empty_one_unpins_at_once() {
    let mut t = in_progress();
    t.set_pin(Pin::Mongos(address(1)));
    assert!(t.abort().unwrap(), "abortTransaction is sent");
    assert_eq!(t.state(), TransactionState::Aborted);
    assert!(
        t.pin().is_some(),
        "unpinned by the caller once the command ran"
    );

    let mut t = started();
    t.set_pin(Pin::Mongos(address(1)));
    assert!(!t.abort().unwrap(), "nothing to send");
    assert_eq!(t.state(), TransactionState::Aborted);
    assert!(t.pin().is_none());
}

#[test]
fn an_operation_after_commit_or_abort_runs_outside_the_transaction() {
    let mut t = committed_pinned_with_recovery_token();
    t.before_operation();
    assert_eq!(t.state(), TransactionState::None);
    assert!(t.pin().is_none() && t.recovery_token().is_none());
    assert_eq!(t.fields(1, false, None), None);
    let mut t = in_progress();
    t.abort().unwrap();
    t.before_operation();
    assert_eq!(t.state(), TransactionState::None);
    // Inside a transaction, an operation changes nothing.
    for mut t in [started(), in_progress()] {
        let before = t.state();
        t.set_pin(Pin::Mongos(address(1)));
        t.before_operation();
        assert_eq!(t.state(), before);
        assert!(t.pin().is_some());
    }
}

#[test]
fn the_first_command_starts_the_transaction_with_its_read_concern() {
    let mut t = started_with(reading(ReadConcern::majority()));
    let at = Timestamp {
        time: 42,
        increment: 1,
    };
    let mut cmd = doc! { "insert": "c" };
    t.fields(7, false, Some(at)).unwrap().stamp(&mut cmd);
    assert_eq!(
        cmd,
        doc! {
            "insert": "c",
            "txnNumber": 7_i64,
            "startTransaction": true,
            "autocommit": false,
            "readConcern": { "level": "majority", "afterClusterTime": at },
        }
    );
    // Later commands: txnNumber and autocommit only.
    t.first_command_sent();
    t.observe_recovery_token(doc! { "shard": 1 });
    let mut cmd = doc! { "find": "c" };
    t.fields(7, false, Some(at)).unwrap().stamp(&mut cmd);
    assert_eq!(
        cmd,
        doc! { "find": "c", "txnNumber": 7_i64, "autocommit": false }
    );
}

#[test]
fn without_read_concern_or_causal_time_the_first_command_has_no_read_concern() {
    let t = started();
    let mut cmd = doc! { "insert": "c" };
    t.fields(1, false, None).unwrap().stamp(&mut cmd);
    assert_eq!(
        cmd,
        doc! { "insert": "c", "txnNumber": 1_i64, "startTransaction": true, "autocommit": false }
    );
    // A run_command document's own readConcern is left alone.
    let t = started_with(reading(ReadConcern::snapshot()));
    let mut cmd = doc! { "find": "c", "readConcern": { "level": "local" } };
    t.fields(1, false, None).unwrap().stamp(&mut cmd);
    assert_eq!(
        cmd.get_document("readConcern").unwrap(),
        &doc! { "level": "local" }
    );
}

#[test]
fn commit_and_abort_carry_the_recovery_token_and_no_start() {
    let mut t = in_progress();
    t.observe_recovery_token(doc! { "recoveryShardId": "s0" });
    t.observe_recovery_token(doc! { "recoveryShardId": "s1" });
    t.commit().unwrap();
    let mut cmd = doc! { "commitTransaction": 1 };
    t.fields(3, true, None).unwrap().stamp(&mut cmd);
    assert_eq!(
        cmd,
        doc! {
            "commitTransaction": 1,
            "txnNumber": 3_i64,
            "autocommit": false,
            "recoveryToken": { "recoveryShardId": "s1" },
        }
    );
    // Not on other commands, nor outside a transaction.
    assert_eq!(t.fields(3, false, None), None);
    let mut cmd = doc! { "insert": "c" };
    let mut t = in_progress();
    t.observe_recovery_token(doc! { "recoveryShardId": "s0" });
    t.fields(3, false, None).unwrap().stamp(&mut cmd);
    assert!(!cmd.contains_key("recoveryToken"));
    assert_eq!(Transaction::default().fields(3, true, None), None);
}

#[test]
fn concerns_set_on_an_operation_in_a_transaction_are_refused() {
    let e = check_command(&doc! { "insert": "c", "writeConcern": { "w": 1 } }, false).unwrap_err();
    assert!(
        message(&e).contains("Cannot set write concern after starting a transaction"),
        "{e}"
    );
    let e = check_command(
        &doc! { "find": "c", "readConcern": { "level": "local" } },
        false,
    )
    .unwrap_err();
    assert!(
        message(&e).contains("Cannot set read concern after starting a transaction"),
        "{e}"
    );
    check_command(&doc! { "find": "c" }, false).unwrap();
    // A run_command document is the user's own.
    check_command(
        &doc! { "find": "c", "readConcern": { "level": "local" } },
        true,
    )
    .unwrap();
}

#[test]
fn reads_in_a_transaction_must_use_the_primary() {
    check_read_preference(ReadPreferenceMode::Primary).unwrap();
    for mode in [
        ReadPreferenceMode::PrimaryPreferred,
        ReadPreferenceMode::Secondary,
        ReadPreferenceMode::SecondaryPreferred,
        ReadPreferenceMode::Nearest,
    ] {
        let e = check_read_preference(mode).unwrap_err();
        assert!(
            message(&e).contains("read preference in a transaction must be primary"),
            "{e}"
        );
    }
}

#[test]
fn network_and_selection_errors_in_a_transaction_are_transient() {
    for mut e in [
        network(),
        Error::new(ErrorKind::ServerSelection {
            message: "none".into(),
        }),
    ] {
        label_error_in_transaction(&mut e);
        assert!(e.contains_label(TRANSIENT_TRANSACTION_ERROR), "{e}");
        assert!(!e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT));
        assert!(!e.contains_label(crate::client::retry::RETRYABLE_WRITE_ERROR));
    }
    for mut e in [command(11000), command(50), write_concern(64)] {
        label_error_in_transaction(&mut e);
        assert!(e.labels().is_empty(), "{e}");
    }
}

#[test]
fn commit_errors_of_unknown_outcome_are_labelled_so() {
    for (mut e, retryable) in [
        (network(), false),
        (
            Error::new(ErrorKind::ServerSelection {
                message: "none".into(),
            }),
            false,
        ),
        (command(91), true),
        (command(50), false),
        (write_concern(64), false),
        (write_concern(50), false),
        (write_concern(91), false),
        (
            Error::new(ErrorKind::OperationTimeout {
                message: "t".into(),
            }),
            false,
        ),
    ] {
        label_commit_error(&mut e, retryable);
        assert!(e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT), "{e}");
        assert!(!e.contains_label(TRANSIENT_TRANSACTION_ERROR), "{e}");
    }
    // An invalid write concern, a plain command error: committing again cannot help.
    for mut e in [
        write_concern(100),
        write_concern(79),
        command(11000),
        command(251),
    ] {
        label_commit_error(&mut e, false);
        assert!(!e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT), "{e}");
    }
}

#[test]
fn max_time_ms_expired_is_recognised_in_both_places() {
    assert!(is_max_time_ms_expired(&command(50)));
    assert!(is_max_time_ms_expired(&write_concern(50)));
    assert!(!is_max_time_ms_expired(&command(64)));
    assert!(!is_max_time_ms_expired(&network()));
}

#[test]
fn a_commit_sent_again_uses_majority_keeping_its_other_fields() {
    assert_eq!(commit_write_concern(None, false), None);
    assert_eq!(
        commit_write_concern(Some(&WriteConcern::default()), false),
        None
    );
    let w1 = WriteConcern {
        w: Some(Acknowledgment::Nodes(1)),
        ..WriteConcern::default()
    };
    assert_eq!(commit_write_concern(Some(&w1), false), Some(w1.clone()));
    assert_eq!(
        commit_write_concern(Some(&w1), true),
        Some(WriteConcern {
            w: Some(Acknowledgment::Majority),
            w_timeout: Some(Duration::from_secs(10)),
            journal: None,
        })
    );
    let full = WriteConcern {
        w: Some(Acknowledgment::Nodes(2)),
        w_timeout: Some(Duration::from_millis(5000)),
        journal: Some(true),
    };
    assert_eq!(
        commit_write_concern(Some(&full), true),
        Some(WriteConcern {
            w: Some(Acknowledgment::Majority),
            ..full
        })
    );
    assert_eq!(
        commit_write_concern(None, true).unwrap().w_timeout,
        Some(Duration::from_secs(10))
    );
}

#[test]
fn a_write_concern_error_in_an_ok_reply_is_an_error_with_the_reply_labels() {
    let raw = |d: Document| bson::RawDocumentBuf::from_document(&d).unwrap();
    assert!(write_concern_error(&raw(doc! { "ok": 1 })).is_none());
    let e = write_concern_error(&raw(doc! {
        "ok": 1,
        "writeConcernError": { "code": 91, "codeName": "ShutdownInProgress", "errmsg": "down" },
        "errorLabels": ["RetryableWriteError"],
    }))
    .unwrap();
    assert!(
        matches!(&*e.kind, ErrorKind::WriteConcern { code: 91, code_name, message }
            if code_name == "ShutdownInProgress" && message == "down"),
        "{e:?}"
    );
    assert!(e.contains_label("RetryableWriteError"));
    let e = write_concern_error(&raw(doc! { "ok": 1, "writeConcernError": 3 })).unwrap();
    assert!(matches!(&*e.kind, ErrorKind::InvalidResponse { .. }));
    assert_eq!(
        recovery_token(&raw(doc! { "ok": 1, "recoveryToken": { "s": 1 } })),
        Some(doc! { "s": 1 })
    );
    assert_eq!(recovery_token(&raw(doc! { "ok": 1 })), None);
}

#[test]
fn backoff_grows_by_half_up_to_half_a_second_and_scales_with_the_jitter() {
    assert_eq!(backoff(1, 0.0), Duration::ZERO);
    assert_eq!(backoff(1, 1.0), Duration::from_micros(7500));
    assert_eq!(backoff(2, 1.0), Duration::from_micros(11250));
    assert_eq!(backoff(2, 0.5), Duration::from_micros(5625));
    assert_eq!(backoff(20, 1.0), Duration::from_millis(500));
    assert_eq!(backoff(u32::MAX, 1.0), Duration::from_millis(500));
    // The specification's prose test: 13 retries add about 2.3 s.
    let total: Duration = (1..=13).map(|a| backoff(a, 1.0)).sum();
    assert!((2280..2290).contains(&total.as_millis()), "{total:?}");
}

#[test]
fn out_of_time_wraps_the_last_error_with_its_labels() {
    let mut last = command(251);
    last.add_label(TRANSIENT_TRANSACTION_ERROR);
    let e = out_of_time(Duration::from_secs(120), Some(last));
    assert!(message(&e).contains("120 seconds"), "{e}");
    assert!(e.contains_label(TRANSIENT_TRANSACTION_ERROR));
    let source = std::error::Error::source(&e).expect("the last error is the source");
    assert!(source.to_string().contains("251"), "{source}");
    assert!(std::error::Error::source(&out_of_time(Duration::from_secs(1), None)).is_none());
}

/// An error with `label`.
fn labelled(mut e: Error, label: &str) -> Error {
    e.add_label(label);
    e
}

/// The convenient API's time limit, and two times taken: well within it, and past it.
const LIMIT: Duration = Duration::from_secs(120);
const EARLY: Duration = Duration::from_secs(1);
const LATE: Duration = Duration::from_secs(121);

/// Asserts the loop's decision (`decide` with [`LIMIT`]) for each named error and elapsed time.
fn assert_decisions<D: PartialEq + std::fmt::Debug, const N: usize>(
    decide: fn(&Error, Duration, Duration) -> D,
    cases: [(&str, Error, Duration, D); N],
) {
    for (what, error, elapsed, expected) in cases {
        assert_eq!(decide(&error, elapsed, LIMIT), expected, "{what}");
    }
}

#[test]
fn the_convenient_loop_retries_transient_errors_until_the_limit() {
    use AfterError::*;
    let transient = || labelled(command(112), TRANSIENT_TRANSACTION_ERROR);
    assert_decisions(
        after_callback_error,
        [
            ("transient", transient(), EARLY, RetryTransaction),
            ("transient, late", transient(), LATE, OutOfTime),
            // A custom error, a duplicate key: returned as they are.
            ("custom", Error::invalid_argument("mine"), EARLY, Fail),
            ("duplicate key", command(11000), EARLY, Fail),
        ],
    );
}

#[test]
fn the_convenient_loop_recommits_unknown_results_but_not_max_time_expiry() {
    use AfterError::*;
    let unknown = |e| labelled(e, UNKNOWN_TRANSACTION_COMMIT_RESULT);
    assert_decisions(
        after_commit_error,
        [
            ("unknown", unknown(network()), EARLY, RetryCommit),
            ("unknown, late", unknown(network()), LATE, OutOfTime),
            ("max time expired", unknown(command(50)), EARLY, Fail),
            (
                "transient",
                labelled(command(251), TRANSIENT_TRANSACTION_ERROR),
                EARLY,
                RetryTransaction,
            ),
            ("duplicate key", command(11000), EARLY, Fail),
        ],
    );
}
