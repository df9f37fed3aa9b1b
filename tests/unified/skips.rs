//! The one skip list: tests this runner does not run, each with the reason, which is the test
//! server's (quoted from running the test against it), a deployment the suite cannot provide,
//! or (four tests) a defect of the test file itself. Never something the crate lacks: those
//! tests run and fail.

/// One entry: a file (path under `tests/spec/json`), a test of it (`None`: every test of the
/// file), and why.
pub struct Skip {
    pub file: &'static str,
    pub test: Option<&'static str>,
    pub reason: &'static str,
}

const fn skip(file: &'static str, test: Option<&'static str>, reason: &'static str) -> Skip {
    Skip { file, test, reason }
}

/// What SecantusDB answers to the `onPrimaryTransactionalWrite` fail point, and then to the
/// write it should fail (checked with `{configureFailPoint: "onPrimaryTransactionalWrite", mode:
/// "alwaysOn", data: {failBeforeCommitExceptionCode: 1}}` then an `insert` with `lsid` and
/// `txnNumber`).
const ON_PRIMARY_TRANSACTIONAL_WRITE: &str = "server: SecantusDB accepts the \
    onPrimaryTransactionalWrite fail point ({ok: 1.0}) but never triggers it: the write it should \
    fail commits and is acknowledged ({n: 1, ok: 1.0}), so the operation succeeds";

/// The suite's server authenticates every client with MONGODB-X509.
const X509_NOT_SASL: &str = "deployment: the test server authenticates clients with \
    MONGODB-X509, one `authenticate` command and no `saslContinue`, so a failCommand fail \
    point on saslContinue never fires (the operation succeeds)";

/// What SecantusDB answers to a snapshot read at a given time (checked with `insert {_id: 1,
/// x: 11}`, `find` (its `operationTime` T), `update` to `{x: 13}`, then `find` with `readConcern:
/// {level: "snapshot", atClusterTime: T}`).
const SNAPSHOT_AT_CLUSTER_TIME: &str = "server: SecantusDB accepts readConcern {level: \
    'snapshot', atClusterTime: T} ({ok: 1.0}) but reads the latest data, not the data at T: \
    after {x: 11} was updated to {x: 13}, the find at T answers [{_id: 1, x: 13}] with \
    cursor.atClusterTime later than T";

/// What SecantusDB answers to a retried write (checked with `failCommand` `{times: 2}` giving
/// `insert` a writeConcernError labelled RetryableWriteError, then the same `insert` sent twice
/// with one `lsid` and `txnNumber`).
const RETRY_FROM_STORED_RESULT: &str = "server: SecantusDB answers a retried write (same lsid \
    and txnNumber) from its stored result without passing it through failCommand again: the \
    first insert gets {n: 1, ok: 1.0, writeConcernError: {code: 91}, errorLabels: \
    ['RetryableWriteError']}, the retry {n: 1, ok: 1.0}, and the fail point's second time is \
    never used, so the operation succeeds";

/// What SecantusDB answers to a `bulkWrite` command sent again with the same `lsid` and
/// `txnNumber` (checked with one insert of `{_id: 1}`, sent twice).
const BULK_WRITE_NOT_RETRYABLE: &str = "server: SecantusDB runs a bulkWrite command re-sent \
    with the same lsid and txnNumber again instead of answering it as a retryable write: the \
    first answers nInserted: 1, the retry nInserted: 0, nErrors: 1 with E11000 duplicate key \
    error on _id: 1";

/// What SecantusDB (which reports version 8.2.11) answers to `rawData: true` on the commands
/// that take it since MongoDB 8.2, where it refuses it (checked by running each test).
const RAW_DATA_BULK_WRITE: &str = "server: SecantusDB 8.2.11 refuses rawData on the bulkWrite \
    command: {ok: 0, code: 40415, codeName: 'IDLUnknownField', errmsg: \"BSON field \
    'bulkWrite.rawData' is an unknown field.\"}";
