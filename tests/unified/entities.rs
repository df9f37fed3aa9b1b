//! The entity map's values and their creation from `createEntities`.

use std::sync::Arc;

use std::time::Duration;

use bson::{Bson, Document};
use mongo_x509::change_stream::{ChangeStream, SessionChangeStream};
use mongo_x509::options::{
    CollectionOptions, DatabaseOptions, ReadConcern, ReadPreference, ServerApi, ServerApiVersion,
    WriteConcern,
};
use mongo_x509::{Client, ClientSession, Collection, Cursor, Database, SessionCursor};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::events::{Observe, Recorder};
use super::monitor;
use super::ops::Args;
use super::runner::TestCtx;

/// One entity. Cloning shares the underlying object.
#[derive(Clone)]
pub enum Entity {
    Client(ClientEntity),
    Database(Database),
    Collection(Collection<Document>),
    Session(SessionEntity),
    Bson(Bson),
    Cursor(Arc<Mutex<CursorEntity>>),
    Thread(super::threads::ThreadEntity),
    TopologyDescription(mongo_x509::TopologyDescription),
    Bucket(mongo_x509::gridfs::GridFsBucket),
}

impl Entity {
    pub fn kind(&self) -> &'static str {
        match self {
            Entity::Client(_) => "client",
            Entity::Database(_) => "database",
            Entity::Collection(_) => "collection",
            Entity::Session(_) => "session",
            Entity::Bson(_) => "BSON value",
            Entity::Cursor(_) => "cursor",
            Entity::Thread(_) => "thread",
            Entity::TopologyDescription(_) => "topology description",
            Entity::Bucket(_) => "bucket",
        }
    }
}

/// A client entity: the client and what it observed.
#[derive(Clone)]
pub struct ClientEntity {
    pub client: Client,
    pub recorder: Arc<Recorder>,
}

/// A session entity. `None` inside once the session is ended.
#[derive(Clone)]
pub struct SessionEntity {
    pub session: Arc<Mutex<Option<ClientSession>>>,
    pub lsid: Document,
    pub client: String,
}

impl SessionEntity {
    pub async fn lock(&self) -> OwnedMutexGuard<Option<ClientSession>> {
        self.session.clone().lock_owned().await
    }
}

/// A cursor entity (`createFindCursor`, `createCommandCursor`), or a change stream
/// (`createChangeStream`), whose events are read as documents.
pub enum CursorEntity {
    Plain(Cursor<Document>),
    InSession(SessionCursor<Document>, SessionEntity),
    Stream(ChangeStream<Document>),
    SessionStream(SessionChangeStream<Document>, SessionEntity),
    Closed,
}

/// Creates the entities of one `createEntities` list, in order.
pub async fn create_all(list: &[Document], ctx: &TestCtx) -> Result<(), String> {
    for e in list {
        let (kind, spec) = single(e)?;
        let spec = spec
            .as_document()
            .ok_or_else(|| format!("entity {kind} must be a document"))?
            .clone();
        let id = spec
            .get_str("id")
            .map_err(|_| format!("entity {kind} without an id"))?
            .to_owned();
        let entity = create(kind, spec, ctx).await?;
        ctx.insert(&id, entity)?;
    }
    Ok(())
}

fn single(d: &Document) -> Result<(&str, &Bson), String> {
    let mut it = d.iter();
    match (it.next(), it.next()) {
        (Some((k, v)), None) => Ok((k.as_str(), v)),
        _ => Err(format!("an entity has exactly one key: {d}")),
    }
}

async fn create(kind: &str, spec: Document, ctx: &TestCtx) -> Result<Entity, String> {
    let mut a = Args::from_doc(&format!("{kind} entity"), spec);
    a.take("id");
    let entity = match kind {
        "client" => Entity::Client(create_client(&mut a, ctx).await?),
        "database" => {
            let client = ctx.client(&a.req_str("client")?)?;
            let name = a.req_str("databaseName")?;
            match a.doc("databaseOptions")? {
                None => Entity::Database(client.client.database(&name)),
                Some(o) => {
                    let (selection_criteria, read_concern, write_concern, timeout) =
                        handle_options(o)?;
                    let mut options = DatabaseOptions::default();
                    options.selection_criteria = selection_criteria;
                    options.read_concern = read_concern;
                    options.write_concern = write_concern;
                    options.timeout = timeout;
                    Entity::Database(client.client.database_with_options(&name, options))
                }
            }
        }
        "collection" => {
            let db = ctx.database(&a.req_str("database")?)?;
            let name = a.req_str("collectionName")?;
            match a.doc("collectionOptions")? {
                None => Entity::Collection(db.collection::<Document>(&name)),
                Some(o) => {
                    let (selection_criteria, read_concern, write_concern, timeout) =
                        handle_options(o)?;
                    let mut options = CollectionOptions::default();
                    options.selection_criteria = selection_criteria;
                    options.read_concern = read_concern;
                    options.write_concern = write_concern;
                    options.timeout = timeout;
                    Entity::Collection(db.collection_with_options::<Document>(&name, options))
                }
            }
        }
        "session" => {
            let client_id = a.req_str("client")?;
            let client = ctx.client(&client_id)?;
            let options = match a.doc("sessionOptions")? {
                Some(o) => super::ops::session::session_options(o, ctx)?,
                None => mongo_x509::SessionOptions::default(),
            };
            let session = client
                .client
                .start_session()
                .with_options(options)
                .await
                .map_err(|e| format!("starting session: {e}"))?;
            Entity::Session(SessionEntity {
                lsid: session.id().clone(),
                session: Arc::new(Mutex::new(Some(session))),
                client: client_id,
            })
        }
        "thread" => Entity::Thread(super::threads::ThreadEntity::start(ctx)),
        "bucket" => {
            let db = ctx.database(&a.req_str("database")?)?;
            let options = a
                .doc("bucketOptions")?
                .map(super::ops::bucket::bucket_options)
                .transpose()?;
            Entity::Bucket(db.gridfs_bucket(options))
        }
        "clientEncryption" => {
            return Err(
                "clientEncryption entities: client-side encryption is not in the crate".into(),
            )
        }
        other => return Err(format!("unknown entity type {other}")),
    };
    a.finish()?;
    Ok(entity)
}