const RAW_DATA_DISTINCT: &str = "server: SecantusDB 8.2.11 refuses rawData on distinct: {ok: \
    0, code: 40415, codeName: 'IDLUnknownField', errmsg: \"BSON field \
    'distinctCommandRequest.rawData' is an unknown field.\"}";
const RAW_DATA_FIND_AND_MODIFY: &str = "server: SecantusDB 8.2.11 refuses rawData on \
    findAndModify: {ok: 0, code: 40415, codeName: 'IDLUnknownField', errmsg: \"BSON field \
    'findAndModify.rawData' is an unknown field.\"}";

/// What SecantusDB answers to a mapReduce whose map function is not the counting
/// `emit(this.<field>, 1)` (it has no JavaScript engine).
const MAP_REDUCE_NO_JAVASCRIPT: &str = "server: SecantusDB evaluates no JavaScript: mapReduce \
    with map `function inc() { return emit(0, this.x + 1) }` and `out: {inline: 1}` over three \
    documents answers {results: [], ok: 1.0}, where the test expects [{_id: 0, value: 6}]";

/// What SecantusDB does with a command that failCommand's `blockConnection` held past its
/// `maxTimeMS` (checked with `{failCommands: ['delete'], blockConnection: true, blockTimeMS:
/// 100}` and a `delete` with `maxTimeMS: 20`, once awaited and once from a client that gave up
/// after 30 ms): it runs it all the same. The previous test of the file timed out on such a
/// command, which then lands in this test's fresh data.
const LATE_BLOCKED_COMMAND: &str = "server: SecantusDB runs a command held by blockConnection \
    after the block even once its maxTimeMS has run out, and after its client gave up: a delete \
    with maxTimeMS: 20 blocked 100 ms answers {n: 1, ok: 1.0} (no MaxTimeMSExpired), and one \
    whose client closed the connection after 30 ms deletes the document all the same; so the \
    previous test's timed-out command (GridFS's chunks delete or files insert, an insert of \
    _id: 1, a dropIndexes of x_1) is applied after this test set its data up";

/// Three "- failure" tests of runCursorCommand.json block one `getMore` for 60 ms under a
/// `timeoutMS` of 100 ms that the CSOT specification refreshes for each `getMore` in iteration
/// mode, and expect a timeout: a conforming driver cannot time out there (the specification's
/// open DRIVERS-2965; other drivers' runners skip them too). Not the server's reason, nor the
/// crate's: the file's.
const REFRESHED_TIMEOUT_DEFECT: &str = "test file: the getMore is blocked 60 ms under a \
    timeoutMS of 100 ms refreshed for each getMore (timeoutMode iteration, or a tailable \
    cursor), so no timeout can occur; the test expects one (specifications DRIVERS-2965)";

/// The suite's replica set has one member, `secantus`, seeded as `localhost:<port>` and naming
/// itself `127.0.0.1:<port>`: a client sees three topology changes (the seed; the seed replaced
/// by the member it names; that member the primary) and two heartbeats before the first
/// streamed one, which comes a heartbeatFrequencyMS (10 s) later.
const ONE_MEMBER_TOPOLOGY_CHANGES: &str = "deployment: a one-member replica set: the test waits \
    for 4 topologyDescriptionChangedEvents (the seeds, then one per member of a three-member \
    set); this set gives 3 (seed localhost:<port>, replaced by the 127.0.0.1:<port> it names, \
    then that member primary) and no fourth within the 10 s of waitForEvent";
const ONE_MEMBER_HEARTBEATS: &str = "deployment: a one-member replica set: the test waits for 3 \
    serverHeartbeatSucceededEvents (one per member of a three-member set); this set gives 2 at \
    once (the seed localhost:<port> and the 127.0.0.1:<port> it names), and the next is the \
    streamed reply a heartbeatFrequencyMS (10 s) later, at the end of waitForEvent's 10 s";