async fn create_client(a: &mut Args, ctx: &TestCtx) -> Result<ClientEntity, String> {
    let uri_options = a.doc("uriOptions")?.unwrap_or_default();
    // Load-balanced: true or unset, the load balancer fronting two mongoses; on the replica set
    // (one server, no mongos) it changes nothing.
    let multiple_mongoses = a.bool("useMultipleMongoses")?.unwrap_or(true);
    let mut observe = Observe::default();
    for e in a
        .take("observeEvents")
        .map(strings)
        .transpose()?
        .unwrap_or_default()
    {
        observe.events.insert(e);
    }
    for c in a
        .take("ignoreCommandMonitoringEvents")
        .map(strings)
        .transpose()?
        .unwrap_or_default()
    {
        observe.ignore_commands.insert(c);
    }
    observe.sensitive = a.bool("observeSensitiveCommands")?.unwrap_or(false);
    if let Some(v) = a.take("storeEventsAsEntities") {
        return Err(format!(
            "storeEventsAsEntities {v}: removed from the format in schema 1.24"
        ));
    }
    let log = a.doc("observeLogMessages")?;
    let server_api = a.doc("serverApi")?.map(server_api).transpose()?;
    let await_min_pool = a.millis("awaitMinPoolSizeMS")?;
    if a.has("autoEncryptOpts") {
        return Err("autoEncryptOpts: client-side encryption is not in the crate".into());
    }
    if a.has("observeTracingMessages") {
        return Err("observeTracingMessages: tracing spans are not in the crate".into());
    }

    let uri = ctx.env.uri_with(&uri_options, multiple_mongoses)?;
    let mut options = mongo_x509::options::ClientOptions::parse(&uri)
        .await
        .map_err(|e| format!("client uriOptions {uri_options}: {e}"))?;
    if server_api.is_some() {
        options.server_api = server_api;
    }
    let recorder = Arc::new(Recorder::new(observe));
    monitor::attach(&mut options, &recorder, log)?;
    let min_pool = options.min_pool_size.unwrap_or(0);
    let client = Client::with_options(options).map_err(|e| format!("creating the client: {e}"))?;
    if let Some(wait) = await_min_pool.filter(|_| min_pool > 0) {
        monitor::await_min_pool(&client, &recorder, wait, min_pool).await?;
    }
    Ok(ClientEntity { client, recorder })
}

/// `collectionOrDatabaseOptions`.
#[allow(clippy::type_complexity)]
fn handle_options(
    o: Document,
) -> Result<
    (
        Option<ReadPreference>,
        Option<ReadConcern>,
        Option<WriteConcern>,
        Option<Duration>,
    ),
    String,
> {
    let mut a = Args::from_doc("collectionOrDatabaseOptions", o);
    let r = (
        a.read_preference()?,
        a.read_concern()?,
        a.write_concern()?,
        a.millis("timeoutMS")?,
    );
    a.finish()?;
    Ok(r)
}

/// A `serverApi` object.
fn server_api(d: Document) -> Result<ServerApi, String> {
    let mut a = Args::from_doc("serverApi", d);
    let version = match a.req_str("version")?.as_str() {
        "1" => ServerApiVersion::V1,
        other => return Err(format!("serverApi: version {other:?} is not supported")),
    };
    let mut api = ServerApi::builder().version(version).build();
    api.strict = a.bool("strict")?;
    api.deprecation_errors = a.bool("deprecationErrors")?;
    a.finish()?;
    Ok(api)
}

fn strings(v: Bson) -> Result<Vec<String>, String> {
    match v {
        Bson::Array(a) => a
            .into_iter()
            .map(|s| match s {
                Bson::String(s) => Ok(s),
                other => Err(format!("expected strings, got {other}")),
            })
            .collect(),
        other => Err(format!("expected an array of strings, got {other}")),
    }
}