/// rediscover-quickly-after-step-down.json needs a secondary to take over.
const NO_SECONDARY: &str = "deployment: a one-member replica set has no secondary: the test \
    sends replSetFreeze with readPreference secondary, whose server selection waits out \
    serverSelectionTimeoutMS (30 s, past the test's time limit), and then steps the only \
    member down, leaving no member to become the new primary that waitForPrimaryChange waits for";

/// What SecantusDB answers to the `$where` filter interruptInUse-pool-clear.json keeps a
/// connection busy with (it has no JavaScript engine).
const WHERE_NO_JAVASCRIPT: &str = "server: SecantusDB evaluates no JavaScript: find with \
    filter {$where: 'sleep(2000) || true'} fails at once with {ok: 0, code: 6108304, codeName: \
    'Location6108304', errmsg: 'no globalScriptEngine in $where parsing'} (an update with it the \
    same, as a write error), so no connection is in use when the monitor's check times out and \
    the pool clear has nothing to interrupt";

/// logging-replicaset.json "Failing heartbeat" configures its hello fail point after creating
/// the client and relies on the client's monitor not having sent its handshake yet.
const FAIL_POINT_AFTER_MONITOR_HANDSHAKE: &str = "test file: the fail point on hello is \
    configured after the client is created, with nothing ordering the two: here the setup \
    client opens its first connection for configureFailPoint (about 14 ms) while the new \
    client's monitor completes both handshakes (seed and member) before the fail point exists; \
    the next hello is the streamed heartbeat a heartbeatFrequencyMS (10 s) later, when \
    waitForEvent's 10 s are over";

pub const SKIPS: &[Skip] = &[
    skip(
        "client-side-operations-timeout/runCursorCommand.json",
        Some("Non-tailable cursor iteration timeoutMS is refreshed for getMore if timeoutMode is iteration - failure"),
        REFRESHED_TIMEOUT_DEFECT,
    ),
    skip(
        "client-side-operations-timeout/runCursorCommand.json",
        Some("Tailable cursor iteration timeoutMS is refreshed for getMore - failure"),
        REFRESHED_TIMEOUT_DEFECT,
    ),
    skip(
        "client-side-operations-timeout/runCursorCommand.json",
        Some("Tailable cursor awaitData iteration timeoutMS is refreshed for getMore - failure"),
        REFRESHED_TIMEOUT_DEFECT,
    ),
    skip(
        "client-side-operations-timeout/gridfs-download.json",
        Some("timeoutMS can be overridden for download"),
        LATE_BLOCKED_COMMAND,
    ),
    skip(
        "client-side-operations-timeout/global-timeoutMS.json",
        Some("timeoutMS can be set to 0 on a MongoClient - bulkWrite on collection"),
        LATE_BLOCKED_COMMAND,
    ),
    skip(
        "client-side-operations-timeout/global-timeoutMS.json",
        Some("timeoutMS can be set to 0 on a MongoClient - dropIndex on collection"),
        LATE_BLOCKED_COMMAND,
    ),
    skip(
        "client-side-operations-timeout/gridfs-upload.json",
        Some("timeoutMS applied to upload as a whole, not individual parts"),
        LATE_BLOCKED_COMMAND,
    ),
    skip(
        "retryable-reads/unified/mapReduce.json",
        Some("MapReduce succeeds with retry on"),
        MAP_REDUCE_NO_JAVASCRIPT,
    ),
    skip(
        "crud/unified/client-bulkWrite-delete-rawdata.json",
        Some("client bulk write delete with rawData option"),
        RAW_DATA_BULK_WRITE,
    ),
    skip(
        "crud/unified/client-bulkWrite-replaceOne-rawdata.json",
        Some("client bulkWrite replaceOne with rawData option"),
        RAW_DATA_BULK_WRITE,
    ),
    skip(
        "crud/unified/client-bulkWrite-update-rawdata.json",
        Some("client bulk write update with rawData option"),
        RAW_DATA_BULK_WRITE,
    ),
    skip(
        "crud/unified/distinct-rawdata.json",
        Some("distinct with rawData option"),
        RAW_DATA_DISTINCT,
    ),
    skip(
        "crud/unified/findOneAndDelete-rawdata.json",
        Some("findOneAndDelete with rawData option"),
        RAW_DATA_FIND_AND_MODIFY,
    ),
    skip(
        "crud/unified/findOneAndReplace-rawdata.json",
        Some("findOneAndReplace with rawData option"),
        RAW_DATA_FIND_AND_MODIFY,
    ),
    skip(
        "crud/unified/findOneAndUpdate-rawdata.json",
        Some("findOneAndUpdate with rawData option"),
        RAW_DATA_FIND_AND_MODIFY,
    ),
    skip(
        "retryable-writes/unified/insertOne-errorLabels.json",
        Some("InsertOne fails after multiple retryable writeConcernErrors"),
        RETRY_FROM_STORED_RESULT,
    ),
    skip(
        "unified-test-format/valid-pass/poc-retryable-writes.json",
        Some("InsertOne fails after multiple retryable writeConcernErrors"),
        RETRY_FROM_STORED_RESULT,
    ),
    skip(
        "retryable-writes/unified/client-bulkWrite-serverErrors.json",
        Some("client bulkWrite with no multi: true operations succeeds after retryable writeConcernError"),
        BULK_WRITE_NOT_RETRYABLE,
    ),
    skip(
        "retryable-writes/unified/bulkWrite.json",
        Some("First insertOne is never committed"),
        ON_PRIMARY_TRANSACTIONAL_WRITE,
    ),
    skip(
        "retryable-writes/unified/bulkWrite.json",
        Some("First command is retried"),
        ON_PRIMARY_TRANSACTIONAL_WRITE,
    ),
    skip(
        "retryable-writes/unified/bulkWrite.json",
        Some("Second updateOne is never committed"),
        ON_PRIMARY_TRANSACTIONAL_WRITE,
    ),
    skip(
        "retryable-writes/unified/bulkWrite.json",
        Some("Third updateOne is never committed"),
        ON_PRIMARY_TRANSACTIONAL_WRITE,
    ),
    skip(
        "sessions/snapshot-sessions.json",
        Some("Find operation with snapshot"),
        SNAPSHOT_AT_CLUSTER_TIME,
    ),
    skip(
        "sessions/snapshot-sessions.json",
        Some("Distinct operation with snapshot"),
        SNAPSHOT_AT_CLUSTER_TIME,
    ),
    skip(
        "sessions/snapshot-sessions.json",
        Some("Aggregate operation with snapshot"),
        SNAPSHOT_AT_CLUSTER_TIME,
    ),
    skip(
        "sessions/snapshot-sessions.json",
        Some("Mixed operation with snapshot"),
        SNAPSHOT_AT_CLUSTER_TIME,
    ),
    skip(
        "sessions/snapshot-sessions.json",
        Some("Write commands with snapshot session do not affect snapshot reads"),
        SNAPSHOT_AT_CLUSTER_TIME,
    ),
    skip(
        "sessions/snapshot-sessions.json",
        Some("Find operation with snapshot and snapshot time"),
        SNAPSHOT_AT_CLUSTER_TIME,
    ),
    skip(
        "sessions/snapshot-sessions.json",
        Some("Distinct operation with snapshot and snapshot time"),
        SNAPSHOT_AT_CLUSTER_TIME,
    ),
    skip(
        "sessions/snapshot-sessions.json",
        Some("Aggregate operation with snapshot and snapshot time"),
        SNAPSHOT_AT_CLUSTER_TIME,
    ),
    skip(
        "sessions/snapshot-sessions.json",
        Some("countDocuments operation with snapshot and snapshot time"),
        SNAPSHOT_AT_CLUSTER_TIME,
    ),
    skip(
        "sessions/snapshot-sessions.json",
        Some("Mixed operation with snapshot and snapshotTime"),
        SNAPSHOT_AT_CLUSTER_TIME,
    ),
    skip(
        "retryable-writes/unified/deleteOne.json",
        Some("DeleteOne is never committed"),
        ON_PRIMARY_TRANSACTIONAL_WRITE,
    ),
    skip(
        "retryable-writes/unified/findOneAndDelete.json",
        Some("FindOneAndDelete is never committed"),
        ON_PRIMARY_TRANSACTIONAL_WRITE,
    ),
    skip(
        "retryable-writes/unified/findOneAndReplace.json",
        Some("FindOneAndReplace is never committed"),
        ON_PRIMARY_TRANSACTIONAL_WRITE,
    ),
    skip(
        "retryable-writes/unified/findOneAndUpdate.json",
        Some("FindOneAndUpdate is never committed"),
        ON_PRIMARY_TRANSACTIONAL_WRITE,
    ),
    skip(
        "retryable-writes/unified/insertMany.json",
        Some("InsertMany fails after multiple network errors"),
        ON_PRIMARY_TRANSACTIONAL_WRITE,
    ),
    skip(
        "retryable-writes/unified/insertOne.json",
        Some("InsertOne is never committed"),
        ON_PRIMARY_TRANSACTIONAL_WRITE,
    ),
    skip(
        "retryable-writes/unified/replaceOne.json",
        Some("ReplaceOne is never committed"),
        ON_PRIMARY_TRANSACTIONAL_WRITE,
    ),
    skip(
        "retryable-writes/unified/updateOne.json",
        Some("UpdateOne is never committed"),
        ON_PRIMARY_TRANSACTIONAL_WRITE,
    ),
    skip(
        "retryable-writes/unified/updateOne.json",
        Some("UpdateOne with upsert is never committed"),
        ON_PRIMARY_TRANSACTIONAL_WRITE,
    ),
    skip(
        "unified-test-format/valid-pass/poc-retryable-writes.json",
        Some("FindOneAndUpdate is never committed"),
        ON_PRIMARY_TRANSACTIONAL_WRITE,
    ),
    skip(
        "load-balancers/sdam-error-handling.json",
        Some("errors during authentication are processed"),
        X509_NOT_SASL,
    ),
    // The retry's commandStartedEvent never comes: the first attempt is not failed.
    skip(
        "retryable-writes/unified/bulkWrite.json",
        Some("BulkWrite with unordered execution"),
        ON_PRIMARY_TRANSACTIONAL_WRITE,
    ),
    skip(
        "retryable-writes/unified/deleteOne.json",
        Some("DeleteOne is committed on first attempt"),
        ON_PRIMARY_TRANSACTIONAL_WRITE,
    ),
    skip(
        "retryable-writes/unified/findOneAndDelete.json",
        Some("FindOneAndDelete is committed on first attempt"),
        ON_PRIMARY_TRANSACTIONAL_WRITE,
    ),
    skip(
        "retryable-writes/unified/findOneAndReplace.json",
        Some("FindOneAndReplace is committed on first attempt"),
        ON_PRIMARY_TRANSACTIONAL_WRITE,
    ),
    skip(
        "retryable-writes/unified/findOneAndUpdate.json",
        Some("FindOneAndUpdate is committed on first attempt"),
        ON_PRIMARY_TRANSACTIONAL_WRITE,
    ),
    skip(
        "retryable-writes/unified/insertMany.json",
        Some("InsertMany succeeds after one network error"),
        ON_PRIMARY_TRANSACTIONAL_WRITE,
    ),
    skip(
        "retryable-writes/unified/insertMany.json",
        Some("InsertMany with unordered execution"),
        ON_PRIMARY_TRANSACTIONAL_WRITE,
    ),
    skip(
        "retryable-writes/unified/insertOne.json",
        Some("InsertOne is committed on first attempt"),
        ON_PRIMARY_TRANSACTIONAL_WRITE,
    ),
    skip(
        "retryable-writes/unified/replaceOne.json",
        Some("ReplaceOne is committed on first attempt"),
        ON_PRIMARY_TRANSACTIONAL_WRITE,
    ),
    skip(
        "retryable-writes/unified/updateOne.json",
        Some("UpdateOne is committed on first attempt"),
        ON_PRIMARY_TRANSACTIONAL_WRITE,
    ),
    // Every test fails a connection's handshake through saslContinue, then counts the
    // check-outs and commands of the retry.
    skip(
        "retryable-reads/unified/handshakeError.json",
        None,
        X509_NOT_SASL,
    ),
    skip(
        "retryable-writes/unified/handshakeError.json",
        None,
        X509_NOT_SASL,
    ),
    skip(
        "server-discovery-and-monitoring/unified/auth-error.json",
        None,
        X509_NOT_SASL,
    ),
    skip(
        "server-discovery-and-monitoring/unified/auth-misc-command-error.json",
        None,
        X509_NOT_SASL,
    ),
    skip(
        "server-discovery-and-monitoring/unified/auth-network-error.json",
        None,
        X509_NOT_SASL,
    ),
    skip(
        "server-discovery-and-monitoring/unified/auth-network-timeout-error.json",
        None,
        X509_NOT_SASL,
    ),
    skip(
        "server-discovery-and-monitoring/unified/auth-shutdown-error.json",
        None,
        X509_NOT_SASL,
    ),
    skip(
        "server-discovery-and-monitoring/unified/pool-clear-checkout-error.json",
        Some("Pool is cleared before connection is closed (authentication error)"),
        X509_NOT_SASL,
    ),
    skip(
        "server-discovery-and-monitoring/unified/logging-replicaset.json",
        Some("Topology lifecycle"),
        ONE_MEMBER_TOPOLOGY_CHANGES,
    ),
    skip(
        "server-discovery-and-monitoring/unified/replicaset-emit-topology-changed-before-close.json",
        Some("Topology lifecycle"),
        ONE_MEMBER_TOPOLOGY_CHANGES,
    ),
    skip(
        "server-discovery-and-monitoring/unified/logging-replicaset.json",
        Some("Successful heartbeat"),
        ONE_MEMBER_HEARTBEATS,
    ),
    skip(
        "server-discovery-and-monitoring/unified/logging-replicaset.json",
        Some("Failing heartbeat"),
        FAIL_POINT_AFTER_MONITOR_HANDSHAKE,
    ),
    skip(
        "server-discovery-and-monitoring/unified/rediscover-quickly-after-step-down.json",
        None,
        NO_SECONDARY,
    ),
    skip(
        "server-discovery-and-monitoring/unified/interruptInUse-pool-clear.json",
        None,
        WHERE_NO_JAVASCRIPT,
    ),
];

/// The reason `file: test` is skipped, if it is.
pub fn reason(file: &str, test: &str) -> Option<&'static str> {
    SKIPS
        .iter()
        .find(|s| s.file == file && s.test.is_none_or(|t| t == test))
        .map(|s| s.reason)
}

/// Entries of the suite's directories that matched no test that was looked at.
pub fn unused(dirs: &[&str], seen: &[(&str, &str)]) -> Vec<String> {
    SKIPS
        .iter()
        .filter(|s| dirs.iter().any(|d| s.file.starts_with(&format!("{d}/"))))
        .filter(|s| {
            !seen
                .iter()
                .any(|(f, t)| *f == s.file && s.test.is_none_or(|x| x == *t))
        })
        .map(|s| format!("{}: {}", s.file, s.test.unwrap_or("(every test)")))
        .collect()
}
